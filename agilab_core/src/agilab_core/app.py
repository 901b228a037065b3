"""The app contract: what an app author writes and what the kernel hands back.

An app has two sides that run in different places. The :class:`Manager` runs in
the caller's process: it turns validated arguments into :class:`WorkItem` s and
reduces the results into a summary. The :class:`Worker` runs wherever the
executor puts it (this process, a pool process, a Dask worker, an SSH host), so
the kernel only ever hands it around as an import path, never as an object.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
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
        """Summarise the finished items (called once, in the manager process).

        ``results`` come sorted by item id, whatever order the executor
        finished them in (and items carried over by a resume included), so
        one input gives one summary, to the last bit of a float total.
        """
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


class _Derivable(str):
    """A worker path the kernel derived or built from a class: its worker modules may be derived too."""


def _worker_path(value: str | type | None) -> str:
    """``"module:Class"`` from a class, a path, or nothing (then derived from the manager)."""
    if value is None:
        return _Derivable("")
    if isinstance(value, type):
        return _Derivable(f"{value.__module__}:{value.__qualname__}")
    return value if not isinstance(value, str) else str(value)


def _optional_names(values: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


@attrs.frozen
class AppSpec:
    """How an app registers itself (returned by ``register_apps``).

    The short form is ``AppSpec(name, Manager)``: everything else is derived.

    ``worker`` is the worker class, or its ``"module:Class"`` path (worker
    processes import it themselves; the path form keeps the worker's imports
    out of the manager). Left out, it is the one ``Worker`` subclass defined in
    the ``worker`` module of the manager's package, else in the manager's own
    module, found by reading the source (nothing is imported).

    Worker packaging (all optional): ``worker_modules`` are the modules the
    worker side is made of (built into the worker wheel; empty, the worker
    runs in the manager's environment). Left out, they are the worker's module
    and every module of its top-level package it imports, transitively (read
    from the source), except when ``worker`` is given as a ``"module:Class"``
    string: that explicit form lists them itself. ``worker_requirements``
    are the third-party distributions the worker side imports (a bare name is
    pinned to the manager's version); left out, they are derived the same way
    (and with the same exception): every import of those modules that is
    neither the standard library, the kernel, nor the app's own distribution,
    and that is installed here. ``cython_modules`` is the subset of the worker
    modules that ``--cython`` compiles (pure-Python-mode sources, so they also
    run uncompiled).

    Settings: the manager's ``args_type`` holds every argument's default
    (``attrs.field(metadata={"help": ...})`` documents it). ``settings``
    optionally names packaged settings as ``"package:resource"`` (a
    ``[cluster]`` table, or ``[args]`` values that differ from the defaults);
    the copy seeded into the user's home is written from both. ``version`` is
    the app's version recorded in that copy (default: the version of the
    distribution that ships the manager); when it changes, the copy is
    upgraded, ``renamed`` (``{"old": "new"}``) carrying the user's values of
    renamed arguments over.

    ``sample_data`` is seeded into ``<home>/data/<name>`` on first use: a
    ``"module:function"`` (or a callable) that writes the sample into the
    folder it is given, or a packaged archive ``"package:resource.zip"``
    (``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``).
    """

    name: str
    manager: type[Manager]
    worker: str = attrs.field(default=None, converter=_worker_path)
    settings: str | None = None
    description: str = ""
    worker_modules: tuple[str, ...] = attrs.field(default=None, converter=_optional_names)
    cython_modules: tuple[str, ...] = attrs.field(default=(), converter=_names)
    worker_requirements: tuple[str, ...] = attrs.field(default=None, converter=_optional_names)
    version: str | None = None
    renamed: dict[str, str] = attrs.field(factory=dict, converter=dict, hash=False)
    sample_data: str | Callable[[Path], Any] | None = None

    def __attrs_post_init__(self) -> None:
        derivable = isinstance(self.worker, _Derivable)
        worker = str(self.worker)
        if not worker:
            worker = _derived_worker(self.manager)
        object.__setattr__(self, "worker", worker)
        if self.worker_modules is None:
            modules = _derived_modules(worker) if derivable and worker else ()
            object.__setattr__(self, "worker_modules", modules)
        if self.worker_requirements is None:
            requirements = _derived_requirements(self.worker_modules) if derivable else ()
            object.__setattr__(self, "worker_requirements", requirements)


def _derived_worker(manager: Any) -> str:
    """The worker found next to ``manager``, or '' (the plugin check says why)."""
    from agilab_core import app_source

    try:
        return app_source.find_worker(manager.__module__)
    except Exception:  # noqa: BLE001 - a bad manager or no worker: reported when the app is checked
        return ""


def _derived_requirements(modules: tuple[str, ...]) -> tuple[str, ...]:
    from agilab_core import app_source

    try:
        return app_source.third_party(modules)
    except Exception:  # noqa: BLE001 - unreadable sources: the author lists them
        return ()


def _derived_modules(worker: str) -> tuple[str, ...]:
    from agilab_core import app_source

    try:
        return app_source.worker_side(worker.partition(":")[0])
    except Exception:  # noqa: BLE001 - unreadable sources: the worker runs in the manager's environment
        return ()
