"""Registers the {{ cookiecutter.name }} app. Imported on every ``agilab`` command, so it stays light.

The kernel derives the rest from the sources, without importing them: the
worker is the ``Worker`` subclass of :mod:`.worker`, the worker side is that
module plus the modules of this package it imports, and the worker's
requirements are the installed distributions those modules import.
"""

from __future__ import annotations

from {{ cookiecutter.__package }}.manager import {{ cookiecutter.__title }}Manager
from agilab_core import AppSpec, hookimpl


@hookimpl
def register_apps() -> list[AppSpec]:
    return [
        AppSpec(
            "{{ cookiecutter.name }}",
            {{ cookiecutter.__title }}Manager,
            settings="{{ cookiecutter.__package }}:app_settings.toml",
            description="{{ cookiecutter.description|replace('"', "'") }}",
            sample_data="{{ cookiecutter.__package }}.sample:generate",
        )
    ]
