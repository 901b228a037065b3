"""The worker on real files: typing, cleaning, filtering, ordering, errors, output layout."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

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
    assert [o.path for o in result.outputs] == ["aircraft=60/60_2.parquet"]
    assert result.rows == 5 and result.bytes_in == path.stat().st_size
    part = pl.read_parquet(tmp_path / "out" / "aircraft=60" / "60_2.parquet")
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
    part = pl.read_parquet(tmp_path / "out" / "aircraft=60" / "60_1.parquet")
    assert "" not in part.columns
    assert {c: part.schema[c] for c in ("long", "lat", "alt")} == {c: pl.Float64 for c in ("long", "lat", "alt")}
    assert part["squawk"].to_list() == ["a", None, "c"]
    assert part["leg"].to_list() == [7, 8, None]
    assert part["alt"].to_list() == [100.0, None, 300.0]


def test_missing_alt_is_added_as_null_float(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = flight_csv(tmp_path / "data" / "a_1.csv", ["0,2021-01-01 00:00:00,a,1,2"], header=",date,aircraft,long,lat")
    [result] = run_items([path], out=tmp_path / "out")
    part = pl.read_parquet(tmp_path / "out" / "aircraft=a" / "a_1.parquet")
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
    part = pl.read_parquet(tmp_path / "out" / "aircraft=60" / "60_1.parquet")
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
    part = pl.read_parquet(tmp_path / "out" / "aircraft=60" / "60_1.parquet")
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
        "aircraft=3c4b26/mixed.parquet",
        "aircraft=60/mixed.parquet",
        "aircraft=__HIVE_DEFAULT_PARTITION__/mixed.parquet",
    ]
    other = pl.read_parquet(tmp_path / "out" / "aircraft=3c4b26" / "mixed.parquet")
    assert other["distance_m"][0] == 0.0 and other["dt_s"].to_list() == [0.0, 2.0]
    assert other["distance_m"][1] == pytest.approx(222.39, rel=1e-3)
    metrics = result.metrics["aircraft"]
    assert set(metrics) == {"60", "3c4b26", "__HIVE_DEFAULT_PARTITION__"}
    assert metrics["60"]["rows"] == 2 and metrics["60"]["max_speed_mps"] == pytest.approx(111.19, rel=1e-3)


def test_aircraft_id_is_quoted_in_the_partition_path(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = flight_csv(tmp_path / "data" / "odd.csv", ["0,2021-01-01 00:00:00,a/b c,1,2,3"])
    [result] = run_items([path], out=tmp_path / "out")
    assert [o.path for o in result.outputs] == ["aircraft=a%2Fb%20c/odd.parquet"]


def test_nested_inputs_with_the_same_name_do_not_overwrite_each_other(
    tmp_path: Path, run_items, flight_csv, straight_flight
) -> None:
    data = tmp_path / "data"
    paths = [
        flight_csv(data / "day1" / "f.csv", straight_flight("60")),
        flight_csv(data / "day2" / "f.csv", straight_flight("60")),
    ]
    results = run_items(paths, root=data, out=tmp_path / "out")
    assert sorted(o.path for r in results for o in r.outputs) == ["aircraft=60/day1%2Ff.parquet", "aircraft=60/day2%2Ff.parquet"]


def test_csv_output_format(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = flight_csv(tmp_path / "data" / "007_1.csv", straight_flight("007"))
    [result] = run_items([path], out=tmp_path / "out", output_format="csv")
    assert [o.path for o in result.outputs] == ["aircraft=007/007_1.csv"]
    back = pl.read_csv(tmp_path / "out" / "aircraft=007" / "007_1.csv", schema_overrides={"aircraft": pl.String})
    assert back["aircraft"].to_list() == ["007"] * 5
    assert back["date"][0] == "2021-01-01 00:00:00"


def test_missing_columns_name_the_file_and_columns(tmp_path: Path, run_items, flight_csv, straight_flight) -> None:
    path = flight_csv(tmp_path / "data" / "60_1.csv", ["0,2021-01-01 00:00:00,60,5"], header=",date,aircraft,alt")
    [result] = run_items([path], out=tmp_path / "out")
    message = the_error(result)
    assert "60_1.csv" in message and "long" in message and "lat" in message
    assert result.error.type == "ValueError"


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
