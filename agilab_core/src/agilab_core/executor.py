"""The executor contract: how items reach workers and results come back.

An executor is chosen by name, built from its typed options, used as a context
manager, and must call ``on_result`` once per item, from the thread that called
``run``, as each item finishes. Retrying items lost with a dead worker is the
executor's job; it reports the attempts in :attr:`ItemResult.attempts`.
Results name the slot they ran in (``WorkerSlot.id``, passed to
``task.start``), so telemetry can attribute throughput to the plan's hosts.
:mod:`agilab_core.dispatch` holds what executors share between a plan and
``on_result`` (slot queues with stealing, one report per item on the run's
thread); :func:`in_range` checks their numeric options.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from agilab_core.app import ItemResult, WorkItem
from agilab_core.plan import WorkerSlot, WorkersSpec, WorkPlan
from agilab_core.task import WorkerTask

if TYPE_CHECKING:
    from agilab_core.env import AgiEnv
    from agilab_core.packaging import WorkerPackage

OnResult = Callable[[ItemResult], None]
Report = Callable[[str], None]


def _silent(message: str) -> None:
    """The default ``report``: progress goes nowhere."""

#: Environment variables that size math libraries' thread pools. Executors that
#: run several worker processes on one machine set them (cores / workers by
#: default), so the processes do not fight over cores.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "RAYON_NUM_THREADS",
)


#: Cores of this machine: the most math-library threads a worker process can use.
CORES = os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """Math-library threads for each of ``workers`` processes sharing this machine: cores / workers."""
    return max(1, CORES // max(1, workers))


def worker_environment(workers: int, threads: int | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) with :data:`THREAD_VARS` sized for ``workers`` processes on this machine.

    ``threads`` given sets them; None keeps values the environment already
    has and fills the others with cores / workers.
    """
    env = dict(os.environ if base is None else base)
    for var in THREAD_VARS:
        if threads:
            env[var] = str(threads)
        else:
            env.setdefault(var, str(threads_per_worker(workers)))
    return env


def in_range(low: float, high: float, *, above: bool = False, why: str = "") -> Callable[[Any, attrs.Attribute, float], None]:
    """An attrs validator for a numeric option: finite, ``>= low`` (``> low`` when ``above``) and ``<= high``.

    ``why`` says where ``high`` comes from (``"the cores of this machine"``).
    Options are checked when they are structured, before a run folder exists.
    """
    bound = f"> {low:g}" if above else f">= {low:g}"
    because = f" ({why})" if why else ""

    def check(_: Any, attribute: attrs.Attribute, value: float) -> None:
        finite = not isinstance(value, float) or math.isfinite(value)
        if not finite or value < low or (above and value == low) or value > high:
            raise ValueError(f"{attribute.name} must be {bound} and <= {high:g}{because}, got {_shown(value)}")

    return check


def _shown(value: float) -> str:
    """A number as an error message shows it: ``1e+308``, not 309 digits."""
    if isinstance(value, int) and abs(value) >= 10**15:
        try:
            return f"{float(value):g}"
        except OverflowError:
            return f"a number of {len(str(abs(value)))} digits"
    return f"{value:g}" if isinstance(value, float) else str(value)


@attrs.frozen
class NoOptions:
    """Config type of executors that take no ``-o`` options."""


class Executor:
    """Base class of executors. Subclasses implement :meth:`run`.

    ``config`` is an instance of the spec's ``config_type``; ``workers`` is the
    parsed ``--workers`` value; ``report`` takes one-line progress messages
    (the CLI shows them; a library caller may pass its own).
    """

    default_workers: ClassVar[str] = "1"
    #: Workers run in interpreters of their own, so they can use a worker venv.
    #: ``False`` (``local``) means items run in the manager's process and env.
    isolated: ClassVar[bool] = False
    #: Distributions of this executor that its worker processes import; worker
    #: venvs get them as the manager has them, without their dependencies.
    worker_distributions: ClassVar[tuple[str, ...]] = ()
    #: Third-party packages its worker processes import (bare names are pinned
    #: to the manager's installed version, as Dask needs for client and workers).
    worker_requirements: ClassVar[tuple[str, ...]] = ()

    #: Workers run on other machines: the kernel packages a rebuildable worker
    #: venv for them (never the manager's own environment), and the executor
    #: brings every output home before calling ``on_result``.
    remote: ClassVar[bool] = False

    def __init__(self, config: Any, workers: WorkersSpec, report: Report | None = None) -> None:
        self.config = config
        self.workers = workers
        self.report: Report = report or _silent

    @classmethod
    def slots(cls, config: Any, workers: WorkersSpec) -> list[WorkerSlot]:
        """The slots a plan is made for; raise ``UsageError`` for hosts it cannot use."""
        return workers.slots()

    def install(self, package: WorkerPackage, env: AgiEnv) -> None:
        """Prepare workers to run ``package`` (no-op by default)."""

    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: OnResult) -> None:
        """Run every item of ``plan`` and call ``on_result`` as each finishes."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """Extra facts for the manifest (dashboard link, cluster address...)."""
        return {}

    def close(self) -> None:
        """Free everything the executor started. Must be safe to call twice."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


@attrs.frozen
class ExecutorSpec:
    """How an executor registers itself (returned by ``register_executors``)."""

    name: str
    executor: type[Executor]
    config_type: type = NoOptions
    description: str = ""
