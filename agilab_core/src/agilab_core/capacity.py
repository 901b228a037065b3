"""``capacity.json``: measured throughput per worker host, the balancer's weights.

Telemetry, not evidence: a damaged file, a read-only home or a full disk must
never stop a plan or fail a finished run. Reading keeps every usable entry and
reports the rest as one line; updating rewrites the file clean (atomically,
under a lock so concurrent runs do not lose each other's hosts) and returns a
problem line instead of raising.

Format: ``{"hosts": {"<host>": {"bytes_per_s": <float>, "updated": <epoch>}}}``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from agilab_core.app import ITEM_OK, ItemResult
from agilab_core.atomic import atomic_path
from agilab_core.errors import one_line

try:
    import fcntl
except ImportError:  # Windows: no flock; updates stay atomic, the last writer wins
    fcntl = None  # type: ignore[assignment]

#: Above this (1 PB/s) a value is not a measurement, and summing a few would overflow.
MAX_BYTES_PER_S = 1e15
_SHOWN = 3  # bad entries named in a problem line


class Capacities(NamedTuple):
    """Usable capacities per host, and what was wrong with the file (one line, or None)."""

    hosts: dict[str, float]
    problem: str | None = None


def _usable(value: Any) -> str | None:
    """Why ``value`` is not a usable ``bytes_per_s`` (None when it is)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"bytes_per_s is {type(value).__name__}, not a number"
    try:
        number = float(value)
    except OverflowError:
        return "bytes_per_s is too large"
    if math.isnan(number) or math.isinf(number):
        return f"bytes_per_s is {number}"
    if number <= 0:
        return f"bytes_per_s is {number:g}, not positive"
    if number > MAX_BYTES_PER_S:
        return f"bytes_per_s is {number:g}, above {MAX_BYTES_PER_S:g}"
    return None


def _short(text: str, width: int = 40) -> str:
    shown = repr(text)
    return shown if len(shown) <= width else shown[: width - 4] + "...'"


def _entries(data: Any) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The usable host entries of parsed JSON, and what was wrong with the rest."""
    if not isinstance(data, dict):
        return {}, f'expected an object {{"hosts": {{...}}}}, found {_json_type(data)}'
    hosts = data.get("hosts", {})
    if not isinstance(hosts, dict):
        return {}, f'"hosts" is {_json_type(hosts)}, expected an object'
    usable: dict[str, dict[str, Any]] = {}
    bad: list[str] = []
    for host, entry in hosts.items():
        why = _usable(entry.get("bytes_per_s")) if isinstance(entry, dict) else f"entry is {_json_type(entry)}"
        if why is None:
            updated = entry.get("updated")
            usable[host] = {"bytes_per_s": float(entry["bytes_per_s"])}
            if isinstance(updated, (int, float)) and not isinstance(updated, bool) and math.isfinite(updated):
                usable[host]["updated"] = float(updated)
        else:
            bad.append(f"{_short(host)}: {why}")
    if not bad:
        return usable, None
    more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    return usable, f"ignored {len(bad)} of {len(hosts)} hosts ({'; '.join(bad[:_SHOWN])}{more})"


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _load(path: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Usable entries of the file at ``path`` and a one-line problem naming it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"{path}: cannot read: {one_line(exc)}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {}, f"{path}: not UTF-8 text (byte {exc.start})"
    if not text.strip():
        return {}, f"{path}: empty file"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return {}, f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    except (ValueError, RecursionError) as exc:  # integers too long, nesting too deep
        return {}, f"{path}: not valid JSON ({type(exc).__name__}: {one_line(exc)[:80]})"
    entries, problem = _entries(data)
    return entries, f"{path}: {problem}" if problem else None


def read_capacities(path: str | os.PathLike[str]) -> Capacities:
    """Relative throughput per host from ``capacity.json``; never raises.

    A missing file means nothing measured yet. Only finite positive values up
    to :data:`MAX_BYTES_PER_S` come out; anything else in the file is ignored
    and described in ``problem``, one line naming the file.
    """
    entries, problem = _load(Path(path))
    return Capacities({host: e["bytes_per_s"] for host, e in entries.items()}, problem)


def _measured_rates(results: Iterable[ItemResult], slot_hosts: Mapping[str, str]) -> dict[str, float]:
    """Bytes per busy second per host, from the ok results of this run.

    Throughput is per slot (bytes processed / busy seconds), then averaged per
    host. Results of workers that are not a slot of the plan cannot be
    attributed and are left out, as are values that are not usable.
    """
    per_slot: dict[str, list[float]] = {}
    for r in results:
        if r.status != ITEM_OK or r.worker not in slot_hosts:
            continue
        acc = per_slot.setdefault(r.worker, [0.0, 0.0])
        acc[0] += r.bytes_in if abs(r.bytes_in) < MAX_BYTES_PER_S * 1e6 else math.inf  # float(10**400) raises
        acc[1] += max(r.seconds, 1e-6) if math.isfinite(r.seconds) else math.nan
    rates: dict[str, list[float]] = {}
    for worker, (nbytes, secs) in per_slot.items():
        rate = nbytes / secs if secs > 0 and math.isfinite(nbytes) else math.nan
        if _usable(rate) is None:
            rates.setdefault(slot_hosts[worker], []).append(rate)
    return {host: sum(values) / len(values) for host, values in rates.items()}


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # mkdir's own message ("File exists") hides the real cause
        raise NotADirectoryError(f"{folder} is not a folder") from None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (best effort where locks are unavailable)."""
    if fcntl is None:
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError:  # a file system without locks (some NFS): updates stay atomic
            pass
        yield  # the lock goes with the file's close


def update_capacities(
    path: str | os.PathLike[str],
    results: Iterable[ItemResult],
    slot_hosts: Mapping[str, str],
    smoothing: float = 0.5,
) -> str | None:
    """Fold this run's measured throughput into ``capacity.json``; never raises on I/O.

    Each host's value is smoothed with the previous one (``smoothing`` is the
    weight of the old value, 0..1) so one noisy run does not swing plans.
    Nothing measured: the file is not touched. A damaged file is rewritten
    with its usable entries. Returns None, or one line saying what went wrong
    (file damaged and repaired, or not writable: read-only home, full disk).
    """
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"smoothing must be between 0 and 1, not {smoothing}")
    rates = _measured_rates(results, slot_hosts)
    if not rates:
        return None
    target = Path(path)
    try:
        _make_folder(target.parent)
        with _locked(target):
            hosts, problem = _load(target)
            now = time.time()
            for host, measured in rates.items():
                old = hosts.get(host, {}).get("bytes_per_s")
                value = measured if old is None else smoothing * old + (1 - smoothing) * measured
                hosts[host] = {"bytes_per_s": value, "updated": now}
            text = json.dumps({"hosts": hosts}, allow_nan=False, indent=1, sort_keys=True)
            with atomic_path(target) as tmp:
                tmp.write_text(text + "\n", encoding="utf-8")
    except (OSError, ValueError) as exc:
        return f"{target}: capacity not updated: {one_line(exc)}"
    return f"{problem}; rewritten with the usable entries" if problem else None
