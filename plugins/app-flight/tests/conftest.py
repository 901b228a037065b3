"""Shared fixtures: flight files written as text, and a worker run the way an executor runs one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from agilab_app_flight import FlightArgs
from agilab_app_flight.manager import file_item

from agilab_core import ItemResult, WorkerTask

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
    """Run files through the flight worker in this process, like a worker process would.

    Items are planned as the manager plans them; the worker's data folder is
    ``data_dir`` when given (a copy, as on a remote host), else ``root``.
    """

    def run(
        paths: list[Path], root: Path | None = None, out: Path | None = None, data_dir: Path | None = None, **args: object
    ) -> list[ItemResult]:
        root = root or paths[0].parent
        flight_args = FlightArgs(data_in=str(root), **args)
        task = WorkerTask(
            app="flight",
            run_id="test",
            worker="agilab_app_flight.worker:FlightWorker",
            args=flight_args,
            output_dir=out or tmp_path / "out",
            data_dir=data_dir or root,
        )
        session = task.start(worker_id="w0")
        try:
            return [session.run(file_item(p.relative_to(root).as_posix(), p.stat().st_size, flight_args)) for p in paths]
        finally:
            session.stop()

    return run
