"""AGILab ``agilab new``: cookiecutter templates for new app, executor and page plugins.

The templates are this package's data (``templates/<kind>/``); the command is
registered through the ``register_commands`` hook (:mod:`.command`).
"""
