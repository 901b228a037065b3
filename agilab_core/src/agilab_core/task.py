"""Running items inside a worker process, whatever the executor.

A :class:`WorkerTask` is the only thing an executor ships to its workers: a
small picklable record (the worker's import path, the validated args, where
outputs go). Inside the worker it imports the app's ``Worker`` once, then turns
each item into an :class:`ItemResult` — timing it, hashing the files it wrote,
and catching its exception so one bad item never stops the others.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import attrs

from agilab_core.app import ITEM_FAILED, ITEM_OK, ItemError, ItemResult, OutputFile, Worker, WorkerContext, WorkItem
from agilab_core.atomic import sha256_file
from agilab_core.errors import EnvironmentMismatch, PluginError, one_line
from agilab_core.identity import environment_hash, runtime_of


def _split_path(path: str) -> tuple[str, str]:
    """``"package.module:Attr"`` (or ``"package.module.Attr"``) into module and attribute."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    return module_name, attr


def import_object(path: str) -> Any:
    """Import ``"package.module:Attr"`` (or ``"package.module.Attr"``)."""
    module_name, attr = _split_path(path)
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise PluginError(f"cannot import {path!r}: {exc}") from exc
    return obj


@attrs.frozen
class WorkerTask:
    """Everything a worker process needs to run items of one run."""

    app: str
    run_id: str
    worker: str
    args: Any
    output_dir: Path
    env_hash: str | None = None
    cython_modules: tuple[str, ...] = ()
    #: The run's data root (items' ``inputs`` are relative to it); a remote
    #: executor replaces it with its host's copy (``attrs.evolve``).
    data_dir: Path | None = None

    @property
    def worker_module(self) -> str:
        """The module of :attr:`worker`, which a worker process may import before its first item."""
        return _split_path(self.worker)[0]

    def check_environment(self) -> None:
        """Refuse to run in another environment than the one the run was packaged for."""
        if self.env_hash is None:
            return
        actual = environment_hash()
        if actual != self.env_hash:
            raise EnvironmentMismatch(
                f"worker on {socket.gethostname()} runs in environment {actual} ({sys.prefix}), "
                f"but run {self.run_id} of {self.app} was packaged for {self.env_hash}; run `agilab install {self.app}` for these workers"
            )

    def start(self, worker_id: str | None = None) -> WorkerSession:
        """Check the environment, import the worker class, call its ``start``; return a session."""
        self.check_environment()
        host = socket.gethostname()
        worker_id = worker_id or f"{host}/{os.getpid()}"
        cls = import_object(self.worker)
        worker: Worker = cls()
        data_dir = Path(self.data_dir) if self.data_dir is not None else None
        ctx = WorkerContext(app=self.app, run_id=self.run_id, output_dir=Path(self.output_dir), worker_id=worker_id, host=host, data_dir=data_dir)
        worker.start(self.args, ctx)
        return WorkerSession(task=self, worker=worker, ctx=ctx, runtime=runtime_of(self.cython_modules))


@attrs.define
class WorkerSession:
    """A started worker; ``run(item)`` never raises for a failing item."""

    task: WorkerTask
    worker: Worker
    ctx: WorkerContext
    runtime: str = "python"

    def run(self, item: WorkItem, attempts: int = 1) -> ItemResult:
        started = time.time()
        try:
            out = self.worker.work(item)
            files = tuple(self._record(f) for f in out.files) if out.files else ()
        except Exception as exc:  # noqa: BLE001 - an item's failure is data, not a crash
            return ItemResult(
                item_id=item.id,
                status=ITEM_FAILED,
                worker=self.ctx.worker_id,
                host=self.ctx.host,
                started=started,
                finished=time.time(),
                error=ItemError(type(exc).__name__, one_line(exc), traceback.format_exc()),
                attempts=attempts,
                runtime=self.runtime,
            )
        return ItemResult(
            item_id=item.id,
            status=ITEM_OK,
            worker=self.ctx.worker_id,
            host=self.ctx.host,
            started=started,
            finished=time.time(),
            rows=out.rows,
            bytes_in=out.bytes_in,
            bytes_out=sum(f.bytes for f in files) if files else 0,
            outputs=files,
            metrics=out.metrics,
            attempts=attempts,
            runtime=self.runtime,
        )

    def _record(self, path: str | os.PathLike[str]) -> OutputFile:
        full = Path(path)
        if not full.is_absolute():
            full = self.ctx.output_dir / full
        try:
            rel = full.relative_to(self.ctx.output_dir).as_posix()
        except ValueError:
            rel = str(full)
        return OutputFile(path=rel, sha256=sha256_file(full), bytes=full.stat().st_size)

    def stop(self) -> None:
        self.worker.stop()
