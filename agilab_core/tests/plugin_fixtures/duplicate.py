"""A plugin that registers an executor named ``local`` (already taken) and an app."""

from agilab_core import AppSpec, ExecutorSpec, hookimpl
from plugin_fixtures.good import GoodManager, InlineExecutor


@hookimpl
def register_apps():
    return [AppSpec("fixture_dup_app", GoodManager, "plugin_fixtures.good:GoodWorker")]


@hookimpl
def register_executors():
    return [ExecutorSpec("local", InlineExecutor)]
