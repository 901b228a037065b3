"""The worker on real files: typing, cleaning, filtering, ordering, errors, output layout."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from agilab_app_flight.reader import FlightFileError
from agilab_app_flight.worker import input_file
from hypothesis import given, settings
from hypothesis import strategies as st

from agilab_core import WorkItem

HEADER = ",date,aircraft,long,lat,alt"


def read_dataset(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "**" / "*.parquet", hive_partitioning=True)


def the_error(result) -> str:
    assert not result.ok, "the item should have failed"
    return result.error.message


def test_aircraft_ids_stay_text_across_files(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    data = tmp_path / "data"
    paths = [
        flight_csv(data / "60_1.csv", straight_flight("60")),
        flight_csv(data / "007_1.csv", straight_flight("007")),
        flight_csv(data / "3c4b26_1.csv", straight_flight("3c4b26")),
    ]
    results = run_items(paths, out=tmp_path / "out")
    assert all(r.ok for r in results), [r.error for r in results]
    dataset = read_dataset(tmp_path / "out")
    assert dataset.schema["aircraft"] == pl.String
    assert set(dataset["aircraft"]) == {"60", "007", "3c4b26"}
    hive = pl.scan_parquet(tmp_path / "out", hive_partitioning=True).collect()
    assert set(hive["aircraft"]) == {"60", "007", "3c4b26"}


def test_output_layout_is_hive_partitioned_and_readable(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = flight_csv(tmp_path / "data" / "60_2.csv", straight_flight("60"))
    [result] = run_items([path], out=tmp_path / "out")
    assert result.ok
    assert [o.path for o in result.outputs] == ["aircraft=60/60_2.csv.parquet"]
    assert result.rows == 5 and result.bytes_in == path.stat().st_size
    part = pl.read_parquet(tmp_path / "out" / "aircraft=60" / "60_2.csv.parquet")
    assert part.columns == ["date", "aircraft", "long", "lat", "alt", "distance_m", "dt_s", "speed_mps"]
    assert part.schema["date"] == pl.Datetime("us")
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".tmp")]


def test_index_dropped_extras_kept_empty_cells_null_coordinates_float(
    tmp_path: Path, run_items, flight_csv, straight_flight
) -> None:
    path = flight_csv(
        tmp_path / "data" / "60_1.csv",
        [
            "0,2021-01-01 00:00:00,60,1,2,100,a,7",
            "1,2021-01-01 00:00:01,60,1,2,,,8",
            "2,2021-01-01 00:00:02,60,1,3,300,c,",
        ],
        header=HEADER + ",squawk,leg",
    )
    [result] = run_items([path], out=tmp_path / "out")
    assert result.ok, result.error
    part = pl.read_parquet(tmp_path / "out" / "aircraft=60" / "60_1.csv.parquet")
    assert "" not in part.columns
    assert {c: part.schema[c] for c in ("long", "lat", "alt")} == {c: pl.Float64 for c in ("long", "lat", "alt")}
    assert part["squawk"].to_list() == ["a", None, "c"]
    assert part["leg"].to_list() == [7, 8, None]
    assert part["alt"].to_list() == [100.0, None, 300.0]


def test_missing_alt_is_added_as_null_float(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = flight_csv(tmp_path / "data" / "a_1.csv", ["0,2021-01-01 00:00:00,a,1,2"], header=",date,aircraft,long,lat")
    [result] = run_items([path], out=tmp_path / "out")
    part = pl.read_parquet(tmp_path / "out" / "aircraft=a" / "a_1.csv.parquet")
    assert part.schema["alt"] == pl.Float64 and part["alt"].to_list() == [None]


@pytest.mark.parametrize(
    ("window", "kept"),
    [
        ({"datemin": "2021-01-02"}, ["2021-01-02 00:00:00", "2021-01-02 12:00:00"]),
        ({"datemax": "2021-01-01"}, ["2021-01-01 00:00:00", "2021-01-01 23:59:59"]),
        ({"datemax": "2021-01-01 12:00:00"}, ["2021-01-01 00:00:00"]),
        ({"datemin": "2021-01-01 23:59:59", "datemax": "2021-01-02 00:00:00"}, ["2021-01-01 23:59:59", "2021-01-02 00:00:00"]),
    ],
)
def test_date_window_filters_rows(tmp_path: Path, run_items, flight_csv, straight_flight, window: dict, kept: list[str]) -> None:
    dates = ["2021-01-01 00:00:00", "2021-01-01 23:59:59", "2021-01-02 00:00:00", "2021-01-02 12:00:00"]
    path = flight_csv(tmp_path / "data" / "60_1.csv", [f"{i},{d},60,1.0,2.0,10" for i, d in enumerate(dates)])
    [result] = run_items([path], out=tmp_path / "out", **window)
    assert result.ok and result.rows == len(kept)
    part = pl.read_parquet(tmp_path / "out" / "aircraft=60" / "60_1.csv.parquet")
    assert part["date"].dt.strftime("%Y-%m-%d %H:%M:%S").to_list() == kept
    assert part["distance_m"][0] == 0.0 and part["dt_s"][0] == 0.0


def test_window_with_no_rows_writes_nothing(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = flight_csv(tmp_path / "data" / "60_1.csv", straight_flight("60"))
    [result] = run_items([path], out=tmp_path / "out", datemin="2030-01-01")
    assert result.ok and result.rows == 0 and result.outputs == ()
    assert result.metrics == {"aircraft": {}}


def test_rows_ordered_by_time_stably_and_speed_null_where_no_time_passed(
    tmp_path: Path, run_items, flight_csv, straight_flight
) -> None:
    rows = [
        "0,2021-01-01 00:00:02,60,1.002,0,1,c",
        "1,2021-01-01 00:00:00,60,1.000,0,1,a",
        "2,2021-01-01 00:00:01,60,1.001,0,1,b1",
        "3,2021-01-01 00:00:01,60,1.001,0,1,b2",
        "4,2021-01-01 00:00:01,60,1.001,0,1,b3",
    ]
    path = flight_csv(tmp_path / "data" / "60_1.csv", rows, header=HEADER + ",tag")
    [result] = run_items([path], out=tmp_path / "out")
    part = pl.read_parquet(tmp_path / "out" / "aircraft=60" / "60_1.csv.parquet")
    assert part["tag"].to_list() == ["a", "b1", "b2", "b3", "c"]
    assert part["dt_s"].to_list() == [0.0, 1.0, 0.0, 0.0, 1.0]
    speeds = part["speed_mps"].to_list()
    assert speeds[0] is None and speeds[2] is None and speeds[3] is None
    assert speeds[1] == pytest.approx(111.19, rel=1e-3)  # 0.001 degree of longitude on the equator


def test_file_with_several_aircraft_gives_one_part_each_with_own_motion(
    tmp_path: Path, run_items, flight_csv, straight_flight
) -> None:
    rows = [
        "0,2021-01-01 00:00:00,60,1.000,0,1",
        "1,2021-01-01 00:00:00,3c4b26,50.000,0,1",
        "2,2021-01-01 00:00:01,60,1.001,0,1",
        "3,2021-01-01 00:00:02,3c4b26,50.002,0,1",
        "4,2021-01-01 00:00:03,,9,9,9",
    ]
    path = flight_csv(tmp_path / "data" / "mixed.csv", rows)
    [result] = run_items([path], out=tmp_path / "out")
    assert result.ok, result.error
    assert sorted(o.path for o in result.outputs) == [
        "aircraft=3c4b26/mixed.csv.parquet",
        "aircraft=60/mixed.csv.parquet",
        "aircraft=__HIVE_DEFAULT_PARTITION__/mixed.csv.parquet",
    ]
    other = pl.read_parquet(tmp_path / "out" / "aircraft=3c4b26" / "mixed.csv.parquet")
    assert other["distance_m"][0] == 0.0 and other["dt_s"].to_list() == [0.0, 2.0]
    assert other["distance_m"][1] == pytest.approx(222.39, rel=1e-3)
    metrics = result.metrics["aircraft"]
    assert set(metrics) == {"60", "3c4b26", "__HIVE_DEFAULT_PARTITION__"}
    assert {m["part"] for m in metrics.values()} == {o.path for o in result.outputs}
    assert metrics["60"]["rows"] == 2 and metrics["60"]["max_speed_mps"] == pytest.approx(111.19, rel=1e-3)


def test_aircraft_id_is_quoted_in_the_partition_path(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = flight_csv(tmp_path / "data" / "odd.csv", ["0,2021-01-01 00:00:00,a/b c,1,2,3"])
    [result] = run_items([path], out=tmp_path / "out")
    assert [o.path for o in result.outputs] == ["aircraft=a%2Fb%20c/odd.csv.parquet"]


def test_nested_inputs_with_the_same_name_do_not_overwrite_each_other(
    tmp_path: Path, run_items, flight_csv, straight_flight
) -> None:
    data = tmp_path / "data"
    paths = [
        flight_csv(data / "day1" / "f.csv", straight_flight("60")),
        flight_csv(data / "day2" / "f.csv", straight_flight("60")),
    ]
    results = run_items(paths, root=data, out=tmp_path / "out")
    assert sorted(o.path for r in results for o in r.outputs) == ["aircraft=60/day1%2Ff.csv.parquet", "aircraft=60/day2%2Ff.csv.parquet"]


def test_csv_output_format(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = flight_csv(tmp_path / "data" / "007_1.csv", straight_flight("007"))
    [result] = run_items([path], out=tmp_path / "out", output_format="csv")
    assert [o.path for o in result.outputs] == ["aircraft=007/007_1.csv.csv"]
    back = pl.read_csv(tmp_path / "out" / "aircraft=007" / "007_1.csv.csv", schema_overrides={"aircraft": pl.String})
    assert back["aircraft"].to_list() == ["007"] * 5
    assert back["date"][0] == "2021-01-01 00:00:00"


def test_missing_columns_name_the_file_and_columns(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = flight_csv(tmp_path / "data" / "60_1.csv", ["0,2021-01-01 00:00:00,60,5"], header=",date,aircraft,alt")
    [result] = run_items([path], out=tmp_path / "out")
    message = the_error(result)
    assert "60_1.csv" in message and "long" in message and "lat" in message
    assert result.error.type == "FlightFileError"


@pytest.mark.parametrize(
    ("bad_line", "line", "what"),
    [
        ("2,2021-01-01 00:00:02,60,1.002,0,1,surplus", 4, "field"),
        ("2,2021-01-01 00:00:02,60,1.002,0", 4, "field"),
        ("2,2021-01-01 00:00:02,60,east,0,1", 4, "long"),
        ("2,2021-01-01 00:00:02,60,1.002,north,1", 4, "lat"),
        ("2,01/01/2021 00:00:02,60,1.002,0,1", 4, "date"),
        ("2,2021-01-01 00:00:99,60,1.002,0,1", 4, "date"),
    ],
)
def test_malformed_row_names_file_and_line(
    tmp_path: Path, run_items, flight_csv, straight_flight, bad_line: str, line: int, what: str
) -> None:
    rows = straight_flight("60", n=2) + [bad_line] + straight_flight("60", n=6)[3:]
    path = flight_csv(tmp_path / "data" / "60_9.csv", rows)
    [result] = run_items([path], out=tmp_path / "out")
    message = the_error(result)
    assert "60_9.csv" in message and f"line {line}" in message and what in message
    assert not any((tmp_path / "out").rglob("*.parquet"))


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    data = tmp_path / "data"
    paths = [flight_csv(data / "a.csv", ["0,2021-01-01,60,x,y,z"]), flight_csv(data / "b.csv", straight_flight("60"))]
    bad, good = run_items(paths, out=tmp_path / "out")
    assert not bad.ok and good.ok and good.rows == 5


def test_empty_file_is_an_item_error(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = tmp_path / "data" / "empty.csv"
    path.parent.mkdir()
    path.write_text("")
    [result] = run_items([path], out=tmp_path / "out")
    assert "empty.csv" in the_error(result)


# -- where inputs are read from ------------------------------------------------------


def test_the_worker_reads_its_own_copy_of_the_data_under_ctx_data_dir(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    data = tmp_path / "manager-data"
    paths = [flight_csv(data / "60_1.csv", straight_flight("60")), flight_csv(data / "sub" / "60_2.csv", straight_flight("60", n=3))]
    remote = tmp_path / "remote-copy"
    shutil.copytree(data, remote)
    for path in paths:  # what the manager sees is not what the worker reads
        path.write_text("not a flight")
    results = run_items(paths, root=data, data_dir=remote, out=tmp_path / "out")
    assert [r.ok for r in results] == [True, True], [r.error for r in results]
    assert [r.rows for r in results] == [5, 3]


@pytest.mark.parametrize("relative", ["../outside.csv", "sub/../../outside.csv", "/etc/hostname", "", "."])
def test_an_input_that_leaves_the_data_folder_is_refused(tmp_path: Path, relative: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "outside.csv").write_text(HEADER + "\n")
    with pytest.raises(FlightFileError, match="not a path inside the data folder"):
        input_file(data, WorkItem(id="x.csv", inputs=(relative,)))


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(st.sampled_from(["a", "b.csv", "..", "."]), min_size=1, max_size=5))
def test_no_accepted_input_is_outside_the_data_folder(parts: list[str]) -> None:
    data = Path("/data/root")
    try:
        path = input_file(data, WorkItem(id="x", inputs=("/".join(parts),)))
    except FlightFileError:
        assert ".." in parts or all(p == "." for p in parts)
        return
    assert os.path.normpath(path).startswith(str(data) + "/")


def test_a_worker_without_a_data_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(FlightFileError, match="no data folder"):
        input_file(None, WorkItem(id="x.csv", inputs=("x.csv",)))


# -- outputs never collide ----------------------------------------------------------------


def test_inputs_differing_by_extension_or_escaped_slash_keep_their_own_parts(
    tmp_path: Path, run_items, flight_csv, straight_flight
) -> None:
    data = tmp_path / "data"
    paths = [
        flight_csv(data / "a.csv", straight_flight("60", n=2)),
        flight_csv(data / "a.txt", straight_flight("60", n=3)),
        flight_csv(data / "x" / "y.csv", straight_flight("60", n=4)),
        flight_csv(data / "x%2Fy.csv", straight_flight("60", n=5)),
    ]
    out = tmp_path / "out"
    results = run_items(paths, root=data, out=out)
    assert [o.path for r in results for o in r.outputs] == [
        "aircraft=60/a.csv.parquet",
        "aircraft=60/a.txt.parquet",
        "aircraft=60/x%2Fy.csv.parquet",
        "aircraft=60/x%25252Fy.csv.parquet",
    ]
    assert read_dataset(out).height == 14


def test_an_aircraft_named_like_the_null_partition_keeps_its_own_folder(tmp_path: Path, run_items, flight_csv) -> None:
    rows = ["0,2021-01-01 00:00:00,__HIVE_DEFAULT_PARTITION__,1,2,3", "1,2021-01-01 00:00:01,,1,2,3"]
    [result] = run_items([flight_csv(tmp_path / "data" / "f.csv", rows)], out=tmp_path / "out")
    assert sorted(o.path for o in result.outputs) == [
        "aircraft=%5F_HIVE_DEFAULT_PARTITION__/f.csv.parquet",
        "aircraft=__HIVE_DEFAULT_PARTITION__/f.csv.parquet",
    ]


# -- values and sizes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("2,2021-01-01 00:00:02,60,1.002,NaN,1", "line 4, lat: nan is not a finite number"),
        ("2,2021-01-01 00:00:02,60,1.002,999,1", "line 4, lat: 999.0 is outside -90..90 degrees"),
        ("2,,60,1.002,0,1", "line 4, date: empty"),
    ],
)
def test_wrong_numbers_fail_the_item_instead_of_being_written(
    tmp_path: Path, run_items, flight_csv, straight_flight, bad: str, words: str
) -> None:
    rows = straight_flight("60", n=2) + [bad] + straight_flight("60", n=6)[3:]
    [result] = run_items([flight_csv(tmp_path / "data" / "sub" / "60_9.csv", rows)], root=tmp_path / "data", out=tmp_path / "out")
    assert the_error(result) == f"sub/60_9.csv, {words}"
    assert not any((tmp_path / "out").rglob("*.parquet"))


def test_a_file_grown_past_the_limit_after_planning_is_refused_before_reading(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = flight_csv(tmp_path / "data" / "big.csv", straight_flight("60"))

    class Growing(Path().__class__):  # the size the manager saw, then the file grows to 2 GiB (sparse)
        def stat(self, *args, **kwargs):
            size = super().stat(*args, **kwargs)
            with open(self, "r+b") as fh:
                fh.truncate(2 * 1024**3)
            return size

    [result] = run_items([Growing(path)], out=tmp_path / "out", max_file_mb=100)
    assert the_error(result) == (
        "big.csv: 2,147,483,648 bytes is over max_file_mb = 100 MB; flight files are far smaller, raise max_file_mb to read it anyway"
    )
    assert result.bytes_in == 0


def test_a_file_over_the_limit_fails_alone_with_the_limit_named(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    data = tmp_path / "data"
    small = flight_csv(data / "a.csv", straight_flight("60"))
    huge = data / "b.csv"
    with huge.open("wb") as fh:
        fh.truncate(2 * 1024**3)
    ok, refused = run_items([small, huge], out=tmp_path / "out")
    assert ok.ok and "b.csv: 2,147,483,648 bytes is over max_file_mb = 256 MB" in the_error(refused)


# -- odd file names ---------------------------------------------------------------------------


def test_files_with_non_utf8_markup_or_control_names_run_like_any_other(
    tmp_path: Path, run_items, flight_csv, straight_flight
) -> None:
    data = tmp_path / "data"
    names = [os.fsdecode(b"\xff.csv"), "[bold]a[/x].csv", "esc\x1b[31m.csv", "new\nline.csv", ".hidden.csv", "_under.csv"]
    paths = [flight_csv(data / n, straight_flight("60")) for n in names]
    out = tmp_path / "out"
    results = run_items(paths, root=data, out=out)
    assert all(r.ok for r in results), [r.error for r in results]
    assert [r.item_id for r in results] == ["%FF.csv", "[bold]a[/x].csv", "esc%1B[31m.csv", "new%0Aline.csv", ".hidden.csv", "_under.csv"]
    assert sorted(o.path for r in results for o in r.outputs) == sorted(
        [
            "aircraft=60/%25FF.csv.parquet",
            "aircraft=60/[bold]a[%2Fx].csv.parquet",
            "aircraft=60/esc%251B[31m.csv.parquet",
            "aircraft=60/new%250Aline.csv.parquet",
            "aircraft=60/%2Ehidden.csv.parquet",
            "aircraft=60/%5Funder.csv.parquet",
        ]
    )
    assert pl.scan_parquet(out / "**" / "*.parquet", hive_partitioning=True).collect().height == 5 * len(names)


def test_an_error_in_an_oddly_named_file_is_still_one_line(tmp_path: Path, run_items, flight_csv) -> None:
    data = tmp_path / "data"
    path = flight_csv(data / "two\nlines\u2028[/x].csv", ["0,2021-01-01 00:00:00,60,1,north,3"])
    [result] = run_items([path], root=data, out=tmp_path / "out")
    assert the_error(result) == "two%0Alines%E2%80%A8[/x].csv, line 2, lat: 'north' is not a number"
