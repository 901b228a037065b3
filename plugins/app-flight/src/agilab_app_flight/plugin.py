"""Registers the ``flight`` app. Imported on every ``agilab`` command, so it stays light.

The worker (``worker.FlightWorker``), the modules it is made of and the
third-party distributions they import (polars, numpy) are derived by the
kernel from the sources, without importing them (polars stays out of the
manager until a run needs it); the settings' defaults are those of
:class:`FlightArgs`; a fresh home gets the sample of :func:`sample.seed`.
"""

from __future__ import annotations

from agilab_app_flight.manager import FlightManager
from agilab_core import AppSpec, hookimpl


@hookimpl
def register_apps() -> list[AppSpec]:
    return [
        AppSpec(
            name="flight",
            manager=FlightManager,
            description="Flight CSV telemetry to a dataset partitioned by aircraft, with distances and speeds.",
            cython_modules=("agilab_app_flight.distance",),
            sample_data="agilab_app_flight.sample:seed",
        )
    ]
