"""What the web app shows of a run, computed from its evidence (manifest and item results).

Evidence written by older releases, or edited by hand, may lack a field or
hold one of the wrong type: every value is read defensively and shown as
``-`` rather than failing the page.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import attrs
from agilab_core.app import ItemResult

#: Items and output files listed on a run's page; a larger run says how many more there are.
LIST_LIMIT = 1000


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def when(ts: Any) -> str:
    """An epoch time as local ``YYYY-MM-DD HH:MM:SS``, or ``-``."""
    value = _float(ts)
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) if value else "-"
    except (OverflowError, OSError, ValueError):
        return "-"


def duration(seconds: Any) -> str:
    """Seconds as ``0.42 s``, ``3 min 05 s`` or ``2 h 03 min``; ``-`` when unknown."""
    value = _float(seconds)
    if value is None or value < 0:
        return "-"
    if value < 60:
        return f"{value:.2f} s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def size(n: Any) -> str:
    """A byte count for people (``148.8 KB``)."""
    value = _float(n)
    if value is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1024:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def run_url(app: str, run_id: str) -> str:
    """The path of a run's page; names are quoted whole, so a ``/`` or ``..`` in them stays inside one segment."""
    return f"/runs/{quote(app, safe='')}/{quote(run_id, safe='')}"


@attrs.frozen
class Progress:
    """A run's counts, as the live page polls them."""

    status: str
    total: int
    ok: int
    failed: int
    unfinished: int
    seconds: float | None
    done: bool

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> Progress:
        items = manifest.get("items")
        status = str(manifest.get("status") or "unknown")
        seconds = _float(manifest.get("seconds"))
        started = _float(manifest.get("started"))
        if status == "running" and started:
            seconds = max(0.0, time.time() - started)
        ok, failed = _int(_get(items, "ok")), _int(_get(items, "failed"))
        total = max(_int(_get(items, "total")), ok + failed)
        return cls(status, total, ok, failed, max(0, total - ok - failed), seconds, status != "running")

    def to_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "duration": duration(self.seconds)}


@attrs.frozen
class RunRow:
    """One line of the run list."""

    app: str
    run_id: str
    executor: str
    status: str
    progress: Progress
    started: str
    url: str

    @classmethod
    def of(cls, app: str, run_id: str, manifest: Mapping[str, Any]) -> RunRow:
        return cls(
            app=app,
            run_id=run_id,
            executor=str(_get(manifest, "executor", "name") or "-"),
            status=str(manifest.get("status") or "unknown"),
            progress=Progress.of(manifest),
            started=when(manifest.get("started")),
            url=run_url(app, run_id),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app, "run_id": self.run_id, "executor": self.executor, "status": self.status,
            "started": self.started, "url": self.url, **self.progress.to_dict(),
        }


@attrs.frozen
class HostRow:
    """What one host did in a run."""

    host: str
    items: int
    ok: int
    failed: int
    rows: int
    bytes_in: int
    bytes_out: int
    busy: float


@attrs.frozen
class ItemRow:
    """One item of a run: where and when it ran, and how it ended."""

    item_id: str
    status: str
    worker: str
    host: str
    start: float | None
    seconds: float | None
    rows: int
    attempts: int
    error_type: str
    error_message: str
    traceback: str


@attrs.frozen
class OutputRow:
    item_id: str
    path: str
    bytes: int
    sha256: str


def hosts(results: Iterable[ItemResult]) -> list[HostRow]:
    """Per host: items, ok/failed, rows, bytes, and the seconds its workers spent on items."""
    table: dict[str, dict[str, Any]] = {}
    for r in results:
        h = table.setdefault(r.host, {"items": 0, "ok": 0, "failed": 0, "rows": 0, "bytes_in": 0, "bytes_out": 0, "busy": 0.0})
        h["items"] += 1
        h["ok" if r.ok else "failed"] += 1
        h["rows"] += r.rows
        h["bytes_in"] += r.bytes_in
        h["bytes_out"] += r.bytes_out
        h["busy"] += max(0.0, r.finished - r.started)
    return [HostRow(host, **values) for host, values in sorted(table.items())]


def items(results: Iterable[ItemResult], started: Any) -> list[ItemRow]:
    """Items in the order they started, times relative to the run's start."""
    origin = _float(started)
    rows = []
    for r in sorted(results, key=lambda r: (r.started, r.item_id)):
        rows.append(
            ItemRow(
                item_id=r.item_id, status=r.status, worker=r.worker, host=r.host,
                start=(r.started - origin) if origin and r.started else None,
                seconds=(r.finished - r.started) if r.finished and r.started else None,
                rows=r.rows, attempts=r.attempts,
                error_type=r.error.type if r.error else "", error_message=r.error.message if r.error else "",
                traceback=r.error.traceback if r.error else "",
            )
        )
    return rows


def outputs(results: Iterable[ItemResult]) -> list[OutputRow]:
    """Every output file of the run, by path."""
    return sorted((OutputRow(r.item_id, o.path, o.bytes, o.sha256) for r in results for o in r.outputs), key=lambda o: o.path)


def header(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The run's identity as ``label -> text``, only the fields it has (evidence of older releases lacks some)."""
    executor = _get(manifest, "executor", "name")
    fields = {
        "app": " ".join(str(v) for v in (_get(manifest, "app", "name"), _get(manifest, "app", "version")) if v),
        "executor": f"{executor} (--workers {manifest.get('workers') or '-'})" if executor else "",
        "started": when(manifest.get("started")),
        "finished": when(manifest.get("finished")),
        "environment": str(_get(manifest, "environment", "hash") or ""),
        "resumed from": str(manifest.get("resumed_from") or ""),
        "outputs": str(manifest.get("outputs") or ""),
    }
    return {label: text for label, text in fields.items() if text and text != "-"}
