"""A plugin with a typo in a hook name (``register_app`` for ``register_apps``)."""

from agilab_core import hookimpl


@hookimpl
def register_app():  # misspelled on purpose
    return []
