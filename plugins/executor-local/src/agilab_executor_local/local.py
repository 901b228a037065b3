"""``local``: every item in the calling process, in plan order.

No process boundary, no pickling: the fastest way to run small jobs and the
one where a debugger or a traceback shows the app's own code directly.
"""

from __future__ import annotations

from collections.abc import Mapping

from agilab_core import (
    Executor,
    ExecutorSpec,
    OnResult,
    UsageError,
    WorkerSlot,
    WorkersSpec,
    WorkerTask,
    WorkItem,
    WorkPlan,
    hookimpl,
)


class LocalExecutor(Executor):
    """Runs items sequentially in this process (one worker slot)."""

    @classmethod
    def slots(cls, config: object, workers: WorkersSpec) -> list[WorkerSlot]:
        if not workers.is_local:
            raise UsageError(f"executor local runs in this process only; --workers {workers} names other hosts")
        return [WorkerSlot("localhost", 0)]

    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: OnResult) -> None:
        session = task.start("localhost/0")
        try:
            for ids in plan.assignments:
                for item_id in ids:
                    on_result(session.run(items[item_id]))
        finally:
            session.stop()


@hookimpl
def register_executors() -> list[ExecutorSpec]:
    return [ExecutorSpec("local", LocalExecutor, description="in-process, sequential; the debugging path")]
