"""A plugin whose registration hook returns something that is not an AppSpec."""

from agilab_core import hookimpl


@hookimpl
def register_apps():
    return ["not an app spec"]
