"""Worker slots, the ``--workers`` syntax, and the capacity-weighted balancer.

A plan holds one slot per worker, so ``--workers`` is bounded: more than
:data:`MAX_PER_HOST` workers on a host or :data:`MAX_TOTAL` in all is refused
as a likely typo unless forced (``force=True``, or ``AGILAB_FORCE_WORKERS=1``);
even forced, :data:`MAX_FORCED` slots is the most a plan can hold.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

import attrs

from agilab_core.app import WorkItem
from agilab_core.errors import UsageError
from agilab_core.hookspecs import hookimpl

LOCALHOST = "localhost"
#: Workers on one host, and in all, beyond which ``--workers`` needs forcing.
MAX_PER_HOST = 1024
MAX_TOTAL = 4096
#: Slots a plan can hold even when forced.
MAX_FORCED = 1_000_000
FORCE_VARIABLE = "AGILAB_FORCE_WORKERS"
_HOST = re.compile(r"^(?:[A-Za-z0-9_.-]+@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)$")


@attrs.frozen
class HostWorkers:
    """``count`` worker slots on ``host`` (``port`` for executors that need one)."""

    host: str
    count: int
    port: int | None = None

    def __str__(self) -> str:
        where = f"{self.host}:{self.port}" if self.port is not None else self.host
        return f"{where}={self.count}"


@attrs.frozen
class WorkerSlot:
    """One place that runs items one at a time (a process, a Dask worker thread...)."""

    host: str
    index: int
    port: int | None = None

    @property
    def id(self) -> str:
        return f"{self.host}/{self.index}"


@attrs.frozen
class WorkersSpec:
    """Parsed ``--workers``: ``N`` (on this machine) or ``HOST[:PORT]=N[,HOST=N...]``."""

    hosts: tuple[HostWorkers, ...]

    @classmethod
    def parse(cls, text: str | int, force: bool = False) -> WorkersSpec:
        """Parse ``--workers``; :class:`UsageError` (one line quoting the text) for anything else.

        ``force`` (or ``AGILAB_FORCE_WORKERS=1``) allows more than
        :data:`MAX_PER_HOST` workers on a host or :data:`MAX_TOTAL` in all.
        """
        if isinstance(text, int) and not isinstance(text, bool) and text.bit_length() > 64:  # str() of a huge int refuses
            raise UsageError(f"--workers: an integer of {text.bit_length()} bits is not a worker count")
        text = str(text).strip()
        if text.isascii() and text.isdigit():
            spec = cls((HostWorkers(LOCALHOST, _count(text, text)),))
        else:
            hosts = []
            for part in text.split(","):
                where, sep, count = part.strip().rpartition("=")
                if not sep or not where:
                    raise UsageError(f"--workers {_quoted(text)}: expected N or HOST[:PORT]=N[,HOST=N...], got {_quoted(part.strip())}")
                host, port = _host_port(where, text)
                hosts.append(HostWorkers(host, _count(count, text), port))
            seen = [(h.host, h.port) for h in hosts]
            if len(set(seen)) != len(seen):
                raise UsageError(f"--workers {_quoted(text)}: a host is listed twice")
            spec = cls(tuple(hosts))
        spec._check_size(text, force or _forced())
        return spec

    def _check_size(self, text: str, force: bool) -> None:
        if self.total > MAX_FORCED:
            raise UsageError(f"--workers {_quoted(text)}: {self.total} workers is more than a plan can hold ({MAX_FORCED})")
        if force:
            return
        crowded = next((h for h in self.hosts if h.count > MAX_PER_HOST), None)
        if crowded is not None:
            raise UsageError(
                f"--workers {_quoted(text)}: {crowded.count} workers on {crowded.host} is more than {MAX_PER_HOST} per host"
                f" (set {FORCE_VARIABLE}=1 if you mean it)"
            )
        if self.total > MAX_TOTAL:
            raise UsageError(
                f"--workers {_quoted(text)}: {self.total} workers is more than {MAX_TOTAL} in all (set {FORCE_VARIABLE}=1 if you mean it)"
            )

    def __str__(self) -> str:
        if len(self.hosts) == 1 and self.hosts[0].host == LOCALHOST and self.hosts[0].port is None:
            return str(self.hosts[0].count)
        return ",".join(str(h) for h in self.hosts)

    @property
    def total(self) -> int:
        return sum(h.count for h in self.hosts)

    @property
    def is_local(self) -> bool:
        return all(h.host in (LOCALHOST, "127.0.0.1", "::1", "[::1]") for h in self.hosts)

    def slots(self) -> list[WorkerSlot]:
        return [WorkerSlot(h.host, i, h.port) for h in self.hosts for i in range(h.count)]


def _forced() -> bool:
    return os.environ.get(FORCE_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def _quoted(text: str) -> str:
    """``repr`` of what the user typed, cut short when it is long."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _count(raw: str, text: str) -> int:
    raw = raw.strip()
    digits = raw.lstrip("0")
    if not (raw.isascii() and raw.isdigit() and digits):
        raise UsageError(f"--workers {_quoted(text)}: worker count must be a positive integer, got {_quoted(raw)}")
    if len(digits) > len(str(MAX_FORCED)):  # never int() thousands of digits
        raise UsageError(f"--workers {_quoted(text)}: worker count {_quoted(raw)} is more than a plan can hold ({MAX_FORCED})")
    return int(digits)


