"""Inside a Dask worker process: run batches of items with one started app worker per slot.

Dask calls :func:`run_batch` once per batch. The app's ``Worker`` is started
on the first batch a process runs for a slot, kept in :data:`_sessions` and
reused by every later batch of that run and slot, so ``Worker.start`` costs
once per process, not once per item. :func:`stop_run` stops them at the end.
One session per slot (not per process) means a worker process that runs two
slots' batches at once (a Dask worker with several threads) gives each its
own app ``Worker``: apps need not be thread-safe.
"""

from __future__ import annotations

import pickle
import threading
import traceback

from agilab_core import WorkerSession, WorkerTask, WorkItem, one_line

_sessions: dict[tuple[str, str], WorkerSession] = {}
_lock = threading.Lock()


class WorkerStartError(RuntimeError):
    """The app's worker could not start in this process (environment, import, ``start``)."""


def run_batch(task: WorkerTask, slot: str, batch: bytes) -> bytes:
    """Run the pickled ``(item, attempts)`` pairs of ``batch`` in order; return their pickled results.

    An item's failure is a result, never an exception. Items and results
    cross Dask as one pickle each way: Dask handles a collection of objects
    element by element, which costs about three times as much per item.
    """
    session = _session(task, slot)
    pairs: list[tuple[WorkItem, int]] = pickle.loads(batch)
    return pickle.dumps([session.run(item, attempts) for item, attempts in pairs], protocol=pickle.HIGHEST_PROTOCOL)


def _session(task: WorkerTask, slot: str) -> WorkerSession:
    key = (task.run_id, slot)
    session = _sessions.get(key)
    if session is not None:
        return session
    with _lock:
        session = _sessions.get(key)
        if session is None:
            try:
                session = task.start(slot)
            except Exception as exc:  # noqa: BLE001 - the manager fails the run with this reason
                raise WorkerStartError(f"{type(exc).__name__}: {one_line(exc)}\n{traceback.format_exc()}") from None
            _sessions[key] = session
    return session


def stop_run(run_id: str) -> int:
    """Stop and forget this process's sessions of ``run_id``; return how many there were."""
    with _lock:
        keys = [k for k in _sessions if k[0] == run_id]
        sessions = [_sessions.pop(k) for k in keys]
    for session in sessions:
        try:
            session.stop()
        except Exception:  # noqa: BLE001, S110 - a failing stop must not hide the run's results
            pass
    return len(sessions)
