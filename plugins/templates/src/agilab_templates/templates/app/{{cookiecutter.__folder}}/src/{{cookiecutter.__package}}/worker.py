"""Worker side of the {{ cookiecutter.name }} app: one CSV file in, its kept rows out.

Runs wherever the executor puts it, so it reads its input only through the
item (``item.inputs``, relative to ``ctx.data_dir``) and writes only under
``ctx.output_dir``, through :func:`agilab_core.atomic_path`: a file appears
complete under its name or not at all. An exception fails this item alone.
"""

from __future__ import annotations

{% if cookiecutter.dataframe == "none" -%}
import csv
import io
{% endif -%}
from pathlib import Path, PurePosixPath
{%- if cookiecutter.dataframe == "polars" %}

import polars as pl
{%- elif cookiecutter.dataframe == "pandas" %}

import pandas as pd
{%- endif %}

from {{ cookiecutter.__package }}.args import {{ cookiecutter.__title }}Args
from agilab_core import ItemOutput, Worker, WorkerContext, WorkItem, atomic_path, one_line

#: The outputs' folder of kept rows (the manager writes summary.json beside it).
KEPT = "kept"


def input_file(data_dir: Path | None, item: WorkItem) -> Path:
    """The one file ``item`` reads, under the run's data folder; refuses a path that leaves it."""
    if data_dir is None or len(item.inputs) != 1:
        raise ValueError(f"{item.id}: expected one input file under the run's data folder")
    relative = PurePosixPath(item.inputs[0])
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"{item.id}: input {item.inputs[0]!r} is not inside the data folder")
    return data_dir / relative


class {{ cookiecutter.__title }}Worker(Worker):
    """Keeps the rows whose ``value`` is at least ``min_value``; writes them to ``kept/<item id>`` under the outputs."""

    def start(self, args: {{ cookiecutter.__title }}Args, ctx: WorkerContext) -> None:
        super().start(args, ctx)  # sets self.args and self.ctx
        self.min_value = args.min_value

    def work(self, item: WorkItem) -> ItemOutput:
        source = input_file(self.ctx.data_dir, item)
        target = self.ctx.output_dir / KEPT / item.id  # a folder of their own: no input name meets summary.json
        try:
            rows_in, rows_kept, value_kept = self.keep(source, target)
        except Exception as exc:  # the item fails alone, with a message naming its file
            raise ValueError(f"{item.id}: {one_line(exc)}") from exc
        return ItemOutput(
            rows=rows_kept,
            bytes_in=source.stat().st_size,
            files=[target],
            metrics={"rows_in": rows_in, "value_kept": value_kept},
        )

    def keep(self, source: Path, target: Path) -> tuple[int, int, float]:
        """Write the kept rows of ``source`` to ``target``; return rows read, rows kept, and their total value."""
{%- if cookiecutter.dataframe == "polars" %}
        frame = pl.read_csv(source)
        if "value" not in frame.columns:
            raise ValueError(f"no 'value' column (columns: {', '.join(frame.columns)})")
        kept = frame.filter(pl.col("value").cast(pl.Float64, strict=True) >= self.min_value)
        with atomic_path(target) as tmp:  # a temporary name, renamed once complete
            kept.write_csv(tmp)
        return frame.height, kept.height, float(kept["value"].sum())
{%- elif cookiecutter.dataframe == "pandas" %}
        frame = pd.read_csv(source)
        if "value" not in frame.columns:
            raise ValueError(f"no 'value' column (columns: {', '.join(map(str, frame.columns))})")
        kept = frame[pd.to_numeric(frame["value"], errors="raise") >= self.min_value]
        with atomic_path(target) as tmp:  # a temporary name, renamed once complete
            kept.to_csv(tmp, index=False)
        return len(frame), len(kept), float(kept["value"].sum())
{%- else %}
        reader = csv.DictReader(io.StringIO(source.read_text(encoding="utf-8")))
        if "value" not in (reader.fieldnames or []):
            raise ValueError(f"no 'value' column (columns: {', '.join(reader.fieldnames or [])})")
        rows = list(reader)
        kept = [row for line, row in enumerate(rows, start=2) if _number(row["value"], line) >= self.min_value]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [], lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        with atomic_path(target) as tmp:  # a temporary name, renamed once complete
            tmp.write_text(out.getvalue(), encoding="utf-8")
        return len(rows), len(kept), sum(float(row["value"]) for row in kept)


def _number(text: str | None, line: int) -> float:
    """``text`` as a number, or an error naming the line (the header is line 1)."""
    try:
        return float(text or "")
    except ValueError:
        raise ValueError(f"line {line}, value: {text!r} is not a number") from None
{%- endif %}
