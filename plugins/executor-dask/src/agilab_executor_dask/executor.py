"""The ``dask`` executor: its ``-o`` options, and the executor the kernel drives.

This module is the entry point, loaded by every ``agilab`` command, so it
imports Dask only when a run needs it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import attrs

from agilab_core import (
    CORES,
    Executor,
    ExecutorSpec,
    OnResult,
    UsageError,
    WorkerPackage,
    WorkerSlot,
    WorkersSpec,
    WorkerTask,
    WorkItem,
    WorkPlan,
    hookimpl,
    in_range,
)

#: The longest a run waits for a scheduler or for workers (a batch system's queue can be slow).
WEEK = 7 * 24 * 3600.0


@attrs.frozen
class DaskOptions:
    """``-o`` options of the ``dask`` executor.

    Without ``scheduler`` or ``cluster`` the executor starts an embedded
    cluster: a scheduler in this process and ``--workers N`` worker processes.
    """

    #: Address of a running Dask scheduler (``tcp://host:8786``) to use instead.
    scheduler: str | None = None
    #: ``module:Class`` of a Dask cluster manager to start instead (``dask_jobqueue:SLURMCluster``).
    cluster: str | None = None
    #: Keyword arguments of that class (``-o 'cluster_options={cores=4, queue="short"}'``).
    cluster_options: dict[str, Any] = attrs.field(factory=dict)
    #: Seconds to wait for a scheduler to answer.
    connect_timeout: float = attrs.field(default=10.0, validator=in_range(0, WEEK, above=True))
    #: Seconds to wait for workers to join, and how long a run waits once every worker is gone.
    worker_timeout: float = attrs.field(default=60.0, validator=in_range(0, WEEK, above=True))
    #: Math-library threads per embedded worker process (0: cores / workers).
    threads_per_worker: int = attrs.field(default=0, validator=in_range(0, CORES, why="the cores of this machine"))
    #: Times an item that killed its worker is sent again.
    retries: int = attrs.field(default=1, validator=in_range(0, 100))
    #: Items per batch (0: adaptive, about 0.2 s of work each).
    batch_size: int = attrs.field(default=0, validator=in_range(0, 1_000_000))
    #: Dashboard address of the embedded scheduler (":0" a free port, "" none); needs bokeh.
    dashboard: str = ":0"


class DaskExecutor(Executor):
    """Runs items on Dask workers: embedded, a running cluster, or a cluster manager's."""

    default_workers = str(os.cpu_count() or 1)
    isolated = True
    worker_distributions = ("agilab-executor-dask",)
    worker_requirements = ("dask", "distributed")

    def __init__(self, config: DaskOptions, workers: WorkersSpec, report: Any = None) -> None:
        super().__init__(config, workers, report)
        self._package: WorkerPackage | None = None
        self._cluster: Any = None
        self._info: dict[str, Any] = {}

    @classmethod
    def slots(cls, config: DaskOptions, workers: WorkersSpec) -> list[WorkerSlot]:
        if config.scheduler and config.cluster:
            raise UsageError("-o scheduler and -o cluster exclude each other: use a running scheduler, or let a cluster manager start one")
        if config.cluster_options and not config.cluster:
            raise UsageError("-o cluster_options needs -o cluster=module:Class")
        if config.cluster:
            from agilab_executor_dask.cluster import resolve_cluster_class

            resolve_cluster_class(config.cluster)
        elif not config.scheduler and not workers.is_local:
            raise UsageError(
                f"the embedded Dask cluster runs on this machine; --workers {workers} names other hosts "
                "(give -o scheduler=ADDRESS or -o cluster=module:Class)"
            )
        return workers.slots()

    def install(self, package: WorkerPackage, env: Any) -> None:
        # Workers start lazily in run(): the kernel may build an executor only to install.
        self._package = package

    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: OnResult) -> None:
        from agilab_executor_dask.dispatch import Dispatch

        cfg: DaskOptions = self.config
        python = self._package.python if self._package else sys.executable
        if self._cluster is None:
            self._cluster = self._connect(python, task, _slots_to_start(plan))
            self._info = self._cluster.info()
            self.report(f"dask: {self._cluster.connected()} workers connected to {self._cluster.address}")
            link = self._info.get("dashboard")
            if link:
                self.report(f"dask: dashboard at {link}")
        self._cluster.check_environment(task.env_hash, python)
        dispatch = Dispatch(
            self._cluster, plan, items, task, on_result,
            retries=cfg.retries, batch_size=cfg.batch_size, worker_timeout=cfg.worker_timeout,
        )
        try:
            dispatch.run()
        finally:
            self._info["batches"] = self._info.get("batches", 0) + dispatch.batches

    def _connect(self, python: str, task: WorkerTask, slots: list[WorkerSlot]) -> Any:
        """A cluster for this run; an embedded one gets a worker process per slot of ``slots``."""
        cfg: DaskOptions = self.config
        launched = None
        if not (cfg.scheduler or cfg.cluster):
            # before Dask is imported here: the workers import it meanwhile (see launch.py)
            from agilab_executor_dask.launch import launch_ahead

            launched = launch_ahead(python, slots, cfg.threads_per_worker or None, cfg.worker_timeout, task.worker_module)
        try:
            from agilab_executor_dask import cluster
        except BaseException:
            if launched is not None:
                launched.close()
            raise
        if cfg.scheduler:
            return cluster.connect_scheduler(cfg.scheduler, cfg.connect_timeout, cfg.worker_timeout)
        if cfg.cluster:
            return cluster.start_cluster_manager(cfg.cluster, dict(cfg.cluster_options), len(slots), cfg.connect_timeout, cfg.worker_timeout)
        return cluster.start_embedded(launched, dashboard=cfg.dashboard, worker_timeout=cfg.worker_timeout)

    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def close(self) -> None:
        """Close the client, and the cluster when this executor started it; safe to call twice."""
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()


def _slots_to_start(plan: WorkPlan) -> list[WorkerSlot]:
    """The plan's slots that get a worker: those with items first, never more than there are items."""
    busy = [slot for slot, ids in zip(plan.slots, plan.assignments, strict=True) if ids]
    idle = [slot for slot, ids in zip(plan.slots, plan.assignments, strict=True) if not ids]
    return (busy + idle)[: plan.item_count]


@hookimpl
def register_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec(
            "dask",
            DaskExecutor,
            config_type=DaskOptions,
            description="Dask: an embedded cluster (--workers N), -o scheduler=ADDRESS, or -o cluster=module:Class",
        )
    ]
