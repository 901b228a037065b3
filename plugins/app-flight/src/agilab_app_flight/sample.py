"""Synthetic flight files in the reference schema, for demos, tests and benchmarks.

    python -m agilab_app_flight.sample OUT --files 2000 --rows 1500 --seed 1 \\
        --min-rows 100 --max-rows 40000 --sparse 0.33

Each file is one flight of one aircraft along the great circle between two real
airports, sampled at 1 Hz: a climb, a cruise near 230 m/s and a descent, with a
little position and altitude noise. Aircraft fly several flights in a row (each
one leaves from where the previous one landed), and their ids mix numeric-looking
(``"60"``, ``"0412"``) and hex ICAO-like (``"3c4b26"``) strings, which is what
makes id typing matter downstream. With ``--sparse F``, a fraction F of the
files lose their altitude on 1 to 10 % of their rows (an empty last cell, as
receivers drop it), the rest of every file being the same as without it. The
same arguments always give byte-identical files.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import polars as pl

EARTH_RADIUS_M = 6_371_000.0
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
HEADER = b",date,aircraft,long,lat,alt\n"
EPOCH = np.datetime64("2021-01-01T00:00:00", "s")

# (ICAO code, latitude, longitude) of large airports on every continent.
AIRPORTS: tuple[tuple[str, float, float], ...] = (
    ("KJFK", 40.6413, -73.7781),
    ("KLAX", 33.9416, -118.4085),
    ("KORD", 41.9742, -87.9073),
    ("KATL", 33.6407, -84.4277),
    ("KSFO", 37.6213, -122.3790),
    ("KSEA", 47.4502, -122.3088),
    ("KDEN", 39.8561, -104.6737),
    ("KMIA", 25.7959, -80.2870),
    ("CYYZ", 43.6777, -79.6248),
    ("MMMX", 19.4361, -99.0719),
    ("SBGR", -23.4356, -46.4731),
    ("SAEZ", -34.8222, -58.5358),
    ("EGLL", 51.4700, -0.4543),
    ("LFPG", 49.0097, 2.5479),
    ("LFBO", 43.6291, 1.3638),
    ("LFMN", 43.6584, 7.2159),
    ("EDDF", 50.0379, 8.5622),
    ("EHAM", 52.3105, 4.7683),
    ("LEMD", 40.4983, -3.5676),
    ("LIRF", 41.8003, 12.2389),
    ("LSZH", 47.4582, 8.5555),
    ("LTFM", 41.2753, 28.7519),
    ("UUEE", 55.9726, 37.4146),
    ("OMDB", 25.2532, 55.3657),
    ("HECA", 30.1219, 31.4056),
    ("FAOR", -26.1392, 28.2460),
    ("VIDP", 28.5562, 77.1000),
    ("VHHH", 22.3080, 113.9185),
    ("WSSS", 1.3644, 103.9915),
    ("RJTT", 35.5494, 139.7798),
    ("RKSI", 37.4602, 126.4407),
    ("ZBAA", 40.0799, 116.6031),
    ("YSSY", -33.9399, 151.1753),
    ("NZAA", -37.0082, 174.7850),
)

_LAT = np.radians([a[1] for a in AIRPORTS])
_LON = np.radians([a[2] for a in AIRPORTS])
_UNIT = np.stack([np.cos(_LAT) * np.cos(_LON), np.cos(_LAT) * np.sin(_LON), np.sin(_LAT)], axis=1)
# Great-circle distance between every pair of airports, in metres.
_ROUTES_M = EARTH_RADIUS_M * np.arccos(np.clip(_UNIT @ _UNIT.T, -1.0, 1.0))

FLIGHTS_PER_AIRCRAFT = 5
ROWS_SIGMA = 0.9  # spread of the lognormal file sizes when --min-rows/--max-rows are given


def aircraft_ids(count: int, rng: np.random.Generator) -> list[str]:
    """Unique ids: about a third numeric-looking (some with leading zeros), the rest hex."""
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < count:
        kind = rng.random()
        if kind < 0.25:
            candidate = str(int(rng.integers(1, 10_000)))
        elif kind < 0.35:
            candidate = f"{int(rng.integers(0, 1000)):04d}"
        else:
            candidate = f"{int(rng.integers(0, 1 << 24)):06x}"
        if candidate not in seen:
            seen.add(candidate)
            ids.append(candidate)
    return ids


def file_rows(files: int, rows: int, rng: np.random.Generator, min_rows: int | None, max_rows: int | None) -> np.ndarray:
    """Rows per file: all ``rows``, or lognormal with mean ``rows`` clipped to the bounds."""
    if min_rows is None and max_rows is None:
        return np.full(files, rows, dtype=np.int64)
    low = 1 if min_rows is None else min_rows
    high = 10 * rows if max_rows is None else max_rows
    mu = math.log(rows) - ROWS_SIGMA**2 / 2
    sizes = np.rint(rng.lognormal(mu, ROWS_SIGMA, files))
    return np.clip(sizes, low, high).astype(np.int64)


def fly(origin: int, n: int, rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """One flight of ``n`` seconds leaving airport ``origin``.

    Returns the destination airport and per-second longitude, latitude (degrees)
    and altitude (metres). The destination is the airport whose distance best
    fits the distance flown; when it is close enough, speeds are scaled a little
    so the flight ends there, otherwise the file is a window of a longer flight.
    """
    t = np.arange(n, dtype=np.float64)
    climb = min(1500.0, 0.25 * n)
    descent = min(1800.0, 0.3 * n)
    cruise_speed = rng.normal(230.0, 8.0)
    knots = [0.0, climb, n - descent, float(n)]
    speed = np.interp(t, knots, [80.0, cruise_speed, cruise_speed, 75.0])
    speed += rng.normal(0.0, 0.8, n)
    flown = np.cumsum(speed) - speed[0]
    total = flown[-1] if n > 1 else 0.0

    routes = _ROUTES_M[origin].copy()
    routes[origin] = np.inf
    farther = np.where(routes >= total, routes, np.inf)
    dest = int(np.argmin(farther)) if np.isfinite(farther).any() else int(np.argmax(np.where(np.isfinite(routes), routes, -1)))
    route = _ROUTES_M[origin, dest]
    if total > 0 and route <= 1.15 * total:
        flown *= route / total
    fraction = flown / route

    a, b = _UNIT[origin], _UNIT[dest]
    omega = route / EARTH_RADIUS_M
    wa = np.sin((1.0 - fraction) * omega) / math.sin(omega)
    wb = np.sin(fraction * omega) / math.sin(omega)
    xyz = wa[:, None] * a + wb[:, None] * b
    lat = np.degrees(np.arcsin(np.clip(xyz[:, 2], -1.0, 1.0)))
    lon = np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0]))
    lat += rng.normal(0.0, 2e-5, n)
    lon += rng.normal(0.0, 2e-5, n)

    ceiling = min(rng.uniform(9_500.0, 12_500.0), 12.0 * climb)
    alt = np.interp(t, knots, [0.0, ceiling, ceiling, 0.0]) + rng.normal(0.0, 3.0, n)
    return dest, lon, lat, np.clip(alt, 0.0, None)


def flight_frame(
    aircraft: str, start: np.datetime64, lon: np.ndarray, lat: np.ndarray, alt: np.ndarray, no_alt: np.ndarray | None = None
) -> pl.DataFrame:
    """The reference schema: unnamed index, date, aircraft, long, lat, alt (empty where ``no_alt``)."""
    n = len(lon)
    frame = pl.DataFrame(
        {
            "": np.arange(n),
            "date": (start + np.arange(n).astype("timedelta64[s]")).astype("datetime64[ms]"),
            "aircraft": pl.Series([aircraft], dtype=pl.Utf8).new_from_index(0, n),
            "long": np.round(lon, 6),
            "lat": np.round(lat, 6),
            "alt": np.round(alt, 1),
        }
    )
    if no_alt is not None:
        frame = frame.with_columns(pl.when(pl.Series(no_alt)).then(None).otherwise(pl.col("alt")).alias("alt"))
    return frame


def altitude_dropouts(n: int, sparse: float, rng: np.random.Generator) -> np.ndarray | None:
    """Rows of a file that lose their altitude: none for most files, 1-10 % for a ``sparse`` fraction."""
    if sparse <= 0 or rng.random() >= sparse:
        return None
    return rng.random(n) < rng.uniform(0.01, 0.10)


def check_sizes(files: int, rows: int, min_rows: int | None, max_rows: int | None) -> None:
    """Reject sizes that cannot describe a set of flights (ValueError)."""
    if files < 1 or rows < 1:
        raise ValueError("files and rows must be >= 1")
    if (min_rows is not None and min_rows < 1) or (max_rows is not None and max_rows < 1):
        raise ValueError("min rows and max rows must be >= 1")
    if min_rows is not None and max_rows is not None and min_rows > max_rows:
        raise ValueError(f"min rows {min_rows} > max rows {max_rows}")


def check_sparse(sparse: float) -> None:
    """Reject a fraction of sparse files outside [0, 1] (ValueError)."""
    if not 0.0 <= sparse <= 1.0:
        raise ValueError(f"sparse must be a fraction of files between 0 and 1, got {sparse}")


def generate(
    out: str | Path,
    files: int,
    rows: int,
    seed: int = 0,
    min_rows: int | None = None,
    max_rows: int | None = None,
    progress: bool = False,
    sparse: float = 0.0,
) -> list[Path]:
    """Write ``files`` flight CSVs into ``out`` and return their paths, in write order."""
    return [path for path, _ in write_flights(out, files, rows, seed, min_rows, max_rows, progress, sparse)]


def seed(out: Path) -> None:
    """The sample a fresh home gets on first use of the app: 8 small flights, under 1 MB."""
    generate(out, files=8, rows=600, seed=0, min_rows=200, max_rows=1500)


def write_flights(
    out: str | Path,
    files: int,
    rows: int,
    seed: int = 0,
    min_rows: int | None = None,
    max_rows: int | None = None,
    progress: bool = False,
    sparse: float = 0.0,
) -> list[tuple[Path, int]]:
    """Like :func:`generate`, with the number of rows written in each file."""
    check_sizes(files, rows, min_rows, max_rows)
    check_sparse(sparse)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    dropouts = np.random.default_rng([seed, 1])  # its own stream: sparse or not, the flights are the same
    sizes = file_rows(files, rows, rng, min_rows, max_rows)
    ids = aircraft_ids(max(1, math.ceil(files / FLIGHTS_PER_AIRCRAFT)), rng)
    where = {a: int(rng.integers(len(AIRPORTS))) for a in ids}
    clock = {a: EPOCH + np.timedelta64(int(rng.integers(0, 86_400)), "s") for a in ids}
    flights = dict.fromkeys(ids, 0)

    written: list[tuple[Path, int]] = []
    with progress_bar(files, enabled=progress) as advance:
        for i, n in enumerate(sizes.tolist()):
            aircraft = ids[i % len(ids)]
            flights[aircraft] += 1
            dest, lon, lat, alt = fly(where[aircraft], n, rng)
            path = out / f"{aircraft}_{flights[aircraft]}.csv"
            with path.open("wb") as fh:
                fh.write(HEADER)  # polars would quote the empty index header; pandas-made files do not
                flight_frame(aircraft, clock[aircraft], lon, lat, alt, altitude_dropouts(n, sparse, dropouts)).write_csv(
                    fh, include_header=False, datetime_format=DATE_FORMAT
                )
            written.append((path, n))
            where[aircraft] = dest
            clock[aircraft] += np.timedelta64(n + int(rng.integers(2_700, 10_800)), "s")
            advance()
    return written


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """Yield an ``advance()`` callable: a rich bar on stderr when enabled, a no-op otherwise."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("writing flights", total=total)
        yield lambda: bar.advance(task)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agilab_app_flight.sample", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the CSV files into")
    parser.add_argument("--files", type=int, default=10, help="number of flight files (default 10)")
    parser.add_argument("--rows", type=int, default=1000, help="rows per file, or their mean with --min/--max-rows")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--min-rows", type=int, default=None, help="vary file sizes, at least this many rows")
    parser.add_argument("--max-rows", type=int, default=None, help="vary file sizes, at most this many rows")
    parser.add_argument("--sparse", type=float, default=0.0, help="fraction of files with empty altitude cells (default 0)")
    ns = parser.parse_args(argv)
    try:
        check_sizes(ns.files, ns.rows, ns.min_rows, ns.max_rows)
        check_sparse(ns.sparse)
    except ValueError as exc:
        parser.error(str(exc))
    written = write_flights(
        ns.out,
        ns.files,
        ns.rows,
        ns.seed,
        ns.min_rows,
        ns.max_rows,
        progress=ns.files >= 200 and sys.stderr.isatty(),
        sparse=ns.sparse,
    )
    rows = sum(n for _, n in written)
    size = sum(p.stat().st_size for p, _ in written)
    print(f"wrote {len(written)} flight files, {rows:,} rows, {size / 1e6:.1f} MB to {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
