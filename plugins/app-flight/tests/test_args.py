"""Argument checks happen before any file is read, with messages naming the field."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest
from agilab_app_flight import FlightArgs
from agilab_core.seeded_settings import fresh

from agilab_core import load_plugins


def test_the_seeded_settings_show_the_defaults_as_comments_that_uncomment_to_the_defaults() -> None:
    text = fresh(load_plugins().app("flight"))
    assert tomllib.loads(text)["args"] == {}  # nothing pinned: the defaults follow upgrades
    section = text.partition("[args]\n")[2].partition("\n[cluster]")[0]
    shown = [line[2:].split("  #")[0].strip() for line in section.splitlines() if line.startswith("# ")]
    args = tomllib.loads("\n".join(line for line in shown if not line.endswith("=")))  # datemin/datemax: unset
    assert set(args) == {"data_in", "files", "nfile", "output_format", "max_file_mb"}
    assert FlightArgs(**args) == FlightArgs()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("datemin", "2021-13-01", "datemin"),
        ("datemax", "01/02/2021", "YYYY-MM-DD"),
        ("datemin", "2021-01-01T00:00:00", "datemin"),
        ("nfile", -1, "nfile"),
        ("output_format", "json", "parquet, csv"),
        ("files", "", "files"),
        ("files", "../*.csv", "inside data_in"),
        ("files", "sub/../../x/*.csv", "inside data_in"),
        ("max_file_mb", 0, "max_file_mb"),
        ("max_file_mb", float("nan"), "max_file_mb"),
    ],
)
def test_bad_values_are_refused_by_field(field: str, value: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        FlightArgs(**{field: value})


def test_window_order_is_checked() -> None:
    with pytest.raises(ValueError, match="not before"):
        FlightArgs(datemin="2021-02-01", datemax="2021-01-01")


def test_a_bare_datemax_covers_its_whole_day() -> None:
    assert FlightArgs(datemin="2021-01-01", datemax="2021-01-01").window() == (
        dt.datetime(2021, 1, 1),
        dt.datetime(2021, 1, 2),
    )
    assert FlightArgs(datemax="2021-01-01 10:00:00").window() == (None, dt.datetime(2021, 1, 1, 10, 0, 1))


def test_the_size_limit_names_the_file_and_the_limit() -> None:
    args = FlightArgs(max_file_mb=1.5)
    assert args.size_problem("a.csv", 1_500_000) is None
    assert args.size_problem("sub/b.csv", 2_000_000) == (
        "sub/b.csv: 2,000,000 bytes is over max_file_mb = 1.5 MB; flight files are far smaller, raise max_file_mb to read it anyway"
    )
    assert FlightArgs(max_file_mb=float("inf")).size_problem("c.csv", 10**15) is None
