"""Shared Dask fixtures: a running cluster for the tests that use ``-o scheduler``, and a worker venv."""

from __future__ import annotations

import gc
import json
import logging
import site
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from agilab_executor_dask.cluster import environment_kept
from distributed import LocalCluster


@pytest.fixture(scope="session")
def running_cluster():
    """A Dask cluster that is already running, as users have them (2 worker processes, 1 thread each)."""
    with environment_kept():  # its nannies would export OMP_NUM_THREADS=1 into this test process
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", memory_limit=0, silence_logs=logging.CRITICAL
        )
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def worker_venv(tmp_path_factory) -> tuple[str, str]:
    """A venv whose interpreter sees this environment's packages but has an identity of its own.

    Returns ``(python, env_hash)``: workers started with that python report
    ``env_hash``, so a run that succeeds with it proves its workers ran there.
    """
    root = tmp_path_factory.mktemp("wenv") / "probe-venvhash"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], check=True, capture_output=True, text=True).stdout.strip()
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "agilab-test-parent.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in ours))
    (root / "agilab-env.json").write_text(json.dumps({"hash": "venvhash", "app": "probe"}))
    return str(python), "venvhash"


def descendants() -> set[int]:
    """Pids of every process below this one, but multiprocessing's resource tracker.

    The tracker is one per interpreter, started by the first user of
    multiprocessing (a ``LocalCluster``'s nannies) and kept until exit: not a leak.
    """
    found = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "multiprocessing.resource_tracker" not in " ".join(p.cmdline()):
                found.add(p.pid)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def no_new_processes():
    """Fails the test when it leaves a process behind (those of session fixtures excepted)."""
    before = descendants()
    yield
    left: list[psutil.Process] = []
    for _ in range(50):  # processes that are closing get a moment to exit
        left = [p for p in map(_alive, descendants() - before) if p is not None]
        if not left:
            break
        psutil.wait_procs(left, timeout=0.1)
    assert not left, f"processes left behind: {[_cmdline(p) for p in left]}"


def _alive(pid: int) -> psutil.Process | None:
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except psutil.Error:
        return None


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return f"pid {process.pid} (gone)"


@pytest.fixture(autouse=True)
def _collect_garbage():
    """Finalize each test's Dask objects right after it, not during a later, unrelated ``compile``.

    CPython 3.11 raises ``SystemError: AST constructor recursion depth
    mismatch`` when a finalizer that imports runs inside ``ast.parse`` (as
    pytest's assertion rewriting does).
    """
    yield
    gc.collect()
