"""``pool``: a process pool on this machine that knows which item a dead worker held.

``concurrent.futures.ProcessPoolExecutor`` breaks as a whole when one worker
dies and cannot say which item killed it. This pool keeps one pipe per worker
process and a shared slot where the worker writes the sequence number of the
item it is running, so a death costs one retry of one item on a fresh process,
and everything else carries on.

Items travel in batches (large while a worker's queue is long, shrinking
towards the end so the tail stays balanced); results come back per batch, or
every ``flush_seconds`` for slow items so progress keeps moving. A worker whose
queue runs dry steals half of the longest remaining queue (see
:class:`agilab_core.dispatch.SlotQueues`). Worker processes are subprocesses
of the worker interpreter (:mod:`.pool_process`), never more than there are
items, and all of them have exited when :meth:`PoolExecutor.run` returns.
"""

from __future__ import annotations

import math
import os
import sys
from collections import deque
from collections.abc import Mapping
from multiprocessing.connection import wait
from typing import Any

import attrs

from agilab_core import (
    CORES,
    Entry,
    Executor,
    ExecutorSpec,
    ItemResult,
    OnResult,
    Results,
    SlotQueues,
    UsageError,
    WorkerPackage,
    WorkerSlot,
    WorkersSpec,
    WorkerTask,
    WorkItem,
    WorkPlan,
    hookimpl,
    in_range,
    worker_environment,
)
from agilab_executor_local.pool_process import WorkerProcess, stop_all

MAX_BATCH = 256
#: How often the run looks for a worker that exited without closing its pipe.
CHECK_SECONDS = 1.0


@attrs.frozen
class PoolOptions:
    """``-o`` options of the ``pool`` executor."""

    batch_size: int = attrs.field(default=0, validator=in_range(0, 1_000_000))  # 0: adaptive
    threads_per_worker: int = attrs.field(default=0, validator=in_range(0, CORES, why="the cores of this machine"))  # 0: cores / workers
    retries: int = attrs.field(default=1, validator=in_range(0, 100))
    flush_seconds: float = attrs.field(default=0.2, validator=in_range(0, 3600))


class PoolError(RuntimeError):
    """The pool cannot keep worker processes alive (they die while starting)."""


class PoolExecutor(Executor):
    """Runs items on ``--workers N`` processes of this machine."""

    default_workers = str(os.cpu_count() or 1)
    isolated = True
    worker_distributions = ("agilab-executor-local",)

    def __init__(self, config: PoolOptions, workers: WorkersSpec, report: Any = None) -> None:
        super().__init__(config, workers, report)
        self._python = sys.executable
        self._processes = 0
        self._run: PoolRun | None = None

    @classmethod
    def slots(cls, config: PoolOptions, workers: WorkersSpec) -> list[WorkerSlot]:
        if not workers.is_local:
            raise UsageError(f"executor pool runs on this machine only; --workers {workers} names other hosts (use dask or ssh)")
        return [WorkerSlot("localhost", i) for i in range(workers.total)]

    def install(self, package: WorkerPackage, env: Any) -> None:
        self._python = package.python

    def info(self) -> dict[str, Any]:
        return {"processes": self._processes, "python": self._python}

    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: OnResult) -> None:
        own = self._python == sys.executable  # workers in this environment see this process's sys.path
        self._run = PoolRun(self.config, plan, items, task, on_result, self._python, sys.path if own else None)
        self._processes = len(self._run.first_slots())
        where = "" if own else f" with {self._python}"
        self.report(f"pool: starting {self._processes} worker process{'es' if self._processes != 1 else ''}{where}")
        try:
            self._run.run()
        finally:
            self._run = None

    def close(self) -> None:
        """Stop every worker process still running (a run interrupted between its parts); safe to call twice."""
        run, self._run = self._run, None
        if run is not None:
            run.stop()


