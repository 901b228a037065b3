"""Flight telemetry as polars frames: read one flight file, derive its motion.

This is the hot path of the app: one ``read_csv`` with the column types forced,
then a few eager frame operations (on files this small, polars' default lazy
engine costs more than it saves) with expressions built once per process. The
slow row-by-row scan in :func:`find_bad_line` only runs after polars has
already rejected a file, to tell the user *which* line is wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from agilab_app_flight import distance as kernel

EARTH_RADIUS_M = 6_371_000.0
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
INDEX_COLUMN = ""  # the unnamed index a pandas ``to_csv`` writes first
REQUIRED = ("date", "aircraft", "long", "lat")
COORDINATES = ("long", "lat", "alt")
MOTION = ("distance_m", "dt_s", "speed_mps")

# Ids like "60" and "007" must stay text in every file, and coordinates must be
# Float64 everywhere, or the parts of one dataset would not share a schema.
READ_TYPES: dict[str, Any] = {
    "date": pl.Utf8,
    "aircraft": pl.Utf8,
    "long": pl.Float64,
    "lat": pl.Float64,
    "alt": pl.Float64,
}


def read_flight(path: Path) -> pl.DataFrame:
    """One flight file as a frame with the reference columns typed (date still text)."""
    return parse_flight(path.read_bytes(), path)


def parse_flight(content: bytes, path: Path) -> pl.DataFrame:
    """The bytes of flight file ``path`` as a frame with the reference columns typed.

    Parsing bytes already in memory is markedly faster than letting polars open
    a small file itself. Raises :class:`ValueError` naming the file and the
    missing columns, or the file and the first malformed line.
    """
    try:
        frame = pl.read_csv(content, schema_overrides=READ_TYPES)
    except pl.exceptions.NoDataError:
        raise ValueError(f"{path}: empty file, expected a header with {', '.join(REQUIRED)}") from None
    except pl.exceptions.PolarsError as exc:
        raise malformed(path, exc) from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    # polars pads a row with too few fields with nulls instead of failing; a
    # null in the last column is the only sign, and then a scan tells apart a
    # short row from a genuinely empty cell.
    if frame.height and frame.get_column(frame.columns[-1]).null_count():
        problem = find_bad_line(path)
        if problem:
            raise ValueError(f"{path}, {problem}")
    return frame


def malformed(path: Path, exc: BaseException) -> ValueError:
    """The error to report when polars rejected ``path``: the bad line if one is found."""
    problem = find_bad_line(path)
    if problem:
        return ValueError(f"{path}, {problem}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ValueError(f"{path}: cannot read flight: {first}")


def find_bad_line(path: Path) -> str | None:
    """First row with the wrong field count, a non-numeric coordinate or a bad date.

    Returns ``"line N: what is wrong"`` (N is the 1-based line in the file), or
    None when every row is well formed. Slow on purpose: it is only the
    diagnosis of a file polars already refused.
    """
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            return None
        width = len(header)
        numbers = [(name, header.index(name)) for name in COORDINATES if name in header]
        date_at = header.index("date") if "date" in header else None
        for row in reader:
            if not row:
                continue
            line = reader.line_num
            if len(row) != width:
                return f"line {line}: {len(row)} field(s) where the header has {width}"
            for name, at in numbers:
                value = row[at]
                if value and not _is_number(value):
                    return f"line {line}: {name} {value!r} is not a number"
            if date_at is not None and row[date_at]:
                try:
                    dt.datetime.strptime(row[date_at], DATE_FORMAT)
                except ValueError:
                    return f"line {line}: date {row[date_at]!r} does not match {DATE_FORMAT}"
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return "_" not in text  # Python accepts 1_000, polars does not


def great_circle_m(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    """Haversine distance in metres between points given in degrees."""
    phi1, phi2 = lat1.radians(), lat2.radians()
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = (lon2 - lon1).radians() / 2
    a = half_dphi.sin().pow(2) + phi1.cos() * phi2.cos() * half_dlambda.sin().pow(2)
    # rounding can push ``a`` a hair above 1 for antipodal points: keep asin defined
    return a.clip(upper_bound=1.0).sqrt().arcsin() * (2 * EARTH_RADIUS_M)


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
    speed = pl.when(pl.col("dt_s") > 0).then(pl.col("distance_m") / pl.col("dt_s"))
    return distance.alias("distance_m"), step.alias("dt_s"), speed.alias("speed_mps")


def track(
    frame: pl.DataFrame,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pl.DataFrame:
    """A read flight as a time-ordered track with its motion columns.

    Parses ``date`` with the exact format (a bad one raises a polars error),
    keeps rows with ``start <= date < end`` (either bound optional), orders rows
    by time (stable, nulls last; skipped when the file is already in order, as
    recorded flights are) and puts columns in one order for every file: the
    reference columns, ``alt`` (null when the file has none), the extra columns
    (the unnamed index dropped), then the motion.
    """
    extras = [c for c in frame.columns if c not in (INDEX_COLUMN, *REQUIRED, *COORDINATES, *MOTION)]
    alt = pl.col("alt") if "alt" in frame.columns else pl.lit(None, dtype=pl.Float64).alias("alt")
    flight = frame.select(pl.col("date").str.strptime(pl.Datetime("us"), DATE_FORMAT), "aircraft", "long", "lat", alt, *extras)
    if start is not None or end is not None:
        date = pl.col("date")
        inside = (date >= start) if end is None else (date < end) if start is None else date.is_between(start, end, closed="left")
        flight = flight.filter(inside)
    dates = flight.get_column("date")
    if dates.null_count() or not dates.is_sorted():
        flight = flight.sort("date", maintain_order=True, nulls_last=True)
    per_aircraft = flight.get_column("aircraft").n_unique() > 1
    distance, step, speed = motion(per_aircraft)
    if kernel.COMPILED and not per_aircraft:
        distance = compiled_steps(flight)
    flight = flight.with_columns(distance, step).with_columns(speed)
    if flight.height and not per_aircraft:
        # pairing the first fix with itself gives null, not 0, when it lacks a position or time
        for name in ("distance_m", "dt_s"):
            if flight[0, name] is None:
                flight[0, name] = 0.0
    return flight


def compiled_steps(flight: pl.DataFrame) -> pl.Series:
    """``distance_m`` of a one-aircraft track computed by the compiled kernel (nulls stay null)."""
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
