"""Manager side of the {{ cookiecutter.name }} app: one item per input file, one summary per run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from {{ cookiecutter.__package }}.args import {{ cookiecutter.__title }}Args
from agilab_core import AgiEnv, InputError, ItemResult, Manager, Run, WorkItem, write_json

SUMMARY = "summary.json"


class {{ cookiecutter.__title }}Manager(Manager):
    """Plans the files of ``data_in`` (by their path relative to it) and totals what the workers counted."""

    args_type = {{ cookiecutter.__title }}Args

    def data_root(self, args: {{ cookiecutter.__title }}Args, env: AgiEnv) -> Path:
        root = env.resolve_path(args.data_in)
        if not root.is_dir():
            raise InputError(f"data_in: {root} is not a folder")
        return root

    def work_items(self, args: {{ cookiecutter.__title }}Args, env: AgiEnv) -> list[WorkItem]:
        root = self.data_root(args, env)
        paths = sorted(p for p in root.glob(args.files) if p.is_file())
        if not paths:
            raise InputError(f"no files matching {args.files!r} in {root} (data_in)")
        return [WorkItem(p.relative_to(root).as_posix(), weight=p.stat().st_size, inputs=(p.relative_to(root).as_posix(),)) for p in paths]

    def reduce(self, results: list[ItemResult], run: Run) -> dict[str, Any]:
        done = [r for r in results if r.ok]
        summary = {
            "files": len(done),
            "rows_in": sum(r.metrics.get("rows_in", 0) for r in done),
            "rows_kept": sum(r.rows for r in done),
            "value_kept": math.fsum(r.metrics.get("value_kept", 0.0) for r in done),  # any arrival order, one answer
            "failed_files": sorted(r.item_id for r in results if not r.ok),
        }
        write_json(Path(run.output_dir) / SUMMARY, summary)  # atomic: never half-written
        return summary
