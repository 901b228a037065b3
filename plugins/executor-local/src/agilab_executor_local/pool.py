"""``pool``: a process pool on this machine that knows which item a dead worker held.

``concurrent.futures.ProcessPoolExecutor`` breaks as a whole when one worker
dies and cannot say which item killed it. This pool keeps one pipe per worker
process and a shared slot where the worker writes the sequence number of the
item it is running, so a death costs one retry of one item on a fresh process,
and everything else carries on.

Items travel in batches (large while a worker's queue is long, shrinking
towards the end so the tail stays balanced); results come back per batch, or
every ``flush_seconds`` for slow items so progress keeps moving. A worker whose
queue runs dry steals half of the longest remaining queue.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing as mp
import multiprocessing.spawn as mp_spawn
import os
import signal
import subprocess
import sys
import time
import traceback
import types
from collections import deque
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection, wait
from typing import Any

import attrs

from agilab_core import (
    ITEM_FAILED,
    THREAD_VARS,
    Executor,
    ExecutorSpec,
    ItemError,
    ItemResult,
    OnResult,
    UsageError,
    WorkerPackage,
    WorkerSlot,
    WorkersSpec,
    WorkerTask,
    WorkItem,
    WorkPlan,
    hookimpl,
    threads_per_worker,
)

START_METHODS = ("spawn", "forkserver", "fork")
MAX_BATCH = 256
IDLE = -1


def _non_negative(_: Any, attribute: attrs.Attribute, value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


@attrs.frozen
class PoolOptions:
    """``-o`` options of the ``pool`` executor."""

    start_method: str = attrs.field(default="spawn", validator=attrs.validators.in_(START_METHODS))
    batch_size: int = attrs.field(default=0, validator=_non_negative)  # 0: adaptive
    threads_per_worker: int = attrs.field(default=0, validator=_non_negative)  # 0: cores / workers
    retries: int = attrs.field(default=1, validator=_non_negative)
    flush_seconds: float = attrs.field(default=0.2, validator=_non_negative)


# -- inside a worker process -------------------------------------------------------


def _serve(conn: Connection, task: WorkerTask, worker_id: str, current: Any, threads: int, flush_seconds: float) -> None:
    """Worker process main loop: start the app's worker once, then run batches."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if threads:
        for var in THREAD_VARS:
            os.environ.setdefault(var, str(threads))
    try:
        session = task.start(worker_id)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        conn.send(("failed", f"{type(exc).__name__}: {exc}".splitlines()[0], traceback.format_exc()))
        return
    conn.send(("ready",))
    run = session.run
    monotonic = time.monotonic
    while True:
        batch = conn.recv()
        if batch is None:
            break
        out: list[ItemResult] = []
        last = monotonic()
        for seq, item, attempts in batch:
            current.value = seq
            out.append(run(item, attempts))
            if flush_seconds and monotonic() - last >= flush_seconds:
                conn.send(("results", out))
                out = []
                last = monotonic()
        current.value = IDLE
        conn.send(("done", out))
    session.stop()
    conn.close()


# -- in the manager process -----------------------------------------------------


@attrs.define(eq=False)
class _Proc:
    slot: int
    process: Any
    conn: Connection
    current: Any
    ready: bool = False
    stopping: bool = False
    batch: list[tuple[int, WorkItem, int]] = attrs.field(factory=list)
    reported: set[int] = attrs.field(factory=set)
    first: list[tuple[int, int]] = attrs.field(factory=list)  # (seq, attempts) to run before anything else


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "an unknown cause"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class PoolError(RuntimeError):
    """The pool cannot keep worker processes alive (they die while starting)."""


