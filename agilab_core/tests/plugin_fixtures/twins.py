"""A plugin that registers two apps with the same name."""

from agilab_core import AppSpec, hookimpl
from plugin_fixtures.good import GoodManager


@hookimpl
def register_apps():
    return [
        AppSpec("fixture_twin", GoodManager, "plugin_fixtures.good:GoodWorker", description="first"),
        AppSpec("fixture_twin", GoodManager, "plugin_fixtures.good:GoodWorker", description="second"),
    ]
