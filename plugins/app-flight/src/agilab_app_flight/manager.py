"""Manager side of the flight app: one work item per flight file, one summary per run."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from agilab_app_flight.args import FlightArgs
from agilab_app_flight.names import item_id
from agilab_core import AgiEnv, InputError, ItemResult, Manager, OutputFile, Run, WorkItem, sha256_file, write_json

SUMMARY = "summary.json"


class FlightManager(Manager):
    """Plans the flight files of ``data_in`` and totals what the workers measured.

    Items name their file relative to ``data_in`` only (``inputs``), so a
    worker on another host reads its own copy under ``ctx.data_dir``. A file
    over ``max_file_mb`` is planned as an item with no input that fails at
    once, naming the file and the limit, so nothing ever reads or ships it.
    """

    args_type = FlightArgs

    def data_root(self, args: FlightArgs, env: AgiEnv) -> Path:
        root = env.resolve_path(args.data_in).resolve()
        if not root.exists():
            raise InputError(f"data_in: {root} does not exist")
        if not root.is_dir():
            raise InputError(f"data_in: {root} is not a folder")
        return root

    def work_items(self, args: FlightArgs, env: AgiEnv) -> list[WorkItem]:
        root = self.data_root(args, env)
        try:
            paths = sorted(p for p in root.glob(args.files) if p.is_file())
        except (ValueError, NotImplementedError) as exc:  # e.g. an absolute or empty pattern
            raise InputError(f"files: {args.files!r} is not a usable pattern under {root}: {exc}") from None
        if args.nfile:
            paths = paths[: args.nfile]
        if not paths:
            raise InputError(f"no files matching {args.files!r} in {root} (data_in)")
        return [file_item(p.relative_to(root).as_posix(), p.stat().st_size, args) for p in paths]

    def reduce(self, results: list[ItemResult], run: Run) -> dict[str, Any]:
        output_dir = Path(run.output_dir)
        summary = summarise(results, parts_on_disk(results, output_dir))
        write_json(output_dir / SUMMARY, summary)
        return summary


def file_item(relative: str, size: int, args: FlightArgs) -> WorkItem:
    """The item of the file at ``relative`` (POSIX, under ``data_in``) of ``size`` bytes."""
    name = item_id(relative)
    refused = args.size_problem(name, size)
    if refused:
        return WorkItem(id=name, payload={"refused": refused}, weight=0)
    return WorkItem(id=name, weight=size, inputs=(relative,))


def parts_on_disk(results: list[ItemResult], output_dir: Path) -> set[tuple[str, str]]:
    """The ``(item id, part path)`` outputs of ``results`` that are on disk as the worker wrote them.

    A part is on disk when its file has the size recorded for it; a part
    several items claim (one overwrote the other) is also hashed, and kept
    only for the item whose sha256 it has.
    """
    claims: defaultdict[str, list[tuple[str, OutputFile]]] = defaultdict(list)
    for result in results:
        if result.ok:
            for output in result.outputs:
                claims[output.path].append((result.item_id, output))
    present: set[tuple[str, str]] = set()
    for path, owners in claims.items():
        try:
            size = (output_dir / path).stat().st_size
        except OSError:
            continue
        sha = sha256_file(output_dir / path) if len(owners) > 1 else None
        present.update((item, path) for item, out in owners if out.bytes == size and sha in (None, out.sha256))
    return present


def summarise(results: list[ItemResult], on_disk: set[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Run totals and per-aircraft totals from the items' metrics (outputs are not re-read).

    Items are summed in id order, not in the order they finished, so every
    executor gives the same totals to the last bit. With ``on_disk`` (from
    :func:`parts_on_disk`), an aircraft's part counts only if it is there, and
    an item only if all its parts are: the summary describes the dataset as
    it is, and ``missing_parts`` lists what is not.
    """
    per_aircraft: dict[str, dict[str, Any]] = {}
    files = rows = 0
    missing: list[str] = []
    results = sorted(results, key=lambda r: r.item_id)
    for result in results:
        if not result.ok:
            continue
        complete = True
        for aircraft, m in result.metrics.get("aircraft", {}).items():
            part = m.get("part")
            if on_disk is not None and (result.item_id, part) not in on_disk:
                missing.append(str(part))
                complete = False
                continue
            acc = per_aircraft.setdefault(aircraft, {"files": 0, "rows": 0, "distance_m": 0.0, "max_speed_mps": None})
            acc["files"] += 1
            acc["rows"] += m.get("rows", 0)
            acc["distance_m"] += m.get("distance_m") or 0.0
            acc["max_speed_mps"] = _max(acc["max_speed_mps"], m.get("max_speed_mps"))
            rows += m.get("rows", 0)
        files += complete
    return {
        "files": files,
        "rows": rows,
        "aircraft": len(per_aircraft),
        "distance_m": sum(a["distance_m"] for a in per_aircraft.values()),
        "max_speed_mps": _max(*(a["max_speed_mps"] for a in per_aircraft.values())) if per_aircraft else None,
        "per_aircraft": dict(sorted(per_aircraft.items())),
        "failed_files": [r.item_id for r in results if not r.ok],
        "missing_parts": sorted(missing),
    }


def _max(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None
