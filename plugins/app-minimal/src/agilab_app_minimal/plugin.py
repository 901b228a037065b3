"""Registers the minimal app. Imported on every ``agilab`` command, so it stays light.

The kernel derives the rest from the sources, without importing them: the
worker is the ``Worker`` subclass of :mod:`.worker`, the worker side is that
module plus the modules of this package it imports, and the worker's
requirements are the installed distributions those modules import.
"""

from __future__ import annotations

from agilab_app_minimal.manager import MinimalManager
from agilab_core import AppSpec, hookimpl


@hookimpl
def register_apps() -> list[AppSpec]:
    return [
        AppSpec(
            "minimal",
            MinimalManager,
            settings="agilab_app_minimal:app_settings.toml",
            description="An AGILab app: keeps the rows of CSV files whose value reaches a threshold, one output file per input file.",
            sample_data="agilab_app_minimal.sample:generate",
        )
    ]
