"""A run's flight outputs as flat numpy columns, flight by flight, cut into drawable segments.

A *flight* is the fixes of one aircraft in one output file (the flight app
writes one file per input file and aircraft). A flight is cut into *segments*
where it cannot be drawn as one line: a time gap over :data:`GAP_S` or time
going backwards. Fixes without a finite position in range are not drawable:
they are counted, then left out. Longitudes are unwrapped within a segment
(a track over the antimeridian goes on to 181 degrees rather than jumping back
to -179), so no line crosses the whole map.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import attrs
import numpy as np
import polars as pl

from agilab_core import InputError, ItemResult, one_line

#: A gap in time longer than this (seconds) starts a new segment of a flight.
GAP_S = 600.0
#: The columns a flight output needs, and those the page shows when present.
NEEDED = ("lat", "long")
OPTIONAL = ("date", "aircraft", "alt", "speed_mps")
SUFFIXES = (".parquet", ".csv")


@attrs.frozen(eq=False)
class Tracks:
    """Every drawable fix of a run, flights one after the other.

    Flight ``k`` owns rows ``offsets[k]:offsets[k + 1]``; ``starts`` are the
    first rows of every segment (each flight starts one). ``time`` is in epoch
    seconds; ``time``, ``speed`` and ``alt`` hold NaN where unknown.
    ``total`` counts every fix read, ``undrawable`` those left out.
    """

    aircraft: tuple[str, ...]
    flight: tuple[str, ...]
    offsets: np.ndarray
    starts: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    time: np.ndarray
    speed: np.ndarray
    alt: np.ndarray
    total: int
    undrawable: int

    @property
    def size(self) -> int:
        return len(self.lat)


def output_files(output_dir: Path, results: Iterable[ItemResult]) -> list[tuple[Path, str]]:
    """The run's flight output files (Parquet or CSV) and their item ids, in a stable order."""
    found = {}
    for result in results:
        for output in result.outputs:
            relative = PurePosixPath(output.path)
            if relative.suffix in SUFFIXES and not relative.is_absolute() and ".." not in relative.parts:
                found[output.path] = (output_dir / relative, result.item_id)
    return [found[key] for key in sorted(found)]


def partition_aircraft(path: Path) -> str | None:
    """The aircraft named by a hive folder ``aircraft=<id>`` above ``path``, if any."""
    for part in reversed(path.parts[:-1]):
        if part.startswith("aircraft="):
            return unquote(part.removeprefix("aircraft="))
    return None


#: The schema the flight app writes: files that have it are read in one multi-file scan.
STANDARD = {"lat": pl.Float64, "long": pl.Float64, "date": pl.Datetime("us"), "aircraft": pl.String, "alt": pl.Float64, "speed_mps": pl.Float64}


def is_standard(path: Path) -> bool:
    """Whether ``path`` is a Parquet file with the flight app's columns and types (any other is read on its own)."""
    if path.suffix != ".parquet":
        return False
    try:
        schema = pl.read_parquet_schema(path)
    except Exception:  # noqa: BLE001 - read again on its own, which names the problem
        return False
    return all(schema.get(name) == dtype for name, dtype in STANDARD.items())


def columns(names: Iterable[str], schema: Mapping[str, pl.DataType], aircraft: str | None) -> list[pl.Expr]:
    """The page's columns (lat, lon, time, aircraft, speed, alt) from a frame with ``names``."""
    present = set(names)
    return [
        pl.col("lat").cast(pl.Float64, strict=False),
        pl.col("long").cast(pl.Float64, strict=False).alias("lon"),
        _seconds(schema.get("date")),
        (pl.col("aircraft").cast(pl.String) if "aircraft" in present else pl.lit(None, pl.String)).fill_null(pl.lit(aircraft, pl.String)).fill_null("unknown").alias("aircraft"),
        *(
            (pl.col(c).cast(pl.Float64, strict=False) if c in present else pl.lit(None, pl.Float64)).alias(alias)
            for c, alias in (("speed_mps", "speed"), ("alt", "alt"))
        ),
    ]