def _host_port(where: str, text: str) -> tuple[str, int | None]:
    m = re.fullmatch(r"(\[[^\]]+\]|[^:\[\]]+)(?::(\d+))?", where.strip())
    if not m or not _HOST.match(m.group(1)):
        raise UsageError(f"--workers {_quoted(text)}: invalid host {_quoted(where.strip())}")
    digits = m.group(2).lstrip("0") if m.group(2) else None
    if digits is not None and not (len(digits) <= 5 and 0 < int(digits or "0") < 65536):
        raise UsageError(f"--workers {_quoted(text)}: port {m.group(2)[:12]} out of range")
    return m.group(1), int(digits) if digits is not None else None


@attrs.frozen
class WorkPlan:
    """Which item ids each slot runs, in order, and the expected load per slot."""

    slots: tuple[WorkerSlot, ...]
    assignments: tuple[tuple[str, ...], ...]
    loads: tuple[float, ...]

    def __attrs_post_init__(self) -> None:
        if not (len(self.slots) == len(self.assignments) == len(self.loads)):
            raise ValueError("a WorkPlan needs one assignment and one load per slot")

    @property
    def item_count(self) -> int:
        return sum(len(a) for a in self.assignments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "slots": [
                {"worker": s.id, "host": s.host, "port": s.port, "load": round(load, 6), "items": list(ids)}
                for s, ids, load in zip(self.slots, self.assignments, self.loads, strict=True)
            ]
        }


def balance(items: Sequence[WorkItem], slots: Sequence[WorkerSlot], capacities: dict[str, float] | None = None) -> WorkPlan:
    """Capacity-weighted longest-processing-time-first placement.

    Items are taken heaviest first (ties keep input order) and each goes to the
    slot whose expected finish time ``(load + weight) / capacity`` is smallest.
    A host with no measured capacity gets the mean of the measured ones (1.0
    when none is measured), so new hosts are neither starved nor flooded; a
    capacity that is not a finite positive number counts as unmeasured.
    With equal capacities the makespan is at most the ideal plus one item.
    """
    if not slots:
        raise UsageError("no worker slots to plan for")
    capacities = {h: float(c) for h, c in (capacities or {}).items() if _measured(c)}
    default = sum(capacities.values()) / len(capacities) if capacities else 1.0
    caps = [capacities.get(s.host, default) for s in slots]
    loads = [0.0] * len(slots)
    assigned: list[list[str]] = [[] for _ in slots]
    order = sorted(range(len(items)), key=lambda i: -max(float(items[i].weight), 0.0))
    n = len(slots)
    for i in order:
        w = max(float(items[i].weight), 0.0)
        best = min(range(n), key=lambda k: ((loads[k] + w) / caps[k], k))
        loads[best] += w
        assigned[best].append(items[i].id)
    return WorkPlan(tuple(slots), tuple(tuple(a) for a in assigned), tuple(loads))


def _measured(capacity: object) -> bool:
    return isinstance(capacity, (int, float)) and not isinstance(capacity, bool) and math.isfinite(capacity) and capacity > 0


@hookimpl(trylast=True)
def plan_work(items: list[WorkItem], workers: list[WorkerSlot], capacities: dict[str, float]) -> WorkPlan:
    """Default dispatch: :func:`balance`."""
    return balance(items, workers, capacities)
