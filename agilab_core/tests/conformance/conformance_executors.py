"""Executors for proving the conformance suite: two that honour the contract, and broken ones, each wrong in one way.

``threads`` runs each plan slot on a thread of this process (the example of
docs/testing.md); ``spawn`` runs every attempt at an item in a fresh Python
process and retries an item whose process died. Each broken executor is one
of them with a single bug that real executors have had; ``test_conformance_proof.py``
shows the matching conformance test fails on it.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import Any

import attrs

from agilab_core import Executor, ExecutorSpec, ItemResult, Results, WorkerTask, WorkItem, WorkPlan, hookimpl

# -- two executors that honour the contract ------------------------------------------------


class ThreadsExecutor(Executor):
    """Each plan slot's items on a thread of its own, in this process."""

    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: Any) -> None:
        results = Results(items, on_result)
        for slot, ids in zip(plan.slots, plan.assignments, strict=True):
            results.start(self.serve, results, task, slot.id, [items[i] for i in ids], name=f"threads-{slot.id}")
        results.wait()  # on_result runs here; a thread's exception is raised here

    def serve(self, results: Results, task: WorkerTask, slot_id: str, work: list[WorkItem]) -> None:
        session = task.start(slot_id)
        try:
            for item in work:
                if results.stopping.is_set():
                    return
                results.post(session.run(item))
        finally:
            session.stop()


#: A child process runs one attempt: ``(task, slot id, item, attempts)`` in on stdin, ``(kind, value)`` out on stdout.
CHILD = """
import pickle, sys
task, slot, item, attempts = pickle.load(sys.stdin.buffer)
try:
    session = task.start(slot)
except Exception as exc:
    pickle.dump(("failed", f"{type(exc).__name__}: {exc}"), sys.stdout.buffer)
    raise SystemExit(0)
result = session.run(item, attempts)
session.stop()
pickle.dump(("ok", result), sys.stdout.buffer)
"""

class SpawnExecutor(ThreadsExecutor):
    """Every attempt at an item in a fresh process; an item whose process died is run once more."""

    retries = 1

    def serve(self, results: Results, task: WorkerTask, slot_id: str, work: list[WorkItem]) -> None:
        for item in work:
            if results.stopping.is_set():
                return
            results.post(self.attempt(task, slot_id, item, 1))

    def attempt(self, task: WorkerTask, slot_id: str, item: WorkItem, attempts: int) -> ItemResult:
        done = subprocess.run([sys.executable, "-c", CHILD], input=pickle.dumps((task, slot_id, item, attempts)), capture_output=True)
        if done.returncode == 0:
            kind, value = pickle.loads(done.stdout)
            if kind == "failed":
                raise RuntimeError(f"worker {slot_id} could not start the app's worker: {value}")
            return value
        if attempts <= self.retries:
            return self.attempt(task, slot_id, item, attempts + 1)
        message = f"worker process died with exit code {done.returncode} while running this item, {attempts} time(s)"
        return ItemResult.failure(item.id, "WorkerDied", message, worker=slot_id, host="localhost", attempts=attempts)


# -- broken executors, one bug each ---------------------------------------------------------


class TwiceExecutor(ThreadsExecutor):
    """Runs every item twice and reports the second result only: results alone look right."""

    def serve(self, results: Results, task: WorkerTask, slot_id: str, work: list[WorkItem]) -> None:
        session = task.start(slot_id)
        for item in work:
            session.run(item)
            results.post(session.run(item))
        session.stop()


class SwallowingExecutor(ThreadsExecutor):
    """Swallows a worker's start-up exception: its items then show only "no result"."""

    def serve(self, results: Results, task: WorkerTask, slot_id: str, work: list[WorkItem]) -> None:
        try:
            super().serve(results, task, slot_id, work)
        except Exception:  # noqa: BLE001, S110 - the bug this executor stands for
            pass


