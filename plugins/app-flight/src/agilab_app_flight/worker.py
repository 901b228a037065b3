"""Worker side of the flight app: one flight file in, one dataset part per aircraft out."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import polars as pl

from agilab_app_flight.args import FlightArgs
from agilab_app_flight.names import part_name
from agilab_app_flight.reader import DATE_FORMAT, NO_CLOUD, FlightFileError, parse_flight
from agilab_app_flight.telemetry import aircraft_metrics, track
from agilab_core import ItemOutput, Worker, WorkerContext, WorkItem, atomic_path

# The name Hive (and so polars, pyarrow, Spark) gives the partition of null keys.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def partition_dir(aircraft: str | None) -> str:
    """``aircraft=<id>``, with the id made safe as one path component.

    An id spelled like the null partition gets its first ``_`` escaped, so it
    never shares the null aircraft's folder.
    """
    if aircraft is None:
        return f"aircraft={NULL_PARTITION}"
    value = quote(aircraft, safe="")
    return f"aircraft={'%5F' + value[1:] if value == NULL_PARTITION else value}"


def input_file(data_dir: Path | None, item: WorkItem) -> Path:
    """The one file ``item`` reads, under the run's data folder; refuses any path that leaves it."""
    if data_dir is None:
        raise FlightFileError(f"{item.id}: the worker was given no data folder (ctx.data_dir) to read it from")
    if len(item.inputs) != 1:
        raise FlightFileError(f"{item.id}: a flight item reads exactly one input, got {len(item.inputs)}")
    relative = PurePosixPath(item.inputs[0])
    if not relative.parts or relative.is_absolute() or ".." in relative.parts:
        raise FlightFileError(f"{item.id}: input {item.inputs[0]!r} is not a path inside the data folder")
    return data_dir / relative


class FlightWorker(Worker):
    """Reads a flight file, adds distance/time/speed, writes it hive-partitioned by aircraft."""

    def start(self, args: FlightArgs, ctx: WorkerContext) -> None:
        super().start(args, ctx)
        self.window = args.window()
        self.suffix = f".{args.output_format}"

    def work(self, item: WorkItem) -> ItemOutput:
        if isinstance(item.payload, dict) and item.payload.get("refused"):
            raise FlightFileError(item.payload["refused"])
        content = self.read(item)
        flight = track(parse_flight(content, item.id), *self.window)
        per_aircraft = aircraft_metrics(flight)
        name = part_name(item.id, self.suffix)
        if len(per_aircraft) == 1:
            parts: list[tuple[str | None, pl.DataFrame]] = [(next(iter(per_aircraft)), flight)]
        else:
            parts = [(key[0], part) for key, part in flight.partition_by("aircraft", as_dict=True, maintain_order=True).items()]
        metrics: dict[str, Any] = {}
        files = []
        for aircraft, part in parts:
            relative = f"{partition_dir(aircraft)}/{name}"
            files.append(self.write(part, self.ctx.output_dir / relative))
            metrics[NULL_PARTITION if aircraft is None else aircraft] = {**per_aircraft[aircraft], "part": relative}
        return ItemOutput(rows=flight.height, bytes_in=len(content), files=tuple(files), metrics={"aircraft": metrics})

    def read(self, item: WorkItem) -> bytes:
        """The bytes of the item's file, refused before reading when it is over ``max_file_mb``."""
        with open(input_file(self.ctx.data_dir, item), "rb") as fh:
            refused = self.args.size_problem(item.id, os.fstat(fh.fileno()).st_size)
            if refused:
                raise FlightFileError(refused)
            return fh.read()

    def write(self, part: pl.DataFrame, target: Path) -> Path:
        """Write one part under a temporary name, then rename: no half-written part is ever visible."""
        with atomic_path(target) as tmp:
            if self.suffix == ".csv":
                part.write_csv(tmp, datetime_format=DATE_FORMAT, **NO_CLOUD)
            else:
                part.write_parquet(tmp, **NO_CLOUD)
        return target
