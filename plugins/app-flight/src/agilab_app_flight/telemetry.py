"""Flight telemetry as polars frames: a validated flight's motion, per-aircraft totals.

A few eager frame operations (on files this small, polars' default lazy engine
costs more than it saves) with expressions built once per process. Frames come
from :func:`agilab_app_flight.reader.parse_flight`: dates parsed and present,
coordinates finite and in range, or empty (null).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from typing import Any

import polars as pl

from agilab_app_flight import distance as kernel

EARTH_RADIUS_M = 6_371_000.0
MOTION = ("distance_m", "dt_s", "speed_mps")


def great_circle_m(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    """Haversine distance in metres between points given in degrees."""
    phi1, phi2 = lat1.radians(), lat2.radians()
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = (lon2 - lon1).radians() / 2
    a = half_dphi.sin().pow(2) + phi1.cos() * phi2.cos() * half_dlambda.sin().pow(2)
    # rounding can push ``a`` a hair above 1 for antipodal points: keep asin defined
    return a.clip(upper_bound=1.0).sqrt().arcsin() * (2 * EARTH_RADIUS_M)


#: ``speed_mps`` from the ``distance_m`` and ``dt_s`` columns, null where no time
#: passed. A pass of its own: eager frames do not share subexpressions, so
#: computing it inline would compute the distance twice (50 % more motion time).
SPEED = pl.when(pl.col("dt_s") > 0).then(pl.col("distance_m") / pl.col("dt_s")).alias("speed_mps")


@functools.cache
def motion(per_aircraft: bool) -> tuple[pl.Expr, ...]:
    """``distance_m``, ``dt_s``, ``speed_mps`` between consecutive fixes of a time-ordered track.

    Consecutive means consecutive in time for the same aircraft, so the first
    fix (of the file, or of each aircraft when a file holds several) gets 0
    metres and 0 seconds; ``speed_mps`` is null wherever ``dt_s`` is 0 or
    unknown. ``per_aircraft=False`` is the common one-aircraft file: each fix
    is paired with the previous row, the first with itself (hence the zeros),
    without any grouping. Built once per process: building expressions costs
    more than evaluating them on a small file.
    """
    lat, lon, date = pl.col("lat"), pl.col("long"), pl.col("date")
    if per_aircraft:
        first = pl.int_range(pl.len()).over("aircraft") == 0
        distance = (
            pl.when(first)
            .then(0.0)
            .otherwise(great_circle_m(lat.shift(1).over("aircraft"), lon.shift(1).over("aircraft"), lat, lon))
        )
        step = pl.when(first).then(0.0).otherwise((date - date.shift(1).over("aircraft")).dt.total_microseconds() / 1_000_000)
    else:

        def previous(expr: pl.Expr) -> pl.Expr:
            return expr.shift(1, fill_value=expr.first())

        distance = great_circle_m(previous(lat), previous(lon), lat, lon)
        step = (date - previous(date)).dt.total_microseconds() / 1_000_000
    return distance.alias("distance_m"), step.alias("dt_s"), SPEED


def track(
    flight: pl.DataFrame,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pl.DataFrame:
    """A read flight as a time-ordered track with its motion columns appended.

    Keeps rows with ``start <= date < end`` (either bound optional) and orders
    rows by time (stable; skipped when the file is already in order, as
    recorded flights are).
    """
    if start is not None or end is not None:
        date = pl.col("date")
        inside = (date >= start) if end is None else (date < end) if start is None else date.is_between(start, end, closed="left")
        flight = flight.filter(inside)
    if not flight.get_column("date").is_sorted():
        flight = flight.sort("date", maintain_order=True)
    per_aircraft = flight.get_column("aircraft").n_unique() > 1
    distance, step, speed = motion(per_aircraft)
    if kernel.COMPILED and not per_aircraft:
        distance = compiled_steps(flight)
    flight = flight.with_columns(distance, step).with_columns(speed)
    if flight.height and not per_aircraft:
        # pairing the first fix with itself gives null, not 0, when it lacks a position
        if flight[0, "distance_m"] is None:
            flight[0, "distance_m"] = 0.0
    return flight


def compiled_steps(flight: pl.DataFrame) -> pl.Series:
    """``distance_m`` of a one-aircraft track computed by the compiled kernel (nulls stay null)."""
    import numpy as np  # the compiled kernel's buffers; numpy is not loaded otherwise

    lat = flight.get_column("lat").to_numpy()
    lon = flight.get_column("long").to_numpy()
    out = np.empty(flight.height, dtype=np.float64)
    kernel.steps_m(lat, lon, out)
    return pl.Series("distance_m", out, nan_to_null=True)


def aircraft_metrics(frame: pl.DataFrame) -> dict[str | None, dict[str, Any]]:
    """Rows, distance and top speed per aircraft of a track (JSON-safe: no NaN)."""
    ids = frame.get_column("aircraft")
    if frame.height and ids.null_count() == 0 and ids.n_unique() == 1:
        return {ids[0]: _summary(frame.height, frame.get_column("distance_m").sum(), frame.get_column("speed_mps").max())}
    stats = frame.group_by("aircraft", maintain_order=True).agg(
        pl.len().alias("rows"),
        pl.col("distance_m").sum().alias("distance_m"),
        pl.col("speed_mps").max().alias("max_speed_mps"),
    )
    return {
        row["aircraft"]: _summary(row["rows"], row["distance_m"], row["max_speed_mps"]) for row in stats.iter_rows(named=True)
    }


def _summary(rows: int, distance: float | None, top_speed: float | None) -> dict[str, Any]:
    return {"rows": int(rows), "distance_m": _finite(distance) or 0.0, "max_speed_mps": _finite(top_speed)}


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