class PoolRun:
    """One run of a plan on worker processes: batches out, results in, deaths turned into retries.

    :meth:`run` returns (or raises) only once every process it started has
    exited and been reaped.
    """

    def __init__(
        self,
        config: PoolOptions,
        plan: WorkPlan,
        items: Mapping[str, WorkItem],
        task: WorkerTask,
        on_result: OnResult,
        python: str,
        sys_path: list[str] | None,
    ) -> None:
        self.config = config
        self.task = task
        self.python = python
        self.sys_path = sys_path
        self.queues = SlotQueues(plan, items)
        self.results = Results(self.queues.items, on_result)
        self.nslots = len(plan.slots)
        self.env = worker_environment(len(self.first_slots()), config.threads_per_worker or None)
        self.procs: list[WorkerProcess] = []
        self.start_failures = 0

    def first_slots(self) -> list[int]:
        """The slots that get a process: those with items first, never more than there are items."""
        busy = [s for s in range(self.nslots) if self.queues.waiting(s)]
        idle = [s for s in range(self.nslots) if not self.queues.waiting(s)]
        return (busy + idle)[: min(self.nslots, len(self.queues.items))]

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> None:
        try:
            for slot in self.first_slots():
                self._start(slot)
            while self.results.outstanding > 0:
                self._step()
        finally:
            self.stop()

    def _step(self) -> None:
        """Wait for messages (or deaths) and handle them."""
        if not self.procs:
            raise PoolError(f"no pool worker process is left; {self.results.progress()}")
        by_conn = {proc.conn: proc for proc in self.procs}
        readable = wait(list(by_conn), timeout=CHECK_SECONDS)
        for conn in readable:
            proc = by_conn[conn]
            try:
                message = conn.recv()
            except (EOFError, OSError):
                self._died(proc)
                continue
            self._handle(proc, message)
        if not readable:  # a process that exited while something else holds its pipe open
            for proc in [p for p in self.procs if p.popen.poll() is not None]:
                self._died(proc)

    def stop(self) -> None:
        """Stop and reap every process of this run."""
        procs, self.procs = self.procs, []
        stop_all(procs)

    # -- a process and its messages -----------------------------------------------------------

    def _start(self, slot: int, first: list[Entry] | None = None) -> WorkerProcess:
        proc = WorkerProcess.start(slot, self.python, self.env, self.sys_path, self.task, self.config.flush_seconds)
        proc.first = list(first or [])
        self.procs.append(proc)
        return proc

    def _handle(self, proc: WorkerProcess, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            proc.ready = True
            self._send_next(proc)
        elif kind == "results":
            self._receive(proc, message[1])
        elif kind == "done":
            self._receive(proc, message[1])
            self._send_next(proc)
        elif kind == "failed":
            raise PoolError(f"worker localhost/{proc.slot} could not start the app's worker: {message[1]}")

    def _send_next(self, proc: WorkerProcess) -> None:
        """Send ``proc`` its next batch: its retries first, else from its slot's queue; or tell it to stop."""
        batch = proc.first or self.queues.take(proc.slot, self._batch_size)
        proc.first, proc.batch, proc.reported = [], batch, set()
        if batch:
            proc.send([(e.seq, self.queues.item(e), e.attempts) for e in batch])
        else:
            proc.send(None)

    def _batch_size(self, queue: deque[Entry]) -> int:
        return self.config.batch_size or max(1, min(MAX_BATCH, math.ceil(len(queue) / 8)))

    def _receive(self, proc: WorkerProcess, results: list[ItemResult]) -> None:
        seqs = {self.queues.items[e.seq].id: e.seq for e in proc.batch}
        for result in results:
            proc.reported.add(seqs[result.item_id])
            self.results.report(result)

    # -- deaths ---------------------------------------------------------------------------

    def _died(self, proc: WorkerProcess) -> None:
        """``proc`` closed its pipe: read what it sent before, reap it, and send its items again."""
        self._drain(proc)
        cause = proc.exit_cause()
        running = proc.current()
        self.procs.remove(proc)
        proc.release()
        if proc.stopping and not proc.batch:
            return  # it finished its work and was told to stop
        if not proc.ready:
            self.start_failures += 1
            if self.start_failures > 2 * self.nslots:
                raise PoolError(f"pool worker processes keep dying while starting ({cause})")
        unreported = [e for e in proc.batch if e.seq not in proc.reported]
        blamed = next((e for e in unreported if e.seq == running), None)
        self.queues.put_back(proc.slot, [e for e in unreported if e is not blamed])
        retries = list(proc.first)  # a retry whose process died while starting gets a fresh one too
        if blamed is not None and blamed.attempts <= self.config.retries:
            retries.append(Entry(blamed.seq, blamed.attempts + 1))
        elif blamed is not None:
            message = f"worker process localhost/{proc.slot} (pid {proc.pid}) died with {cause} while running this item, {blamed.attempts} time(s)"
            self.results.fail(blamed.seq, "WorkerDied", message, worker=f"localhost/{proc.slot}", host="localhost", attempts=blamed.attempts)
        if retries or self.queues:  # else the others finish the run
            self._start(proc.slot, retries)

    def _drain(self, proc: WorkerProcess) -> None:
        """Handle the messages a dead process sent just before it died (still in its pipe)."""
        while True:
            try:
                if not proc.conn.poll():
                    return
                message = proc.conn.recv()
            except (EOFError, OSError):
                return
            if message[0] in ("results", "done"):
                self._receive(proc, message[1])


@hookimpl
def register_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec(
            "pool",
            PoolExecutor,
            config_type=PoolOptions,
            description="a process pool on this machine (--workers N); retries items of dead workers",
        )
    ]
