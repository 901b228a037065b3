"""Worker side: a run's task that finds its folders on the host it runs on.

The manager ships one task to every Dask worker; a batch may run on any
host, and each host keeps the run's inputs and outputs under its own
``remote_dir``. The launcher tells the worker process where (see
:mod:`.launcher`), and the session reports the SSH host's name, so the
manager knows where to fetch an item's outputs from. Batches run through
:func:`run_host_batch`, which links the batch's inputs into place first
(:mod:`.links`) and leaves its small outputs in one file for the manager
to fetch after (:mod:`.bundle`).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import attrs
from agilab_executor_dask.worker import run_batch

from agilab_core import WorkerSession, WorkerTask
from agilab_executor_ssh import bundle, links
from agilab_executor_ssh.launcher import (
    BUNDLE_VARIABLE,
    CACHE_VARIABLE,
    DATA_VARIABLE,
    HOST_VARIABLE,
    INDEX_VARIABLE,
    OUTPUT_VARIABLE,
)


@attrs.frozen
class HostTask(WorkerTask):
    """A :class:`WorkerTask` whose output and data folders are those of the host it starts on."""

    @classmethod
    def of(cls, task: WorkerTask) -> HostTask:
        return cls(**{f.name: getattr(task, f.name) for f in attrs.fields(WorkerTask)})

    def start(self, worker_id: str | None = None) -> WorkerSession:
        here = WorkerTask(**{f.name: getattr(self, f.name) for f in attrs.fields(WorkerTask)})
        if OUTPUT_VARIABLE in os.environ:
            data = os.environ.get(DATA_VARIABLE)
            here = attrs.evolve(here, output_dir=Path(os.environ[OUTPUT_VARIABLE]), data_dir=Path(data) if data else self.data_dir)
        session = here.start(worker_id)
        if HOST_VARIABLE in os.environ:
            session.ctx = attrs.evolve(session.ctx, host=os.environ[HOST_VARIABLE])
        return session


def run_host_batch(task: WorkerTask, slot: str, batch: bytes) -> bytes:
    """:func:`~agilab_executor_dask.worker.run_batch` on a host: its items' inputs linked first (:mod:`.links`),
    its small outputs bundled for the manager after (:mod:`.bundle`)."""
    index, cache, data = (os.environ.get(v) for v in (INDEX_VARIABLE, CACHE_VARIABLE, DATA_VARIABLE))
    if index and cache and data:
        sums = links.index(index)
        for item, _ in pickle.loads(batch):
            links.link(item.inputs, sums, Path(cache), Path(data))
    payload = run_batch(task, slot, batch)
    folder = os.environ.get(BUNDLE_VARIABLE)
    if folder and OUTPUT_VARIABLE in os.environ:
        bundle.write(Path(folder), Path(os.environ[OUTPUT_VARIABLE]), pickle.loads(payload))
    return payload
