"""The app as the kernel sees it: registered by entry point, light to import, runnable end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
from agilab_app_flight import FlightManager
from agilab_app_flight.sample import generate

from agilab_core import load_plugins


def test_flight_app_is_registered() -> None:
    spec = load_plugins().app("flight")
    assert spec.manager is FlightManager
    assert spec.worker == "agilab_app_flight.worker:FlightWorker"


def test_registering_does_not_import_polars() -> None:
    code = "import sys, agilab_app_flight.plugin; print('polars' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_run_end_to_end(agi, agilab_home: Path, tmp_path: Path) -> None:
    data = agilab_home / "data" / "flight"
    generate(data, files=4, rows=120, seed=11)
    result = agi.run("flight", executor="local")
    assert result.ok, result.error or [r.error for r in result.failed]
    assert result.summary["files"] == 4 and result.summary["rows"] == 480
    assert json.loads((result.outputs / "summary.json").read_text()) == result.summary
    dataset = pl.scan_parquet(result.outputs / "**" / "*.parquet", hive_partitioning=True).collect()
    assert dataset.height == 480 and dataset.schema["aircraft"] == pl.String
