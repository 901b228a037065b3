"""Inside a pool worker process: start the app's worker once, then run the batches the manager sends.

The manager starts it with the worker interpreter (the app's worker venv, or
its own) as ``python -m agilab_executor_local.pool_worker PIPE_FD CURRENT_FD
MANAGER_PID``. It writes the sequence number of the item it runs into the
8 bytes shared through ``CURRENT_FD``, so the manager knows which item a
death interrupted. It exits without a word when the manager closes the pipe,
stops it, or dies: an interrupted run prints the manager's message only.
"""

from __future__ import annotations

import json
import mmap
import os
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from agilab_core import one_line

IDLE = -1
PARENT_POLL_SECONDS = 0.5


def main(argv: list[str]) -> None:
    pipe_fd, current_fd, manager = (int(a) for a in argv[:3])
    _exit_when_orphaned(manager)
    conn = Connection(pipe_fd)
    shared = mmap.mmap(current_fd, 8)
    current = memoryview(shared).cast("q")
    try:
        serve(conn, current)
    except (EOFError, OSError, KeyboardInterrupt):
        pass  # the manager stopped the run or went away: nothing to report, nobody to report to
    finally:
        current.release()


def serve(conn: Connection, current: Any) -> None:
    """Set up from the manager's first messages, start the app's worker, run batches until told to stop."""
    setup = json.loads(conn.recv_bytes())
    if setup["sys_path"] is not None:
        sys.path[:] = setup["sys_path"]  # a worker of the manager's own environment sees what it sees
    try:
        task, worker_id, flush_seconds = conn.recv()  # unpickling imports the app's args type
        session = task.start(worker_id)
    except Exception as exc:  # noqa: BLE001 - reported to the manager, which fails the run
        conn.send(("failed", f"{type(exc).__name__}: {one_line(exc)}", traceback.format_exc()))
        return
    conn.send(("ready",))
    run = session.run
    monotonic = time.monotonic
    while True:
        batch = conn.recv()
        if batch is None:
            break
        out = []
        last = monotonic()
        for seq, item, attempts in batch:
            current[0] = seq
            out.append(run(item, attempts))
            if flush_seconds and monotonic() - last >= flush_seconds:
                conn.send(("results", out))
                out = []
                last = monotonic()
        current[0] = IDLE
        conn.send(("done", out))
    session.stop()


def _exit_when_orphaned(manager: int) -> None:
    """Exit as soon as the manager is gone (killed before it could stop this process)."""

    def watch() -> None:
        while os.getppid() == manager:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="agilab-pool-manager-watch", daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1:])
    # As multiprocessing's children do: everything is sent and the app's worker
    # stopped, so skip the interpreter's teardown (module and thread-pool
    # finalisation: about 0.1 s per worker with polars loaded).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
