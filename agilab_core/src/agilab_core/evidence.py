"""What a run leaves behind: its folder, its manifest, hashed outputs, telemetry.

Every file here is written to a temporary name in the same folder and renamed
into place, so a reader (or a crash) never sees a half-written manifest, output
or ``capacity.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from agilab_core.app import ITEM_OK, ItemResult
from agilab_core.atomic import write_json
from agilab_core.errors import UsageError
from agilab_core.settings import unstructure

MANIFEST = "manifest.json"
CAPACITY = "capacity.json"
SCHEMA_VERSION = 1

RUN_RUNNING = "running"
RUN_OK = "ok"
RUN_FAILED = "failed"
RUN_INTERRUPTED = "interrupted"

_SECRET_KEY = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)


def redact(options: dict[str, Any]) -> dict[str, Any]:
    """Copy of ``options`` with values of secret-looking keys replaced, at any depth."""
    out: dict[str, Any] = {}
    for k, v in options.items():
        if _SECRET_KEY.search(str(k)) and v not in (None, "", {}):
            out[k] = "***"
        elif isinstance(v, dict):
            out[k] = redact(v)
        else:
            out[k] = v
    return out


# -- the run --------------------------------------------------------------------


def new_run_dir(runs_root: Path) -> tuple[str, Path]:
    """Create a fresh, uniquely named run folder; safe for concurrent runs."""
    runs_root.mkdir(parents=True, exist_ok=True)
    while True:
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        run_dir = runs_root / run_id
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        (run_dir / "logs").mkdir()
        return run_id, run_dir


@attrs.frozen
class Run:
    """A run in progress, as given to observer hooks and to ``Manager.reduce``."""

    run_id: str
    app: str
    executor: str
    args: Any
    run_dir: Path
    output_dir: Path
    started: float

    @property
    def manifest_path(self) -> Path:
        return self.run_dir / MANIFEST


@attrs.define
class RunRecorder:
    """Collects item results and keeps ``manifest.json`` up to date."""

    run: Run
    header: dict[str, Any]
    results: list[ItemResult] = attrs.field(factory=list)

    def start(self) -> None:
        write_json(self.run.manifest_path, self.manifest(RUN_RUNNING))

    def add(self, result: ItemResult) -> None:
        self.results.append(result)

    def counts(self) -> dict[str, int]:
        ok = sum(1 for r in self.results if r.status == ITEM_OK)
        return {"total": len(self.results), "ok": ok, "failed": len(self.results) - ok}

    def manifest(self, status: str, **extra: Any) -> dict[str, Any]:
        now = time.time()
        return {
            "schema": SCHEMA_VERSION,
            "run_id": self.run.run_id,
            "status": status,
            **self.header,
            "started": self.run.started,
            "finished": None if status == RUN_RUNNING else now,
            "seconds": None if status == RUN_RUNNING else round(now - self.run.started, 6),
            "outputs": str(self.run.output_dir),
            "items": self.counts(),
            **extra,
            "results": [unstructure(r) for r in self.results],
        }

    def finish(self, status: str, **extra: Any) -> dict[str, Any]:
        data = self.manifest(status, **extra)
        write_json(self.run.manifest_path, data)
        return data


# -- reading runs back ----------------------------------------------------------


def read_manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def list_runs(runs_root: Path, app: str | None = None) -> list[dict[str, Any]]:
    """Manifests under ``runs_root`` (optionally one app's), oldest first."""
    pattern = f"{app}/*/{MANIFEST}" if app else f"*/*/{MANIFEST}"
    found = []
    for path in runs_root.glob(pattern):
        try:
            found.append(read_manifest(path))
        except (OSError, ValueError):
            continue  # a manifest being replaced or damaged is not a listing error
    return sorted(found, key=lambda m: (m.get("started") or 0, m.get("run_id", "")))


def find_run(runs_root: Path, run_id: str) -> Path:
    """Manifest path of ``run_id`` (a unique prefix is enough)."""
    matches = sorted(runs_root.glob(f"*/{run_id}*/{MANIFEST}"))
    if not matches:
        raise UsageError(f"no run {run_id!r} under {runs_root}")
    exact = [m for m in matches if m.parent.name == run_id]
    if exact:
        return exact[0]
    if len(matches) > 1:
        names = ", ".join(m.parent.name for m in matches[:5])
        raise UsageError(f"run id {run_id!r} is ambiguous: {names}")
    return matches[0]


# -- capacity telemetry ---------------------------------------------------------


def read_capacities(path: Path) -> dict[str, float]:
    """Relative throughput per host from ``capacity.json`` (missing file: none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {h: float(v["bytes_per_s"]) for h, v in data.get("hosts", {}).items() if v.get("bytes_per_s")}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def update_capacities(path: Path, results: list[ItemResult], slot_hosts: dict[str, str], smoothing: float = 0.5) -> None:
    """Fold this run's measured bytes/second per worker slot into ``capacity.json``.

    Throughput is per slot (bytes processed / busy seconds), averaged per host
    and smoothed with the previous value so one noisy run does not swing plans.
    ``slot_hosts`` maps the plan's slot ids to the host names plans use; results
    from workers that are not a slot of the plan cannot be attributed and are
    left out.
    """
    per_slot: dict[str, list[float]] = {}
    host_of: dict[str, str] = {}
    for r in results:
        if r.status != ITEM_OK or r.worker not in slot_hosts:
            continue
        acc = per_slot.setdefault(r.worker, [0.0, 0.0])
        acc[0] += r.bytes_in
        acc[1] += max(r.seconds, 1e-6)
        host_of[r.worker] = slot_hosts[r.worker]
    rates: dict[str, list[float]] = {}
    for worker, (nbytes, secs) in per_slot.items():
        if nbytes > 0:
            rates.setdefault(host_of[worker], []).append(nbytes / secs)
    if not rates:
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    hosts = data.setdefault("hosts", {})
    for host, values in rates.items():
        measured = sum(values) / len(values)
        old = hosts.get(host, {}).get("bytes_per_s")
        value = measured if not old else smoothing * old + (1 - smoothing) * measured
        hosts[host] = {"bytes_per_s": value, "updated": time.time()}
    write_json(path, data)
