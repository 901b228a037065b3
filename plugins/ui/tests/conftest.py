"""Runs for the web app's tests: a real flight run, and run folders written as the recorder writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agilab_core.atomic import write_json


@pytest.fixture(scope="session")
def flight_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A home holding one real run of the flight app (executor ``local``), and its result."""
    from agilab_app_flight.sample import generate
    from agilab_core.runner import Agi, RunRequest

    data = tmp_path_factory.mktemp("flights")
    generate(data, files=4, rows=300, seed=5, min_rows=200, max_rows=400)
    home = tmp_path_factory.mktemp("ui-home")
    result = Agi().run(RunRequest(app="flight", executor="local", args={"data_in": str(data)}, home=home))
    assert result.status == "ok"
    return home, result


def item(item_id: str, status: str = "ok", started: float = 100.0, **more: Any) -> dict[str, Any]:
    return {"item_id": item_id, "status": status, "worker": "localhost/0", "host": "localhost", "started": started, "finished": started + 2, **more}


def make_run(runs_root: Path, app: str, run_id: str, results: list[dict[str, Any]], status: str = "ok", **manifest: Any) -> Path:
    """A run folder: its manifest (results included unless running) and its journal."""
    run_dir = runs_root / app / run_id
    ok = sum(1 for r in results if r["status"] == "ok")
    data = {
        "run_id": run_id, "status": status, "app": {"name": app, "version": "1.0"}, "executor": {"name": "local"},
        "started": 100.0, "finished": 110.0, "seconds": 10.0, "outputs": str(run_dir / "outputs"), "journal": "items.jsonl",
        "items": {"total": manifest.pop("total", len(results)), "ok": ok, "failed": len(results) - ok}, **manifest,
    }
    if status != "running":
        data["results"] = results
    write_json(run_dir / "manifest.json", data)
    (run_dir / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    return run_dir