class ForeignThreadExecutor(ThreadsExecutor):
    """Calls ``on_result`` from its own threads."""

    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: Any) -> None:
        self.on_result = on_result
        super().run(plan, items, task, on_result)

    def serve(self, results: Results, task: WorkerTask, slot_id: str, work: list[WorkItem]) -> None:
        session = task.start(slot_id)
        for item in work:
            self.on_result(session.run(item))
        session.stop()


class CloseOnceExecutor(ThreadsExecutor):
    """``close()`` raises the second time."""

    closed = False

    def close(self) -> None:
        if self.closed:
            raise RuntimeError("closed already")
        self.closed = True


class ForgetfulExecutor(SpawnExecutor):
    """Retries an item whose process died, but reports it as one attempt."""

    def attempt(self, task: WorkerTask, slot_id: str, item: WorkItem, attempts: int) -> ItemResult:
        return attrs.evolve(super().attempt(task, slot_id, item, attempts), attempts=1)


class InventingExecutor(ThreadsExecutor):
    """Starts its workers under ids of its own, not the plan's slot ids."""

    def serve(self, results: Results, task: WorkerTask, slot_id: str, work: list[WorkItem]) -> None:
        super().serve(results, task, f"thread-{slot_id.rpartition('/')[2]}", work)


#: Set by the tests once they have seen the thread that ``leaky`` leaves behind, so it ends.
RELEASE_LEFT_THREADS = threading.Event()


class LeakyExecutor(ThreadsExecutor):
    """Starts a thread of its own that ``close()`` never stops."""

    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: Any) -> None:
        threading.Thread(target=RELEASE_LEFT_THREADS.wait, name="leaky-heartbeat", daemon=True).start()
        super().run(plan, items, task, on_result)


#: Processes that ``orphaning`` started, killed by the tests once they have seen them.
LEFT_PROCESSES: list[subprocess.Popen[bytes]] = []


class OrphaningExecutor(ThreadsExecutor):
    """Starts a helper process that ``close()`` never stops."""

    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: Any) -> None:
        LEFT_PROCESSES.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]))
        super().run(plan, items, task, on_result)


class NoRetryExecutor(SpawnExecutor):
    """Gives up an item at its worker's first death."""

    retries = 0


class StopAtFailureExecutor(ThreadsExecutor):
    """Gives up the whole run at the first failed item."""

    def serve(self, results: Results, task: WorkerTask, slot_id: str, work: list[WorkItem]) -> None:
        session = task.start(slot_id)
        for item in work:
            result = session.run(item)
            if not result.ok:
                raise RuntimeError(f"item {item.id} failed")
            results.post(result)
        session.stop()


@attrs.define
class UntypedOptions:
    depth = attrs.field(default=1)


class UntypedOptionsExecutor(ThreadsExecutor):
    """Takes an option without a type: ``-o depth=3`` would reach it as a string."""


SPECS = [
    ExecutorSpec("threads", ThreadsExecutor),
    ExecutorSpec("spawn", SpawnExecutor),
    ExecutorSpec("twice", TwiceExecutor),
    ExecutorSpec("swallowing", SwallowingExecutor),
    ExecutorSpec("foreign-thread", ForeignThreadExecutor),
    ExecutorSpec("close-once", CloseOnceExecutor),
    ExecutorSpec("forgetful", ForgetfulExecutor),
    ExecutorSpec("inventing", InventingExecutor),
    ExecutorSpec("leaky", LeakyExecutor),
    ExecutorSpec("orphaning", OrphaningExecutor),
    ExecutorSpec("no-retry", NoRetryExecutor),
    ExecutorSpec("stop-at-failure", StopAtFailureExecutor),
    ExecutorSpec("untyped-options", UntypedOptionsExecutor, config_type=UntypedOptions),
]


class ConformanceExecutors:
    """Registers every executor of this module."""

    @hookimpl
    def register_executors(self) -> list[ExecutorSpec]:
        return SPECS
