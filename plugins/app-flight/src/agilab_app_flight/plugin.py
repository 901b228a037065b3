"""Registers the ``flight`` app. Imported on every ``agilab`` command, so it stays light."""

from __future__ import annotations

from agilab_app_flight.manager import FlightManager
from agilab_core import AppSpec, hookimpl


@hookimpl
def register_apps() -> list[AppSpec]:
    return [
        AppSpec(
            name="flight",
            manager=FlightManager,
            worker="agilab_app_flight.worker:FlightWorker",
            settings="agilab_app_flight:app_settings.toml",
            description="Flight CSV telemetry to a dataset partitioned by aircraft, with distances and speeds.",
            worker_modules=(
                "agilab_app_flight.args",
                "agilab_app_flight.distance",
                "agilab_app_flight.names",
                "agilab_app_flight.reader",
                "agilab_app_flight.telemetry",
                "agilab_app_flight.worker",
            ),
            cython_modules=("agilab_app_flight.distance",),
            worker_requirements=("polars", "numpy"),
        )
    ]
