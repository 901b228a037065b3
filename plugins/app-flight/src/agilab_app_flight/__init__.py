"""AGILab app ``flight``: per-flight CSV telemetry in, a hive-partitioned dataset out.

The manager (:class:`FlightManager`) plans one item per file, named relative
to ``data_in``; the worker (``agilab_app_flight.worker:FlightWorker``) reads
the file under its ``ctx.data_dir``, validates it, adds the distance, time
step and speed between consecutive fixes, and writes
``aircraft=<id>/<whole escaped input path>.parquet``. Synthetic input comes
from ``python -m agilab_app_flight.sample``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FlightArgs", "FlightManager"]


def __getattr__(name: str) -> Any:
    # Lazy: worker venvs ship the worker modules only, and import this package too.
    if name == "FlightArgs":
        from agilab_app_flight.args import FlightArgs

        return FlightArgs
    if name == "FlightManager":
        from agilab_app_flight.manager import FlightManager

        return FlightManager
    raise AttributeError(f"module 'agilab_app_flight' has no attribute {name!r}")
