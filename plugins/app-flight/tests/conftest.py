"""Shared fixtures: flight files written as text, and a worker run the way an executor runs one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from agilab_app_flight import FlightArgs

from agilab_core import ItemResult, WorkerTask, WorkItem

HEADER = ",date,aircraft,long,lat,alt"


def write_flight(path: Path, rows: list[str], header: str = HEADER) -> Path:
    """Write a flight file with exactly these lines (no index is added)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def equator_flight(aircraft: str, n: int = 5) -> list[str]:
    """``n`` fixes one second apart, 0.001 degree (about 111 m) apart eastward on the equator."""
    return [f"{i},2021-01-01 00:00:{i:02d},{aircraft},{1.0 + 0.001 * i:.6f},0.0,{1000 + i}" for i in range(n)]


@pytest.fixture
def flight_csv() -> Callable[..., Path]:
    return write_flight


@pytest.fixture
def straight_flight() -> Callable[..., list[str]]:
    return equator_flight


@pytest.fixture
def run_items(tmp_path: Path) -> Callable[..., list[ItemResult]]:
    """Run files through the flight worker in this process, like a worker process would."""

    def run(paths: list[Path], root: Path | None = None, out: Path | None = None, **args: object) -> list[ItemResult]:
        root = root or paths[0].parent
        task = WorkerTask(
            app="flight",
            run_id="test",
            worker="agilab_app_flight.worker:FlightWorker",
            args=FlightArgs(data_in=str(root), **args),
            output_dir=out or tmp_path / "out",
        )
        session = task.start(worker_id="w0")
        try:
            return [
                session.run(WorkItem(id=p.relative_to(root).as_posix(), payload={"path": str(p)}, weight=p.stat().st_size))
                for p in paths
            ]
        finally:
            session.stop()

    return run
