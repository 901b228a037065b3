"""The app contract: what an app author writes and what the kernel hands back.

An app has two sides that run in different places. The :class:`Manager` runs in
the caller's process: it turns validated arguments into :class:`WorkItem` s and
reduces the results into a summary. The :class:`Worker` runs wherever the
executor puts it (this process, a pool process, a Dask worker, an SSH host), so
the kernel only ever hands it around as an import path, never as an object.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

if TYPE_CHECKING:
    from agilab_core.env import AgiEnv
    from agilab_core.evidence import Run

ITEM_OK = "ok"
ITEM_FAILED = "failed"


def _names(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _paths(values: Iterable[str | Path]) -> tuple[str | Path, ...]:
    return tuple(values)


@attrs.frozen
class WorkItem:
    """One unit of work.

    ``id`` is unique within a run and stable across runs (a relative input path
    is ideal); ``payload`` is JSON-able and is all the worker gets; ``weight``
    estimates the cost (input bytes work well) and drives balancing.
    ``inputs`` are the files the item reads, as POSIX paths relative to the
    run's data root (:meth:`Manager.data_root`); the worker finds them under
    ``ctx.data_dir``, which a remote executor may map to its own copy.
    """

    id: str
    payload: Any = None
    weight: float = 1.0
    inputs: tuple[str, ...] = attrs.field(default=(), converter=_names)


@attrs.frozen
class ItemError:
    """Why an item failed: exception type, one-line message, full traceback."""

    type: str
    message: str
    traceback: str = ""


@attrs.frozen
class OutputFile:
    """A file an item wrote, relative to the run's output folder (POSIX form)."""

    path: str
    sha256: str
    bytes: int


@attrs.frozen
class ItemOutput:
    """What :meth:`Worker.work` returns: counts, files written, small metrics.

    ``files`` are paths the worker wrote (absolute, or relative to
    ``ctx.output_dir``); the kernel hashes them. ``metrics`` is a small JSON-able
    mapping the manager's ``reduce`` can aggregate without re-reading outputs.
    """

    rows: int = 0
    bytes_in: int = 0
    files: tuple[str | Path, ...] = attrs.field(default=(), converter=_paths)
    metrics: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class ItemResult:
    """The evidence of one item, as recorded in the manifest."""

    item_id: str
    status: str
    worker: str
    host: str
    started: float
    finished: float
    rows: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    outputs: tuple[OutputFile, ...] = ()
    metrics: dict[str, Any] = attrs.field(factory=dict)
    error: ItemError | None = None
    attempts: int = 1
    runtime: str = "python"

    @property
    def ok(self) -> bool:
        return self.status == ITEM_OK

    @classmethod
    def failure(
        cls,
        item_id: str,
        error_type: str,
        message: str,
        *,
        traceback: str = "",
        worker: str = "none",
        host: str = "none",
        started: float | None = None,
        attempts: int = 1,
        runtime: str = "python",
    ) -> ItemResult:
        """A failed result for ``item_id``: the one way executors and the kernel build one."""
        now = time.time()
        return cls(
            item_id=item_id,
            status=ITEM_FAILED,
            worker=worker,
            host=host,
            started=now if started is None else started,
            finished=now,
            error=ItemError(error_type, message, traceback),
            attempts=attempts,
            runtime=runtime,
        )

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@attrs.frozen
class WorkerContext:
    """What a worker knows about where it runs, given once at ``start``."""

    app: str
    run_id: str
    output_dir: Path
    worker_id: str
    host: str
    data_dir: Path | None = None


class Manager:
    """Manager side of an app. Subclass it and set ``args_type``.

    ``args_type`` is a frozen attrs class; the kernel builds it from the app's
    settings file and ``--set`` overrides, and reports bad values by field name.
    """

    args_type: ClassVar[type]

    def work_items(self, args: Any, env: AgiEnv) -> list[WorkItem]:
        """Return the items to run. Raise :class:`agilab_core.InputError` for bad input.

        (Assigning them to workers is the plan, made by the ``plan_work`` hook.)
        """
        raise NotImplementedError

    def data_root(self, args: Any, env: AgiEnv) -> Path | None:
        """The folder items' ``inputs`` are relative to (``ctx.data_dir`` on workers).

        ``None`` (the default) when the app's items name no input files.
        """
        return None

    def reduce(self, results: list[ItemResult], run: Run) -> dict[str, Any]:
        """Summarise the finished items (called once, in the manager process)."""
        return {}


class Worker:
    """Worker side of an app, imported by dotted path inside the worker process."""

    def start(self, args: Any, ctx: WorkerContext) -> None:
        """Called once per worker process before any item."""
        self.args = args
        self.ctx = ctx

    def work(self, item: WorkItem) -> ItemOutput:
        """Do one item; write outputs under ``self.ctx.output_dir``, atomically."""
        raise NotImplementedError

    def stop(self) -> None:
        """Called once when the worker process has no more items."""


@attrs.frozen
class AppSpec:
    """How an app registers itself (returned by ``register_apps``).

    ``worker`` is ``"module:Class"`` so worker processes import it themselves.
    ``settings`` names the packaged default settings as ``"package:resource"``.

    Worker packaging (all optional): ``worker_modules`` are the modules and
    packages the worker side is made of (built into the worker wheel; without
    them the worker runs in the manager's environment); ``cython_modules`` is
    the subset that ``--cython`` compiles (pure-Python-mode sources, so they
    also run uncompiled); ``worker_requirements`` are the third-party packages
    the worker imports (a bare name is pinned to the manager's version).
    """

    name: str
    manager: type[Manager]
    worker: str
    settings: str | None = None
    description: str = ""
    worker_modules: tuple[str, ...] = attrs.field(default=(), converter=_names)
    cython_modules: tuple[str, ...] = attrs.field(default=(), converter=_names)
    worker_requirements: tuple[str, ...] = attrs.field(default=(), converter=_names)
