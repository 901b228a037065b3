"""Reading recorded runs back, and telling the truth about runs whose manager died.

A manifest says ``running`` until its run finishes. When the process that
recorded it is gone (SIGKILL, OOM, a power cut), the run is reported as
``interrupted`` with the results its journal holds; nothing is rewritten on
disk by reading. Damaged evidence is reported in one line naming the file,
never raised as a crash, and never hides the other runs.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from agilab_core.app import ITEM_OK
from agilab_core.errors import UsageError
from agilab_core.evidence import MANIFEST, RUN_INTERRUPTED, RUN_RUNNING, boot_id, item_counts, process_start
from agilab_core.journal import JOURNAL, latest_by_item


class DamagedEvidence(UsageError):
    """A manifest that cannot be read as one (truncated, not JSON, not an object...)."""


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest as written, checked for the fields every reader relies on."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise DamagedEvidence(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise DamagedEvidence(f"{path}: not a readable manifest (truncated or not JSON: {exc})") from None
    if not isinstance(data, dict):
        raise DamagedEvidence(f"{path}: not a readable manifest (a JSON {type(data).__name__}, expected an object)")
    app = data.get("app")
    if not isinstance(data.get("run_id"), str) or not isinstance(data.get("status"), str) or not isinstance(app, dict) or not isinstance(app.get("name"), str):
        raise DamagedEvidence(f"{path}: not a readable manifest (run_id, status or app.name missing or of the wrong type)")
    return data


def read_run(manifest_path: Path) -> dict[str, Any]:
    """The manifest of a run as it stands now: a ``running`` one completed from its journal.

    A run whose manager process is gone is returned as ``interrupted``, with
    the items its journal holds and the planned items it does not as
    ``unfinished``.
    """
    manifest = read_manifest(manifest_path)
    if manifest["status"] != RUN_RUNNING:
        return manifest
    latest = latest_by_item(manifest_path.parent / str(manifest.get("journal") or JOURNAL))
    results = list(latest.values())
    ok = sum(1 for r in results if r.get("status") == ITEM_OK)
    manifest["results"] = results
    total = max(len(results), len(planned_items(manifest)) + len(manifest.get("carried_over") or []))
    manifest["items"] = item_counts(total, ok, len(results) - ok)
    manager = manifest.get("manager")
    if manager_alive(manager if isinstance(manager, dict) else {}) is False:
        manifest["status"] = RUN_INTERRUPTED
        manifest["error"] = f"the manager process (pid {manager.get('pid') if isinstance(manager, dict) else '?'}) ended before the run finished"
        manifest["unfinished"] = sorted(set(planned_items(manifest)) - set(latest))
    return manifest


def planned_items(manifest: dict[str, Any]) -> list[str]:
    """Item ids of the manifest's plan (empty when it has none or it is damaged)."""
    plan = manifest.get("plan")
    slots = plan.get("slots") if isinstance(plan, dict) else None
    ids: list[str] = []
    for slot in slots if isinstance(slots, list) else []:
        items = slot.get("items") if isinstance(slot, dict) else None
        ids.extend(i for i in (items if isinstance(items, list) else []) if isinstance(i, str))
    return ids


def manager_alive(manager: dict[str, Any]) -> bool | None:
    """Is the process that recorded a run still running? None when this machine cannot tell."""
    pid = manager.get("pid")
    if manager.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return None
    recorded_boot = manager.get("boot_id")
    if recorded_boot and boot_id() and recorded_boot != boot_id():
        return False  # the machine rebooted since
    started = process_start(pid)
    if started is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OverflowError):
            return None
        return None if manager.get("process_start") is None else True
    return manager.get("process_start") in (None, started)


def list_runs(runs_root: Path, app: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Runs under ``runs_root`` (optionally one app's), oldest first, and one line per damaged one."""
    pattern = f"{_glob_safe(app)}/*/{MANIFEST}" if app else f"*/*/{MANIFEST}"
    found: list[dict[str, Any]] = []
    problems: list[str] = []
    for path in sorted(runs_root.glob(pattern)):
        try:
            found.append(read_run(path))
        except DamagedEvidence as exc:
            problems.append(str(exc))
    found.sort(key=lambda m: (_number(m.get("started")), m["run_id"]))
    return found, problems


def find_run(runs_root: Path, run_id: str) -> Path:
    """Manifest path of ``run_id`` (a unique prefix is enough)."""
    if not run_id or "/" in run_id or run_id in (".", ".."):
        raise UsageError(f"{run_id!r} is not a run id")
    matches = sorted(runs_root.glob(f"*/{_glob_safe(run_id)}*/{MANIFEST}"))
    if not matches:
        raise UsageError(f"no run {run_id!r} under {runs_root}")
    exact = [m for m in matches if m.parent.name == run_id]
    if exact:
        return exact[0]
    if len(matches) > 1:
        names = ", ".join(m.parent.name for m in matches[:5])
        raise UsageError(f"run id {run_id!r} is ambiguous: {names}")
    return matches[0]


def _glob_safe(text: str) -> str:
    """``text`` with glob metacharacters matched literally."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and value == value else 0.0
