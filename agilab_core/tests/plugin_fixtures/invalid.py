"""Plugins that each register one invalid thing (entry points name the object).

Each object below is a plugin of its own: ``plugin_fixtures.invalid:NAME``.
Registration must fail it with one line naming the fault, and leave the
others working.
"""

from __future__ import annotations

from types import SimpleNamespace

from agilab_core import AppSpec, ExecutorSpec, Manager, PageSpec, hookimpl
from plugin_fixtures.good import GoodArgs, GoodManager, InlineExecutor

WORKER = "plugin_fixtures.good:GoodWorker"


def _apps(*specs: AppSpec) -> SimpleNamespace:
    return SimpleNamespace(register_apps=hookimpl(lambda: list(specs)))


def _executors(*specs: ExecutorSpec) -> SimpleNamespace:
    return SimpleNamespace(register_executors=hookimpl(lambda: list(specs)))


def _pages(*specs: PageSpec) -> SimpleNamespace:
    return SimpleNamespace(register_pages=hookimpl(lambda: list(specs)))


class NoArgsManager(Manager):
    """Forgets ``args_type``."""


class DictArgsManager(Manager):
    args_type = dict


class NotAManager:
    args_type = GoodArgs


class NotAnExecutor:
    def run(self, plan, items, task, on_result) -> None: ...


no_args_type = _apps(AppSpec("fixture_no_args", NoArgsManager, WORKER))
args_not_attrs = _apps(AppSpec("fixture_dict_args", DictArgsManager, WORKER))
manager_not_a_manager = _apps(AppSpec("fixture_not_manager", NotAManager, WORKER))  # type: ignore[arg-type]
worker_dotted = _apps(AppSpec("fixture_dotted_worker", GoodManager, "plugin_fixtures.good.GoodWorker"))
worker_nowhere = _apps(AppSpec("fixture_worker_nowhere", GoodManager, "plugin_fixtures.nowhere:Worker"))
name_with_spaces = _apps(AppSpec("Fixture App", GoodManager, WORKER))
name_too_long = _executors(ExecutorSpec("x" * 65, InlineExecutor))
executor_not_an_executor = _executors(ExecutorSpec("fixture_not_executor", NotAnExecutor))  # type: ignore[arg-type]
config_not_attrs = _executors(ExecutorSpec("fixture_dict_config", InlineExecutor, config_type=dict))
page_not_a_page = SimpleNamespace(register_pages=hookimpl(lambda: [lambda manifest: "<html></html>"]))
render_not_callable = _pages(PageSpec("fixture_text_render", "<html></html>"))  # type: ignore[arg-type]
render_needs_out = _pages(PageSpec("fixture_old_render", lambda manifest, run_dir, out: None))
can_show_not_callable = _pages(PageSpec("fixture_can_show", lambda record: "", can_show="never"))  # type: ignore[arg-type]
