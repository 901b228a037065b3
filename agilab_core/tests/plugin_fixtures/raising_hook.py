"""A plugin whose registration hook raises."""

from agilab_core import hookimpl


@hookimpl
def register_executors():
    raise OSError("executor registry unreachable\nmore detail")
