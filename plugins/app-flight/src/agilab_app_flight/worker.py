"""Worker side of the flight app: one flight file in, one dataset part per aircraft out."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import polars as pl

from agilab_app_flight.args import FlightArgs
from agilab_app_flight.telemetry import DATE_FORMAT, aircraft_metrics, malformed, parse_flight, track
from agilab_core import ItemOutput, Worker, WorkerContext, WorkItem, atomic_path

# The name Hive (and so polars, pyarrow, Spark) gives the partition of null keys.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def partition_dir(aircraft: str | None) -> str:
    """``aircraft=<id>``, with the id made safe as one path component."""
    return f"aircraft={NULL_PARTITION if aircraft is None else quote(aircraft, safe='')}"


def part_name(item_id: str, suffix: str) -> str:
    """Output file name for an input file: its stem, plus its sub-folders when any.

    Two inputs ``a/x.csv`` and ``b/x.csv`` of the same aircraft must not write
    the same part, so folders are kept in the name, escaped.
    """
    return str(PurePosixPath(item_id).with_suffix("")).replace("/", "%2F") + suffix


class FlightWorker(Worker):
    """Reads a flight file, adds distance/time/speed, writes it hive-partitioned by aircraft."""

    def start(self, args: FlightArgs, ctx: WorkerContext) -> None:
        super().start(args, ctx)
        self.window = args.window()
        self.suffix = f".{args.output_format}"

    def work(self, item: WorkItem) -> ItemOutput:
        source = Path(item.payload["path"])
        content = source.read_bytes()
        frame = parse_flight(content, source)
        try:
            flight = track(frame, *self.window)
        except pl.exceptions.PolarsError as exc:  # a date that does not match the format
            raise malformed(source, exc) from None
        per_aircraft = aircraft_metrics(flight)
        name = part_name(item.id, self.suffix)
        if len(per_aircraft) == 1:
            parts: list[tuple[str | None, pl.DataFrame]] = [(next(iter(per_aircraft)), flight)]
        else:
            parts = [(key[0], part) for key, part in flight.partition_by("aircraft", as_dict=True, maintain_order=True).items()]
        files = [self.write(part, self.ctx.output_dir / partition_dir(aircraft) / name) for aircraft, part in parts]
        metrics: dict[str, Any] = {"aircraft": {NULL_PARTITION if k is None else k: v for k, v in per_aircraft.items()}}
        return ItemOutput(rows=flight.height, bytes_in=len(content), files=tuple(files), metrics=metrics)

    def write(self, part: pl.DataFrame, target: Path) -> Path:
        """Write one part under a temporary name, then rename: no half-written part is ever visible."""
        with atomic_path(target) as tmp:
            if self.suffix == ".csv":
                part.write_csv(tmp, datetime_format=DATE_FORMAT)
            else:
                part.write_parquet(tmp)
        return target
