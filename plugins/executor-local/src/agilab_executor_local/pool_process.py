"""A pool worker process as the manager sees it: a subprocess of the worker interpreter, its pipe, what it holds.

Each worker is a plain subprocess of the interpreter that should run the
app's worker (the worker venv's, or this one's), running
:mod:`.pool_worker`. Nothing of the manager's process is changed to start it
(no ``multiprocessing`` executable, ``sys.path`` or ``__main__`` swapped), so
runs of different apps can start workers in one process at the same time.
It runs in a session of its own: a Ctrl-C in the terminal reaches the
manager only, which stops its workers.
"""

from __future__ import annotations

import json
import mmap
import multiprocessing
import os
import signal
import struct
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

import attrs

from agilab_core import Entry, WorkerTask

IDLE = -1  # as pool_worker.IDLE; not imported: the manager need not load the worker's module


@attrs.define(eq=False)
class WorkerProcess:
    """One worker process of a pool run, and the batch it was last sent."""

    slot: int
    popen: subprocess.Popen[bytes]
    conn: Connection
    _shared: mmap.mmap
    _shared_file: Any
    ready: bool = False
    stopping: bool = False
    batch: list[Entry] = attrs.field(factory=list)
    reported: set[int] = attrs.field(factory=set)  # seqs of the batch already reported
    first: list[Entry] = attrs.field(factory=list)  # retries to run before anything else

    @classmethod
    def start(
        cls,
        slot: int,
        python: str,
        env: Mapping[str, str],
        sys_path: Sequence[str] | None,
        task: WorkerTask,
        flush_seconds: float,
    ) -> WorkerProcess:
        """Start a worker process for ``slot``; it is ready once it sends ``("ready",)``.

        ``sys_path`` (for a worker of this interpreter's environment) replaces
        the child's module search path, as ``multiprocessing``'s spawn does.
        """
        ours, theirs = multiprocessing.Pipe(duplex=True)
        shared_file = tempfile.TemporaryFile(prefix="agilab-pool-")
        try:
            os.ftruncate(shared_file.fileno(), 8)
            shared = mmap.mmap(shared_file.fileno(), 8)
            struct.pack_into("q", shared, 0, IDLE)
            fds = (theirs.fileno(), shared_file.fileno())
            popen = subprocess.Popen(
                [python, "-m", "agilab_executor_local.pool_worker", *map(str, fds), str(os.getpid())],
                pass_fds=fds,
                env=dict(env),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            shared_file.close()
            raise
        finally:
            theirs.close()
        proc = cls(slot, popen, ours, shared, shared_file)
        try:
            ours.send_bytes(json.dumps({"sys_path": None if sys_path is None else list(sys_path)}).encode())
            ours.send((task, f"localhost/{slot}", flush_seconds))
        except OSError:
            pass  # it died at once: its pipe's end of file says so to the run
        return proc

    @property
    def pid(self) -> int:
        return self.popen.pid

    def current(self) -> int:
        """Sequence number of the item it runs now (:data:`IDLE` between batches)."""
        return int(struct.unpack_from("q", self._shared, 0)[0])

    def send(self, batch: list[tuple[int, Any, int]] | None) -> None:
        """Send a batch of ``(seq, item, attempts)``, or None to let it stop."""
        try:
            self.conn.send(batch)
        except OSError:
            pass  # it died: the run hears of it through its pipe
        if batch is None:
            self.stopping = True

    def exit_cause(self, wait: float = 1.0) -> str:
        """How the process ended (it closed its pipe): ``exit code 1``, ``signal SIGKILL``."""
        try:
            code = self.popen.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return "an unknown cause (it closed its pipe but still runs)"
        if code < 0:
            try:
                return f"signal {signal.Signals(-code).name}"
            except ValueError:
                return f"signal {-code}"
        return f"exit code {code}"

    def release(self) -> None:
        """Close the pipe and the shared slot (after the process has exited)."""
        self.conn.close()
        self._shared.close()
        self._shared_file.close()


def stop_all(processes: Sequence[WorkerProcess], grace: float = 2.0) -> None:
    """Stop ``processes``: ask, then terminate, then kill; reap each and release what it held.

    When this returns, every one has exited and been waited for (no zombie).
    """
    for proc in processes:
        if not proc.stopping and proc.popen.poll() is None:
            proc.send(None)
    deadline = time.monotonic() + grace
    for proc in processes:
        _wait(proc.popen, deadline - time.monotonic())
    for proc in processes:
        if proc.popen.poll() is None:
            proc.popen.terminate()
    deadline = time.monotonic() + grace
    for proc in processes:
        if not _wait(proc.popen, deadline - time.monotonic()):
            proc.popen.kill()
            proc.popen.wait()
        proc.release()


def _wait(popen: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        popen.wait(timeout=max(0.0, seconds))
    except subprocess.TimeoutExpired:
        return False
    return True
