"""Planning files into items, and summarising what the workers measured."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import polars as pl
import pytest
from agilab_app_flight import FlightArgs, FlightManager
from agilab_app_flight.manager import summarise
from agilab_app_flight.names import input_path
from hypothesis import given, settings
from hypothesis import strategies as st

from agilab_core import AgiEnv, InputError, ItemResult, OutputFile, Run, sha256_file


@pytest.fixture
def data(tmp_path: Path, flight_csv, straight_flight) -> Path:
    root = tmp_path / "home" / "data" / "flight"
    for name in ("b.csv", "a.csv", "c.csv", "sub/d.csv"):
        flight_csv(root / name, straight_flight("60"))
    (root / "notes.txt").write_text("not a flight")
    (root / "folder.csv").mkdir()
    return root


def env(tmp_path: Path) -> AgiEnv:
    return AgiEnv(app="flight", home=tmp_path / "home")


def test_plan_lists_matching_files_sorted_with_sizes(tmp_path: Path, data: Path) -> None:
    items = FlightManager().work_items(FlightArgs(data_in=str(data)), env(tmp_path))
    assert [i.id for i in items] == ["a.csv", "b.csv", "c.csv"]
    assert [i.inputs for i in items] == [("a.csv",), ("b.csv",), ("c.csv",)]
    assert items[0].weight == (data / "a.csv").stat().st_size


def test_items_name_inputs_relative_to_the_data_root_and_no_manager_path(tmp_path: Path, data: Path) -> None:
    args, manager = FlightArgs(data_in=str(data), files="**/*.csv"), FlightManager()
    assert manager.data_root(args, env(tmp_path)) == data.resolve()
    items = manager.work_items(args, env(tmp_path))
    assert items[-1].id == "sub/d.csv" and items[-1].inputs == ("sub/d.csv",)
    for item in items:
        assert str(tmp_path) not in repr(item)  # nothing of the manager's file system travels
        assert (manager.data_root(args, env(tmp_path)) / item.inputs[0]).is_file()


def test_plan_resolves_a_relative_data_in_under_home(tmp_path: Path, data: Path) -> None:
    args = FlightArgs(data_in="data/flight")
    assert FlightManager().data_root(args, env(tmp_path)) == data.resolve()
    assert len(FlightManager().work_items(args, env(tmp_path))) == 3


def test_a_file_over_the_size_limit_is_planned_to_fail_without_its_input(tmp_path: Path, data: Path) -> None:
    huge = data / "huge.csv"
    with huge.open("wb") as fh:
        fh.truncate(2 * 1024**3)  # sparse: 2 GiB long, nothing written
    items = {i.id: i for i in FlightManager().work_items(FlightArgs(data_in=str(data)), env(tmp_path))}
    refused = items["huge.csv"]
    assert refused.inputs == () and refused.weight == 0  # nothing to read or ship
    assert refused.payload["refused"].startswith("huge.csv: 2,147,483,648 bytes is over max_file_mb = 256 MB")
    assert items["a.csv"].inputs == ("a.csv",)
    small = FlightManager().work_items(FlightArgs(data_in=str(data), max_file_mb=1e-4), env(tmp_path))
    assert all(i.inputs == () and "max_file_mb = 0.0001 MB" in i.payload["refused"] for i in small)


def test_non_utf8_and_odd_file_names_get_plain_ids_that_give_the_file_back(tmp_path: Path, data: Path, flight_csv, straight_flight) -> None:
    names = [os.fsdecode(b"\xff\xfe.csv"), "[/x].csv", "tab\tnew\nline.csv", "a%41.csv"]
    for name in names:
        flight_csv(data / name, straight_flight("60"))
    items = FlightManager().work_items(FlightArgs(data_in=str(data), files="**/*.csv"), env(tmp_path))
    by_input = {i.inputs[0]: i.id for i in items}
    assert by_input[names[0]] == "%FF%FE.csv"
    assert by_input["[/x].csv"] == "[/x].csv"  # markup-like: a folder "[" and a file "x].csv"
    assert by_input["tab\tnew\nline.csv"] == "tab%09new%0Aline.csv"
    assert by_input["a%41.csv"] == "a%2541.csv"
    for relative, name in by_input.items():
        assert input_path(name) == relative and (data / relative).is_file()
        name.encode("utf-8")


def test_plan_takes_the_first_nfile_and_follows_the_glob(tmp_path: Path, data: Path) -> None:
    manager = FlightManager()
    assert [i.id for i in manager.work_items(FlightArgs(data_in=str(data), nfile=2), env(tmp_path))] == ["a.csv", "b.csv"]
    deep = manager.work_items(FlightArgs(data_in=str(data), files="**/*.csv"), env(tmp_path))
    assert [i.id for i in deep] == ["a.csv", "b.csv", "c.csv", "sub/d.csv"]
    assert [i.id for i in manager.work_items(FlightArgs(data_in=str(data), files="*.txt"), env(tmp_path))] == ["notes.txt"]


def test_plan_without_matching_files_says_why(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"no files matching '\*\.csv' in .*empty \(data_in\)"):
        FlightManager().work_items(FlightArgs(data_in=str(empty)), env(tmp_path))


def test_plan_with_missing_or_non_folder_data_in_names_path_and_field(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="data_in") as missing:
        FlightManager().work_items(FlightArgs(data_in="nowhere"), env(tmp_path))
    assert str(tmp_path / "home" / "nowhere") in str(missing.value)
    a_file = tmp_path / "flight.csv"
    a_file.write_text("x")
    with pytest.raises(InputError, match="data_in.*not a folder"):
        FlightManager().work_items(FlightArgs(data_in=str(a_file)), env(tmp_path))


def test_reduce_writes_the_run_summary(tmp_path: Path, flight_csv, straight_flight, run_items) -> None:
    root = tmp_path / "data"
    paths = [
        flight_csv(root / "60_1.csv", straight_flight("60", n=5)),
        flight_csv(root / "60_2.csv", straight_flight("60", n=7)),
        flight_csv(root / "007_1.csv", straight_flight("007", n=3)),
        flight_csv(root / "broken.csv", ["0,2021-01-01 00:00:00,60,west,0,1"]),
    ]
    out = tmp_path / "out"
    results = run_items(paths, out=out)
    run = Run("r1", "flight", "local", FlightArgs(data_in=str(root)), tmp_path, out, time.time())
    summary = FlightManager().reduce(results, run)

    assert json.loads((out / "summary.json").read_text()) == summary
    dataset = pl.read_parquet(out / "**" / "*.parquet")
    assert summary["files"] == 3
    assert summary["rows"] == 15 == dataset.height
    assert summary["aircraft"] == 2
    assert summary["distance_m"] == pytest.approx(dataset["distance_m"].sum())
    assert summary["max_speed_mps"] == pytest.approx(dataset["speed_mps"].max())
    assert summary["failed_files"] == ["broken.csv"]
    assert summary["missing_parts"] == []
    assert summary["per_aircraft"]["60"]["files"] == 2
    assert summary["per_aircraft"]["60"]["rows"] == 12
    assert summary["per_aircraft"]["007"] == {
        "files": 1,
        "rows": 3,
        "distance_m": pytest.approx(dataset.filter(pl.col("aircraft") == "007")["distance_m"].sum()),
        "max_speed_mps": pytest.approx(dataset.filter(pl.col("aircraft") == "007")["speed_mps"].max()),
    }


@settings(max_examples=50, deadline=None)
@given(
    distances=st.lists(st.floats(min_value=0, max_value=1e7, allow_nan=False), min_size=1, max_size=30),
    order=st.randoms(use_true_random=False),
)
def test_summary_does_not_depend_on_the_order_items_finished(distances: list[float], order) -> None:
    results = [
        ItemResult(f"f{i:03d}.csv", "ok", "w", "h", 0.0, 1.0, metrics={"aircraft": {f"a{i % 3}": {"rows": 1, "distance_m": d, "max_speed_mps": d}}})
        for i, d in enumerate(distances)
    ]
    shuffled = list(results)
    order.shuffle(shuffled)
    assert summarise(shuffled) == summarise(results)


def test_the_summary_counts_only_parts_that_are_on_disk(tmp_path: Path, flight_csv, straight_flight, run_items) -> None:
    root = tmp_path / "data"
    paths = [flight_csv(root / "60_1.csv", straight_flight("60", n=5)), flight_csv(root / "60_2.csv", straight_flight("60", n=7))]
    out = tmp_path / "out"
    results = run_items(paths, out=out)
    run = Run("r1", "flight", "local", FlightArgs(data_in=str(root)), tmp_path, out, time.time())
    assert FlightManager().reduce(results, run)["rows"] == 12
    (out / results[1].outputs[0].path).unlink()
    summary = FlightManager().reduce(results, run)
    assert summary["files"] == 1 and summary["rows"] == 5 == summary["per_aircraft"]["60"]["rows"]
    assert summary["missing_parts"] == ["aircraft=60/60_2.csv.parquet"]


def test_a_part_two_items_claim_counts_once_for_the_item_whose_bytes_are_there(tmp_path: Path) -> None:
    out = tmp_path / "out"
    part = out / "aircraft=60" / "a.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"second writer")
    written = OutputFile("aircraft=60/a.parquet", sha256_file(part), part.stat().st_size)
    overwritten = OutputFile("aircraft=60/a.parquet", "0" * 64, part.stat().st_size)

    def result(item: str, output: OutputFile, rows: int) -> ItemResult:
        metrics = {"aircraft": {"60": {"rows": rows, "distance_m": 1.0, "max_speed_mps": 2.0, "part": output.path}}}
        return ItemResult(item, "ok", "w", "h", 0.0, 1.0, rows=rows, outputs=(output,), metrics=metrics)

    results = [result("a.csv", overwritten, 3), result("a.txt", written, 4)]
    run = Run("r1", "flight", "local", FlightArgs(data_in=str(tmp_path)), tmp_path, out, time.time())
    summary = FlightManager().reduce(results, run)
    assert summary["files"] == 1 and summary["rows"] == 4
    assert summary["missing_parts"] == ["aircraft=60/a.parquet"]
