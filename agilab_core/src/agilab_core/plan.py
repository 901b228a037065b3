"""Worker slots, the ``--workers`` syntax, and the capacity-weighted balancer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import attrs

from agilab_core.app import WorkItem
from agilab_core.errors import UsageError
from agilab_core.hookspecs import hookimpl

LOCALHOST = "localhost"
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
    def parse(cls, text: str | int) -> WorkersSpec:
        text = str(text).strip()
        if text.isascii() and text.isdigit():
            return cls((HostWorkers(LOCALHOST, _count(text, text)),))
        hosts = []
        for part in text.split(","):
            where, sep, count = part.strip().rpartition("=")
            if not sep or not where:
                raise UsageError(f"--workers {text!r}: expected N or HOST[:PORT]=N[,HOST=N...], got {part.strip()!r}")
            host, port = _host_port(where, text)
            hosts.append(HostWorkers(host, _count(count, text), port))
        seen = [(h.host, h.port) for h in hosts]
        if len(set(seen)) != len(seen):
            raise UsageError(f"--workers {text!r}: a host is listed twice")
        return cls(tuple(hosts))

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


def _count(raw: str, text: str) -> int:
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise UsageError(f"--workers {text!r}: worker count must be a positive integer, got {raw!r}")
    return int(raw)


def _host_port(where: str, text: str) -> tuple[str, int | None]:
    m = re.fullmatch(r"(\[[^\]]+\]|[^:\[\]]+)(?::(\d+))?", where.strip())
    if not m or not _HOST.match(m.group(1)):
        raise UsageError(f"--workers {text!r}: invalid host {where.strip()!r}")
    port = int(m.group(2)) if m.group(2) else None
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"--workers {text!r}: port {port} out of range")
    return m.group(1), port


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
    when none is measured), so new hosts are neither starved nor flooded.
    With equal capacities the makespan is at most the ideal plus one item.
    """
    if not slots:
        raise UsageError("no worker slots to plan for")
    capacities = {h: c for h, c in (capacities or {}).items() if c > 0}
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


@hookimpl(trylast=True)
def plan_work(items: list[WorkItem], workers: list[WorkerSlot], capacities: dict[str, float]) -> WorkPlan:
    """Default dispatch: :func:`balance`."""
    return balance(items, workers, capacities)
