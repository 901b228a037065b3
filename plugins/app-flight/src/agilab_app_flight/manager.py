"""Manager side of the flight app: one work item per flight file, one summary per run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agilab_app_flight.args import FlightArgs
from agilab_core import AgiEnv, InputError, ItemResult, Manager, Run, WorkItem, write_json

SUMMARY = "summary.json"


class FlightManager(Manager):
    """Plans the flight files of ``data_in`` and totals what the workers measured."""

    args_type = FlightArgs

    def work_items(self, args: FlightArgs, env: AgiEnv) -> list[WorkItem]:
        root = env.resolve_path(args.data_in).absolute()
        if not root.exists():
            raise InputError(f"data_in: {root} does not exist")
        if not root.is_dir():
            raise InputError(f"data_in: {root} is not a folder")
        try:
            paths = sorted(p for p in root.glob(args.files) if p.is_file())
        except (ValueError, NotImplementedError) as exc:  # e.g. an absolute or empty pattern
            raise InputError(f"files: {args.files!r} is not a usable pattern under {root}: {exc}") from None
        if args.nfile:
            paths = paths[: args.nfile]
        if not paths:
            raise InputError(f"no files matching {args.files!r} in {root} (data_in)")
        return [WorkItem(id=p.relative_to(root).as_posix(), payload={"path": str(p)}, weight=p.stat().st_size) for p in paths]

    def reduce(self, results: list[ItemResult], run: Run) -> dict[str, Any]:
        summary = summarise(results)
        write_json(Path(run.output_dir) / SUMMARY, summary)
        return summary


def summarise(results: list[ItemResult]) -> dict[str, Any]:
    """Run totals and per-aircraft totals from the items' metrics (outputs are not re-read).

    Items are summed in id order, not in the order they finished, so every
    executor gives the same totals to the last bit.
    """
    per_aircraft: dict[str, dict[str, Any]] = {}
    files = rows = 0
    results = sorted(results, key=lambda r: r.item_id)
    for result in results:
        if not result.ok:
            continue
        files += 1
        for aircraft, m in result.metrics.get("aircraft", {}).items():
            acc = per_aircraft.setdefault(aircraft, {"files": 0, "rows": 0, "distance_m": 0.0, "max_speed_mps": None})
            acc["files"] += 1
            acc["rows"] += m.get("rows", 0)
            acc["distance_m"] += m.get("distance_m") or 0.0
            acc["max_speed_mps"] = _max(acc["max_speed_mps"], m.get("max_speed_mps"))
            rows += m.get("rows", 0)
    return {
        "files": files,
        "rows": rows,
        "aircraft": len(per_aircraft),
        "distance_m": sum(a["distance_m"] for a in per_aircraft.values()),
        "max_speed_mps": _max(*(a["max_speed_mps"] for a in per_aircraft.values())) if per_aircraft else None,
        "per_aircraft": dict(sorted(per_aircraft.items())),
        "failed_files": [r.item_id for r in results if not r.ok],
    }


def _max(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None