def read_flight_file(path: Path, index: int) -> pl.DataFrame:
    """One output file with the page's columns and its ``file`` index; :class:`InputError` naming the file."""
    try:
        if path.suffix == ".parquet":
            names = pl.read_parquet_schema(path)
            frame = pl.read_parquet(path, columns=[c for c in (*NEEDED, *OPTIONAL) if c in names])
        else:
            frame = pl.read_csv(path, try_parse_dates=True, infer_schema_length=10_000, schema_overrides={"aircraft": pl.String})  # "0725" stays "0725"
    except FileNotFoundError:
        raise InputError(f"{path}: flight output is missing") from None
    except Exception as exc:  # noqa: BLE001 - polars raises many types for a damaged file
        raise InputError(f"{path}: cannot read flight output: {one_line(exc)}") from None
    missing = [c for c in NEEDED if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: flight output has no column {', '.join(missing)}")
    try:
        return frame.select(*columns(frame.columns, frame.schema, partition_aircraft(path)), pl.lit(index, pl.Int64).alias("file"))
    except Exception as exc:  # noqa: BLE001 - a column of an unexpected type
        raise InputError(f"{path}: flight output has a column of an unexpected type: {one_line(exc)}") from None


def read_standard(paths: list[Path], indexes: list[int]) -> pl.DataFrame:
    """Files of the :data:`STANDARD` schema in one multi-file scan (the ``aircraft`` column names the aircraft).

    The scan tells each row's file by its path; should polars spell a path
    differently from ours, the files are scanned one by one and concatenated
    (the same frame, about 2.5x the CPU).
    """
    wanted = columns(STANDARD, STANDARD, None)
    index = {str(path): k for path, k in zip(paths, indexes, strict=True)}
    try:
        return (
            pl.scan_parquet(paths, include_file_paths="__agilab_path", hive_partitioning=False)
            .select(*wanted, pl.col("__agilab_path").replace_strict(index, return_dtype=pl.Int64).alias("file"))
            .collect()
        )
    except Exception:  # noqa: BLE001 - read them one by one, which names a file at fault
        pass
    try:
        scans = [pl.scan_parquet(path, hive_partitioning=False).select(*wanted, pl.lit(k, pl.Int64).alias("file")) for path, k in zip(paths, indexes, strict=True)]
        return pl.concat(scans).collect()
    except Exception:  # noqa: BLE001 - a file changed since its schema was read: name it
        return pl.concat([read_flight_file(path, k) for path, k in zip(paths, indexes, strict=True)])


def _seconds(dtype: pl.DataType | None) -> pl.Expr:
    if isinstance(dtype, pl.Datetime):
        return (pl.col("date").dt.epoch("us") / 1e6).alias("time")
    if dtype == pl.Date:
        return (pl.col("date").cast(pl.Datetime("us")).dt.epoch("us") / 1e6).alias("time")
    return pl.lit(None, pl.Float64).alias("time")


EMPTY = {"lat": pl.Float64, "lon": pl.Float64, "time": pl.Float64, "aircraft": pl.String, "speed": pl.Float64, "alt": pl.Float64, "file": pl.Int64}


def read_tracks(files: list[tuple[Path, str]]) -> Tracks:
    """Every flight of ``files`` as :class:`Tracks` (see the module docstring for the rules)."""
    standard = [k for k, (path, _) in enumerate(files) if is_standard(path)]
    frames = [read_standard([files[k][0] for k in standard], standard)] if standard else []
    scanned = set(standard)
    frames += [read_flight_file(path, k) for k, (path, _) in enumerate(files) if k not in scanned]
    data = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=EMPTY)
    if len(frames) > 1:
        data = data.sort("file", maintain_order=True)
    return _tracks(data, [name for _, name in files], data.height)


def _tracks(data: pl.DataFrame, names: list[str], total: int) -> Tracks:
    drawable = pl.col("lat").is_finite() & pl.col("lon").is_finite() & (pl.col("lat").abs() <= 90)
    data = data.filter(drawable.fill_null(False))
    offsets = flight_starts(data)
    if data.select("file", "aircraft").gather(offsets).is_duplicated().any():  # a file holding interleaved aircraft
        data = data.sort("file", "aircraft", maintain_order=True)
        offsets = flight_starts(data)
    time = _finite(data["time"])
    first = np.zeros(len(time), dtype=bool)
    first[offsets] = True
    step = np.diff(time, prepend=np.nan)
    first |= (step < 0) | (step > GAP_S)
    starts = np.flatnonzero(first)
    firsts = data.select("file", "aircraft").gather(offsets) if len(offsets) else data.select("file", "aircraft")
    return Tracks(
        aircraft=tuple(firsts["aircraft"].to_list()),
        flight=tuple(names[k] for k in firsts["file"].to_list()),
        offsets=np.append(offsets, len(time)).astype(np.int64),
        starts=starts.astype(np.int64),
        lat=data["lat"].to_numpy().astype(np.float64),
        lon=unwrap_segments(data["lon"].to_numpy().astype(np.float64), starts),
        time=time,
        speed=_finite(data["speed"]),
        alt=_finite(data["alt"]),
        total=total,
        undrawable=total - data.height,
    )


def flight_starts(data: pl.DataFrame) -> np.ndarray:
    """Rows where the file or the aircraft changes."""
    new_flight = (pl.col("file") != pl.col("file").shift(1)) | (pl.col("aircraft") != pl.col("aircraft").shift(1))
    return np.flatnonzero(data.select(new_flight.fill_null(True)).to_series().to_numpy())


def _finite(column: pl.Series) -> np.ndarray:
    """A float column with null, NaN and infinities all as NaN."""
    values = column.cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def unwrap_segments(lon: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Longitudes continuous within each segment: steps over 180 degrees go the short way round.

    Each segment starts at its raw longitude, so segments stay independent.
    """
    if len(lon) == 0:
        return lon
    step = np.diff(lon, prepend=0.0)
    turns = np.round(((step + 180.0) % 360.0 - 180.0 - step) / 360.0)
    turns[starts] = 0.0
    turns = np.cumsum(turns)
    first = np.zeros(len(lon), dtype=np.int64)
    first[starts] = 1
    segment = np.cumsum(first) - 1
    return lon + 360.0 * (turns - turns[starts][segment])
