"""Embedded worker processes, launched before the manager imports Dask.

Importing ``distributed`` takes about 0.4 s in every process, and the app's
worker module (polars, numpy...) more. An embedded worker process therefore
starts before the manager has a scheduler: it imports Dask and the app's
worker module at once, then waits for the scheduler's address on its stdin
and serves as ``distributed.cli.dask_spec`` does. The manager imports Dask
and starts its scheduler meanwhile. A worker whose manager dies before
sending the address reads end-of-file and exits.

This module must not import Dask: it runs before Dask is loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence

import attrs

from agilab_core import ConfigError, WorkerSlot
from agilab_core import worker_environment as threads_environment

#: The program of a worker process: ``python -c WORKER_MAIN PRELOAD --spec JSON``.
WORKER_MAIN = """\
import importlib, sys
from distributed.cli.dask_spec import main
if sys.argv[1]:
    try:
        importlib.import_module(sys.argv[1])
    except Exception:
        pass  # the app's worker session reports it, with the run
address = sys.stdin.readline().strip()
if address:
    main([address, *sys.argv[2:]])
"""


def worker_environment(workers: int, threads: int | None) -> dict[str, str]:
    """This process's environment, with math-library threads sized per worker and Dask's logging quiet.

    ``threads`` None means cores / workers unless the environment already says.
    """
    env = threads_environment(workers, threads)
    env.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    return env


def check_python(python: str) -> None:
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise ConfigError(f"worker python {python} does not exist or cannot be run; run `agilab install` for this app")


def launch_worker(python: str, name: str, env: Mapping[str, str], log: str, death_timeout: float, preload: str = "") -> subprocess.Popen[bytes]:
    """Start one worker process of ``python``; it serves once :func:`send_address` tells it where."""
    spec = {
        "cls": "distributed.Worker",
        "opts": {"name": name, "nthreads": 1, "memory_limit": 0, "dashboard": False, "death_timeout": death_timeout},
    }
    with open(log, "ab") as out:
        return subprocess.Popen(
            [python, "-c", WORKER_MAIN, preload, "--spec", json.dumps(spec)],
            env=dict(env), stdin=subprocess.PIPE, stdout=out, stderr=out,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the manager only; it closes workers
        )


def send_address(process: subprocess.Popen[bytes], address: str) -> None:
    """Tell a waiting worker process its scheduler's address (a process that died already ignores it)."""
    stdin = process.stdin
    if stdin is None:
        return
    try:
        stdin.write(f"{address}\n".encode())
        stdin.close()
    except OSError:  # BrokenPipeError: it died while importing; its watcher starts it again
        pass
    process.stdin = None


def stop(process: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """Terminate a worker process, kill it after ``grace`` seconds, and reap it."""
    if process.stdin is not None:
        try:
            process.stdin.close()
        except OSError:
            pass
        process.stdin = None
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@attrs.define
class Launched:
    """Worker processes launched ahead, by slot id, waiting for their scheduler's address."""

    python: str
    env: dict[str, str]
    logs: str  # a temporary folder of one log per worker process
    death_timeout: float
    preload: str
    processes: dict[str, subprocess.Popen[bytes]]

    def log(self, name: str) -> str:
        return os.path.join(self.logs, f"worker-{name.replace('/', '-')}.log")

    def close(self) -> None:
        """Stop every process and remove the logs (a start that failed before the cluster took them over)."""
        for process in self.processes.values():
            stop(process)
        shutil.rmtree(self.logs, ignore_errors=True)


def launch_ahead(python: str, slots: Sequence[WorkerSlot], threads: int | None, worker_timeout: float, preload: str = "") -> Launched:
    """Launch one worker process of ``python`` per slot; ``preload`` names a module they import meanwhile."""
    check_python(python)
    env = worker_environment(len(slots), threads)
    launched = Launched(python, env, tempfile.mkdtemp(prefix="agilab-dask-"), max(30.0, worker_timeout), preload, {})
    try:
        for slot in slots:
            launched.processes[slot.id] = launch_worker(python, slot.id, env, launched.log(slot.id), launched.death_timeout, preload)
    except BaseException:
        launched.close()
        raise
    return launched
