"""The sample generator: deterministic, in the reference schema, realistic enough to analyse."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from agilab_app_flight.sample import generate, main


def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", files=12, rows=200, seed=7, min_rows=50, max_rows=900)
    second = generate(tmp_path / "b", files=12, rows=200, seed=7, min_rows=50, max_rows=900)
    assert [p.name for p in first] == [p.name for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))
    other = generate(tmp_path / "c", files=12, rows=200, seed=8, min_rows=50, max_rows=900)
    assert [p.read_bytes() for p in other] != [p.read_bytes() for p in first]


def test_files_follow_the_reference_schema_and_naming(tmp_path: Path) -> None:
    paths = generate(tmp_path, files=20, rows=30, seed=1)
    ids = set()
    for path in paths:
        lines = path.read_text().splitlines()
        assert lines[0] == ",date,aircraft,long,lat,alt"
        assert len(lines) == 31
        frame = pl.read_csv(path, schema_overrides={"aircraft": pl.String})
        aircraft, flight = path.stem.rsplit("_", 1)
        assert frame["aircraft"].unique().to_list() == [aircraft] and flight.isdigit()
        assert frame[""].to_list() == list(range(30))
        assert frame["date"].str.strptime(
            pl.Datetime, "%Y-%m-%d %H:%M:%S"
        ).diff().drop_nulls().dt.total_seconds().unique().to_list() == [1]
        ids.add(aircraft)
    assert len(ids) < len(paths)  # several flights per aircraft
    assert any(re.fullmatch(r"\d+", i) for i in ids) and any(re.search(r"[a-f]", i) for i in ids)


def test_file_sizes_vary_within_bounds(tmp_path: Path) -> None:
    paths = generate(tmp_path, files=40, rows=300, seed=3, min_rows=100, max_rows=2000)
    sizes = [len(p.read_text().splitlines()) - 1 for p in paths]
    assert min(sizes) >= 100 and max(sizes) <= 2000 and len(set(sizes)) > 10


def test_flights_are_realistic_once_processed(tmp_path: Path, run_items) -> None:
    paths = generate(tmp_path / "data", files=6, rows=4000, seed=5)
    results = run_items(paths, out=tmp_path / "out")
    assert all(r.ok for r in results)
    dataset = pl.read_parquet(tmp_path / "out" / "**" / "*.parquet")
    cruise = dataset.filter(pl.col("alt") > 9000)["speed_mps"]
    assert 200 < cruise.median() < 260
    assert dataset["speed_mps"].max() < 340
    assert dataset["alt"].min() >= 0 and dataset["alt"].max() < 13_000


def test_command_line_prints_a_summary(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "out"), "--files", "3", "--rows", "10", "--seed", "2"]) == 0
    assert "3 flight files, 30 rows" in capsys.readouterr().out
    assert len(list((tmp_path / "out").glob("*.csv"))) == 3


def test_sparse_files_lose_some_altitudes_and_nothing_else(tmp_path: Path, run_items) -> None:
    dense = generate(tmp_path / "dense", files=30, rows=200, seed=4, min_rows=50, max_rows=900)
    sparse = generate(tmp_path / "sparse", files=30, rows=200, seed=4, min_rows=50, max_rows=900, sparse=1 / 3)
    holes = 0
    for d, s in zip(dense, sparse, strict=True):
        full, thin = d.read_text().splitlines(), s.read_text().splitlines()
        assert len(full) == len(thin)
        emptied = [a for a, b in zip(full, thin, strict=True) if a != b]
        assert all(b.endswith(",") and a.startswith(b) for a, b in zip(full, thin, strict=True) if a != b)
        holes += bool(emptied)
        assert len(emptied) <= 0.2 * len(full)
    assert 4 <= holes <= 18  # about a third of 30
    results = run_items(sparse, out=tmp_path / "out")
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert pl.read_parquet(tmp_path / "out" / "**" / "*.parquet")["alt"].null_count() > 0


def test_sparse_must_be_a_fraction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sparse"):
        generate(tmp_path, files=1, rows=1, sparse=1.5)
