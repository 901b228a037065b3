"""Executor ``{{ cookiecutter.name }}``: each slot of the plan on a thread of this process.

The parts every executor keeps, whatever its transport: the plan's items as
one queue per slot (:class:`agilab_core.SlotQueues`, with stealing so the tail
stays balanced), one worker session per slot started with the slot's id (so
results name the plan's slots), and every result handed to ``on_result`` on
the thread that called :meth:`run` (:class:`agilab_core.Results`: threads
``post``, ``wait`` delivers, and an exception escaping a thread, such as a
worker that cannot start the app, is raised there with its real cause).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import attrs

from agilab_core import (
    Executor,
    ExecutorSpec,
    OnResult,
    Results,
    SlotQueues,
    UsageError,
    WorkerSlot,
    WorkersSpec,
    WorkerTask,
    WorkItem,
    WorkPlan,
    hookimpl,
    in_range,
)

NAME = "{{ cookiecutter.name }}"


@attrs.frozen
class {{ cookiecutter.__title }}Options:
    """``-o`` options, checked (one line naming the option) before any run folder exists."""

    batch_size: int = attrs.field(default=1, validator=in_range(1, 10_000))


class {{ cookiecutter.__title }}Executor(Executor):
    """Runs the plan's slots on threads of this process, one app worker per slot."""

    default_workers = "2"

    def __init__(self, config: {{ cookiecutter.__title }}Options, workers: WorkersSpec, report: Any = None) -> None:
        super().__init__(config, workers, report)
        self._results: Results | None = None
        self._threads = 0

    @classmethod
    def slots(cls, config: {{ cookiecutter.__title }}Options, workers: WorkersSpec) -> list[WorkerSlot]:
        if not workers.is_local:
            raise UsageError(f"executor {NAME} runs on this machine only; --workers {workers} names other hosts")
        return workers.slots()

    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: OnResult) -> None:
        queues = SlotQueues(plan, items)
        results = Results(queues.items, on_result)
        lock = threading.Lock()  # SlotQueues is not thread-safe: one taker at a time
        busy = [index for index in range(len(plan.slots)) if queues.waiting(index)] or [0]
        self._results, self._threads = results, len(busy)
        self.report(f"{NAME}: {len(busy)} worker thread(s)")
        try:
            for index in busy:
                slot = plan.slots[index]
                results.start(self._work_on_slot, index, slot, queues, lock, results, task, name=f"{NAME}-{slot.id}")
            results.wait()  # delivers results here; raises what escaped a thread
        finally:
            self._results = None
        if results.outstanding:  # every thread ended, yet items are left: say which, never drop them silently
            for seq, item in enumerate(queues.items):
                if item.id not in results.reported:
                    results.fail(seq, "ExecutorError", f"executor {NAME} ended without running this item", worker="none", host="localhost")

    def _work_on_slot(
        self, index: int, slot: WorkerSlot, queues: SlotQueues, lock: threading.Lock, results: Results, task: WorkerTask
    ) -> None:
        """One slot's thread: start the app's worker, take batches until none is left or the run is over."""
        session = task.start(slot.id)  # raises (on the run's thread, through Results.wait) if the app cannot start
        try:
            while not results.stopping.is_set():
                with lock:
                    batch = queues.take(index, self.config.batch_size)
                if not batch:
                    return
                for entry in batch:
                    results.post(session.run(queues.item(entry), attempts=entry.attempts))
        finally:
            session.stop()

    def info(self) -> dict[str, Any]:
        return {"threads": self._threads}

    def close(self) -> None:
        """Tell running threads to stop after their current item; safe to call twice."""
        results, self._results = self._results, None
        if results is not None:
            results.stopping.set()


@hookimpl
def register_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec(
            NAME,
            {{ cookiecutter.__title }}Executor,
            config_type={{ cookiecutter.__title }}Options,
            description="{{ cookiecutter.description|replace('"', "'") }}",
        )
    ]
