"""Baseline: the flight computation as a plain single-process polars script.

What a competent user would write by hand for the same job, using the same
polars techniques as the flight app so the ratio measures the framework alone:
read each file's bytes and parse them with the same column types (and no
cloud credential lookup), check them
as the app does (field count per row from the separators, dates present and
well formed, coordinates finite and in range; a bad file is skipped, without
saying where), order by time (skipped when already ordered), add haversine
distance, seconds and speed eagerly, write one Parquet part per file under
aircraft=<id>/, then total rows and distance. No framework, no evidence, no
hashing, no line numbers.

    python bench/bare_flight.py DATA_DIR OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl

R = 6_371_000.0
TYPES = {"date": pl.Utf8, "aircraft": pl.Utf8, "long": pl.Float64, "lat": pl.Float64, "alt": pl.Float64}


BAD = pl.any_horizontal(
    pl.col("date").is_null(),
    ~pl.col("lat").is_finite() | (pl.col("lat").abs() > 90),
    ~pl.col("long").is_finite() | (pl.col("long").abs() > 180),
    ~pl.col("alt").is_finite(),
)


def main(data: Path, out: Path) -> None:
    rows = skipped = 0
    distance = 0.0
    for path in sorted(data.glob("*.csv")):
        content = path.read_bytes()
        df = pl.read_csv(content, schema_overrides=TYPES, credential_provider=None)
        if b'"' in content or content.count(b",") != (df.height + 1) * (df.width - 1):  # a short row
            skipped += 1
            continue
        df = df.drop("").with_columns(pl.col("date").str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False))
        if df.select(BAD.any()).item():
            skipped += 1
            continue
        if not df["date"].is_sorted():
            df = df.sort("date", maintain_order=True)
        lat, lon, date = pl.col("lat"), pl.col("long"), pl.col("date")
        phi1, phi2 = lat.shift(1).radians(), lat.radians()
        a = ((phi2 - phi1) / 2).sin().pow(2) + phi1.cos() * phi2.cos() * ((lon - lon.shift(1)).radians() / 2).sin().pow(2)
        df = df.with_columns(
            (a.sqrt().arcsin() * 2 * R).fill_null(0.0).alias("distance_m"),
            ((date - date.shift(1)).dt.total_microseconds() / 1e6).fill_null(0.0).alias("dt_s"),
        ).with_columns(pl.when(pl.col("dt_s") > 0).then(pl.col("distance_m") / pl.col("dt_s")).alias("speed_mps"))
        target = out / f"aircraft={df['aircraft'][0]}" / f"{path.name}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        df.write_parquet(target, credential_provider=None)
        rows += df.height
        distance += df["distance_m"].sum()
    print(json.dumps({"rows": rows, "distance_m": distance, "skipped": skipped}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
