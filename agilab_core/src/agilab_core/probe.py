"""The probe app's worker side: items that write, raise, sleep or kill their worker on demand.

Kept apart from :mod:`agilab_core.testing` (which imports pytest) so a
worker process, or a worker venv on another machine, imports only the light
worker side of the kernel. ``agilab_core.testing`` re-exports every name;
see ``docs/testing.md``.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path
from typing import Any

import attrs

from agilab_core.app import ItemOutput, Manager, Worker, WorkerContext, WorkItem
from agilab_core.atomic import atomic_path

#: What a probe worker started with ``fail_start`` raises.
PROBE_START_ERROR = "the probe worker refuses to start (fail_start)"


@attrs.frozen
class ProbeArgs:
    """Args of the probe app: which items misbehave, and how.

    ``trace_dir``: each attempt at an item appends a line ``"<pid> <worker
    id>"`` to ``<trace_dir>/<item id>`` before anything else (so an item that
    kills its worker is counted too); ``die_once`` then kills only an item's
    first attempt (``marker_dir``, when given, keeps its own marker files).
    ``fail_start``: the worker's ``start`` raises :data:`PROBE_START_ERROR`.
    """

    count: int = 8
    fail: list[int] = attrs.field(factory=list)
    die_once: list[int] = attrs.field(factory=list)
    die_always: list[int] = attrs.field(factory=list)
    sleep: float = 0.0
    marker_dir: str = ""
    write: bool = True
    trace_dir: str = ""
    fail_start: bool = False


class ProbeManager(Manager):
    args_type = ProbeArgs

    def work_items(self, args: ProbeArgs, env: Any) -> list[WorkItem]:
        return [WorkItem(f"item-{i:05d}", {"index": i}, weight=1.0 + (i % 3)) for i in range(args.count)]

    def reduce(self, results: list[Any], run: Any) -> dict[str, Any]:
        return {"ok": sum(1 for r in results if r.ok), "pids": len({r.metrics.get("pid") for r in results if r.ok})}


class ProbeWorker(Worker):
    def start(self, args: ProbeArgs, ctx: WorkerContext) -> None:
        if args.fail_start:
            raise RuntimeError(PROBE_START_ERROR)
        super().start(args, ctx)

    def work(self, item: WorkItem) -> ItemOutput:
        args: ProbeArgs = self.args
        index = item.payload["index"]
        attempt = self._trace(item) if args.trace_dir else 0
        if args.sleep:
            time.sleep(args.sleep)
        if index in args.die_always:
            os.kill(os.getpid(), signal.SIGKILL)
        if index in args.die_once and self._first_attempt(index, attempt):
            os.kill(os.getpid(), signal.SIGKILL)
        if index in args.fail:
            raise ValueError(f"probe item {index} fails on purpose")
        files: list[str | Path] = []
        if args.write:
            target = self.ctx.output_dir / "probe" / f"{item.id}.json"
            with atomic_path(target) as tmp:
                tmp.write_text(json.dumps({"item": item.id, "worker": self.ctx.worker_id}), encoding="utf-8")
            files.append(target)
        return ItemOutput(rows=1, bytes_in=index, files=files, metrics={"pid": os.getpid(), "threads": os.environ.get("OMP_NUM_THREADS")})

    def _trace(self, item: WorkItem) -> int:
        """Append this attempt to the item's trace file; return how many attempts it holds now.

        The file is as writable as its folder, so workers running as other
        users that share the folder (test hosts on this machine) append to it
        too; an existing file is opened without ``O_CREAT``, which a sticky
        folder may refuse on another user's file (``fs.protected_regular``).
        """
        folder = Path(self.args.trace_dir)
        path = folder / item.id
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if os.fstat(fd).st_uid == os.geteuid():
                os.fchmod(fd, stat.S_IMODE(folder.stat().st_mode) & 0o666)
        try:
            os.write(fd, f"{os.getpid()} {self.ctx.worker_id}\n".encode())
        finally:
            os.close(fd)
        return len(path.read_bytes().splitlines())

    def _first_attempt(self, index: int, attempt: int) -> bool:
        if not self.args.marker_dir:
            if not attempt:
                raise ValueError("probe arg die_once needs trace_dir or marker_dir")
            return attempt == 1
        marker = Path(self.args.marker_dir) / f"died-{index}"
        if marker.exists():
            return False
        marker.touch()
        return True


def probe_traces(trace_dir: Path) -> dict[str, list[str]]:
    """The probe's trace files: item id -> one line per attempt at it (``"<pid> <worker id>"``)."""
    return {p.name: p.read_text(encoding="utf-8").splitlines() for p in sorted(Path(trace_dir).iterdir())}
