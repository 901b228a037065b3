"""The app as the kernel sees it: registered by entry point, light to import, runnable end to end."""

from __future__ import annotations

import json
import os
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
    # derived from the sources: the worker side is what the worker imports, not the manager's modules
    modules = ("args", "distance", "names", "reader", "telemetry", "worker")
    assert spec.worker_modules == tuple(f"agilab_app_flight.{m}" for m in modules)
    assert spec.worker_requirements == ("attrs", "numpy", "polars")


def test_registering_does_not_import_polars() -> None:
    code = "import sys, agilab_app_flight.plugin; print('polars' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_a_worker_loads_numpy_only_for_a_file_that_fails_a_check(tmp_path: Path) -> None:
    """numpy costs each worker process about 60 ms to import: clean files never need it."""
    generate(tmp_path / "clean", files=2, rows=50, seed=3)
    bad = tmp_path / "short-row.csv"
    bad.write_text("date,aircraft,long,lat,alt\n2024-01-01 00:00:00,a1,1.0,2.0,3.0\n2024-01-01 00:00:01,a1,1.0\n")
    code = (
        "import sys, pathlib\n"
        "from agilab_app_flight.reader import parse_flight, FlightFileError\n"
        "from agilab_app_flight.telemetry import track\n"
        "import agilab_app_flight.worker\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.csv')) or sys.exit('no sample'):\n"
        "    track(parse_flight(p.read_bytes(), p.name))\n"
        "clean = 'numpy' in sys.modules\n"
        "try:\n"
        "    parse_flight(pathlib.Path(sys.argv[2]).read_bytes(), 'short-row.csv')\n"
        "except FlightFileError as exc:\n"
        "    print(clean, 'numpy' in sys.modules, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "clean"), str(bad)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["False", "True"] and "line 3" in done.stdout, done.stdout


def test_run_end_to_end(agi, agilab_home: Path, tmp_path: Path) -> None:
    data = agilab_home / "data" / "flight"
    generate(data, files=4, rows=120, seed=11)
    result = agi.run("flight", executor="local")
    assert result.ok, result.error or [r.error for r in result.failed]
    assert result.summary["files"] == 4 and result.summary["rows"] == 480
    assert json.loads((result.outputs / "summary.json").read_text()) == result.summary
    dataset = pl.scan_parquet(result.outputs / "**" / "*.parquet", hive_partitioning=True).collect()
    assert dataset.height == 480 and dataset.schema["aircraft"] == pl.String


def test_odd_file_names_run_through_the_command_line(agilab_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(data, files=3, rows=50, seed=5)
    good = sorted(data.glob("*.csv"))
    os.rename(good[0], os.path.join(os.fsencode(data), b"\xff\xfe.csv"))
    good[1].rename(data / "esc\x1b[31m new\nline.csv")
    (data / "[").mkdir()
    (data / "[" / "x]bad.csv").write_text(",date,aircraft,long,lat,alt\n0,2021-01-01 00:00:00,[/x],1,999,3\n")
    cmd = [str(Path(sys.executable).with_name("agilab")), "run", "flight", "--set", f"data_in={data}", "--set", "files=**/*.csv"]
    env = {**os.environ, "AGILAB_HOME": str(agilab_home)}
    out = json.loads(subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, check=False).stdout)
    assert out["items"] == {"total": 4, "ok": 3, "failed": 1}
    (failure,) = out["failed"]
    assert failure["item"] == "[/x]bad.csv" and "[/x]bad.csv, line 2, lat: 999.0 is outside -90..90 degrees" in failure["error"]
    assert out["summary"]["files"] == 3 and out["summary"]["missing_parts"] == []
    manifest = json.loads(Path(out["manifest"]).read_text(encoding="utf-8"))
    assert sorted(r["item_id"] for r in manifest["results"]) == sorted(["%FF%FE.csv", "[/x]bad.csv", "esc%1B[31m new%0Aline.csv", good[2].name])
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert plain.returncode == 1, plain.stderr  # some items failed: not an internal error
    assert "Traceback" not in plain.stdout + plain.stderr and "\x1b[31m" not in plain.stdout
    assert "[/x]bad.csv" in plain.stdout
