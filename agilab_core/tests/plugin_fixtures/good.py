"""A well-behaved plugin: one app, one executor, one page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from agilab_core import (
    AppSpec,
    Executor,
    ExecutorSpec,
    ItemOutput,
    Manager,
    OnResult,
    PageSpec,
    Worker,
    WorkerTask,
    WorkItem,
    WorkPlan,
    hookimpl,
)


@attrs.frozen
class GoodArgs:
    count: int = 2
    label: str = "x"


class GoodManager(Manager):
    args_type = GoodArgs

    def work_items(self, args: GoodArgs, env: Any) -> list[WorkItem]:
        return [WorkItem(f"g{i}", {"i": i}) for i in range(args.count)]


class GoodWorker(Worker):
    def work(self, item: WorkItem) -> ItemOutput:
        return ItemOutput(rows=1)


class InlineExecutor(Executor):
    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: OnResult) -> None:
        session = task.start("inline/0")
        for ids in plan.assignments:
            for item_id in ids:
                on_result(session.run(items[item_id]))
        session.stop()


def _render(manifest: Any, results: Any) -> str:
    return f"<html><body>{manifest['run_id']}: {len(results)} items</body></html>"


GOOD_APP = AppSpec("fixture_good", GoodManager, "plugin_fixtures.good:GoodWorker", settings="plugin_fixtures:app_settings.toml")


@hookimpl
def register_apps() -> list[AppSpec]:
    return [GOOD_APP]


@hookimpl
def register_executors() -> list[ExecutorSpec]:
    return [ExecutorSpec("fixture_inline", InlineExecutor)]


@hookimpl
def register_pages() -> list[PageSpec]:
    return [PageSpec("fixture_page", _render)]