class PoolExecutor(Executor):
    """Runs items on ``--workers N`` processes of this machine."""

    default_workers = str(os.cpu_count() or 1)
    isolated = True
    worker_distributions = ("agilab-executor-local",)

    def __init__(self, config: PoolOptions, workers: WorkersSpec) -> None:
        super().__init__(config, workers)
        self._procs: list[_Proc] = []
        self._python: str | None = None  # a worker venv's interpreter, when not this one
        self._sys_path: list[str] = []

    @classmethod
    def slots(cls, config: PoolOptions, workers: WorkersSpec) -> list[WorkerSlot]:
        if not workers.is_local:
            raise UsageError(f"executor pool runs on this machine only; --workers {workers} names other hosts (use dask or ssh)")
        return [WorkerSlot("localhost", i) for i in range(workers.total)]

    def install(self, package: WorkerPackage, env: Any) -> None:
        if package.python != sys.executable:
            self._python = package.python
            self._sys_path = _sys_path_of(package.python)

    def info(self) -> dict[str, Any]:
        method = "spawn" if self._python else self.config.start_method
        return {"start_method": method, "processes": self.workers.total, "python": self._python or sys.executable}

    # -- running ------------------------------------------------------------------

    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: OnResult) -> None:
        cfg: PoolOptions = self.config
        # Another interpreter (a worker venv) can only be started fresh: spawn.
        ctx = mp.get_context("spawn" if self._python else cfg.start_method)
        nslots = len(plan.slots)
        threads = cfg.threads_per_worker or threads_per_worker(nslots)
        order: list[WorkItem] = []
        queues: list[deque[tuple[int, int]]] = []
        for ids in plan.assignments:
            q: deque[tuple[int, int]] = deque()
            for item_id in ids:
                q.append((len(order), 1))
                order.append(items[item_id])
            queues.append(q)
        outstanding = len(order)
        start_failures = 0

        def spawn(slot: int) -> _Proc:
            parent, child = ctx.Pipe(duplex=True)
            current = ctx.RawValue("q", IDLE)
            process = ctx.Process(
                target=_serve,
                args=(child, task, f"localhost/{slot}", current, threads, cfg.flush_seconds),
                name=f"agilab-pool-{slot}",
                daemon=True,
            )
            if self._python:
                with _interpreter(self._python, self._sys_path):
                    process.start()
            else:
                process.start()
            child.close()
            proc = _Proc(slot, process, parent, current)
            self._procs.append(proc)
            return proc

        def next_batch(proc: _Proc) -> list[tuple[int, WorkItem, int]]:
            if proc.first:
                picked, proc.first = proc.first, []
                return [(seq, order[seq], attempts) for seq, attempts in picked]
            q = queues[proc.slot]
            if not q:
                victim = max(queues, key=len)
                take = len(victim) // 2 if len(victim) > 1 else len(victim)
                for _ in range(take):
                    q.appendleft(victim.pop())
            size = cfg.batch_size or max(1, min(MAX_BATCH, math.ceil(len(q) / 8)))
            return [(seq, order[seq], attempts) for seq, attempts in (q.popleft() for _ in range(min(size, len(q))))]

        def dispatch(proc: _Proc) -> None:
            batch = next_batch(proc)
            proc.batch, proc.reported = batch, set()
            if batch:
                proc.conn.send(batch)
            else:
                proc.stopping = True
                proc.conn.send(None)

        def receive(proc: _Proc, results: list[ItemResult]) -> None:
            nonlocal outstanding
            by_id = {order[seq].id: seq for seq, _, _ in proc.batch}
            for result in results:
                proc.reported.add(by_id[result.item_id])
                outstanding -= 1
                on_result(result)

        def handle(proc: _Proc, msg: tuple[Any, ...]) -> None:
            kind = msg[0]
            if kind == "ready":
                proc.ready = True
                dispatch(proc)
            elif kind == "results":
                receive(proc, msg[1])
            elif kind == "done":
                receive(proc, msg[1])
                dispatch(proc)
            elif kind == "failed":
                raise PoolError(f"worker localhost/{proc.slot} could not start the app's worker: {msg[1]}")

        def died(proc: _Proc) -> None:
            nonlocal outstanding, start_failures
            while True:  # results sent just before the death are still in the pipe
                try:
                    if not proc.conn.poll():
                        break
                    handle(proc, proc.conn.recv())
                except (EOFError, OSError):
                    break
            proc.process.join(timeout=1)
            cause = _describe_exit(proc.process.exitcode)
            self._procs.remove(proc)
            proc.conn.close()
            if proc.stopping and not proc.batch:
                return
            if not proc.ready:
                start_failures += 1
                if start_failures > 2 * nslots:
                    raise PoolError(f"pool worker processes keep dying while starting ({cause})")
            unreported = [(seq, attempts) for seq, _, attempts in proc.batch if seq not in proc.reported]
            blamed = next(((s, a) for s, a in unreported if s == proc.current.value), None)
            for seq, attempts in reversed(unreported):
                if (seq, attempts) != blamed:
                    queues[proc.slot].appendleft((seq, attempts))
            fresh = spawn(proc.slot)
            fresh.first = list(proc.first)  # a retry whose process died starting still gets a fresh one
            if blamed is None:
                return
            seq, attempts = blamed
            if attempts <= cfg.retries:
                fresh.first.append((seq, attempts + 1))
                return
            now = time.time()
            outstanding -= 1
            on_result(
                ItemResult(
                    item_id=order[seq].id,
                    status=ITEM_FAILED,
                    worker=f"localhost/{proc.slot}",
                    host="localhost",
                    started=now,
                    finished=now,
                    attempts=attempts,
                    error=ItemError(
                        "WorkerDied",
                        f"worker process localhost/{proc.slot} (pid {proc.process.pid}) died with {cause} "
                        f"while running this item, {attempts} time(s)",
                    ),
                )
            )

        for slot in range(nslots):
            spawn(slot)
        while outstanding > 0:
            live = list(self._procs)
            if not live:
                raise PoolError("no pool worker process is left")
            waitables: dict[Any, _Proc] = {}
            for p in live:
                waitables[p.conn] = p
                waitables[p.process.sentinel] = p
            for ready in wait(list(waitables)):
                proc = waitables[ready]
                if proc not in self._procs:
                    continue
                if ready is proc.conn:
                    try:
                        msg = proc.conn.recv()
                    except (EOFError, OSError):
                        died(proc)
                        continue
                    handle(proc, msg)
                elif not proc.conn.poll():  # else read what it sent first; the death comes next round
                    died(proc)
        self._stop_all()

    def _stop_all(self) -> None:
        for proc in self._procs:
            if not proc.stopping:
                try:
                    proc.conn.send(None)
                except OSError:
                    pass
                proc.stopping = True

    def close(self) -> None:
        """Stop every worker process: politely, then firmly."""
        self._stop_all()
        deadline = time.monotonic() + 2.0
        for proc in self._procs:
            proc.process.join(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self._procs:
            if proc.process.is_alive():
                proc.process.terminate()
                proc.process.join(timeout=1.0)
            if proc.process.is_alive():
                proc.process.kill()
                proc.process.join(timeout=1.0)
            proc.conn.close()
        self._procs.clear()


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


def _sys_path_of(python: str) -> list[str]:
    """The module search path of another interpreter (its own site-packages, not ours)."""
    try:
        out = subprocess.run([python, "-c", "import json, sys; print(json.dumps(sys.path))"], capture_output=True, text=True, check=True, timeout=60)
        return list(json.loads(out.stdout))
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise UsageError(f"executor pool: cannot start worker interpreter {python}: {exc}") from None


@contextlib.contextmanager
def _interpreter(python: str, sys_path: list[str]) -> Iterator[None]:
    """Start spawn children with ``python`` and nothing of this interpreter.

    A spawned child inherits the parent's ``sys.path`` and re-imports its main
    script; a worker venv must see neither (they would import the manager's
    copies of the app and its CLI). Both are swapped only while ``start()``
    writes the child's preparation data, then restored.
    """
    saved_exe, saved_path, saved_main = mp_spawn.get_executable(), sys.path[:], sys.modules["__main__"]
    mp_spawn.set_executable(python)
    sys.path[:] = sys_path
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = saved_main
        sys.path[:] = saved_path
        mp_spawn.set_executable(saved_exe)
