"""The pool's worker processes: no more than there are items, all reaped when run() ends, one interpreter per app.

Everything here is real: worker processes, worker venvs, signals sent to a
real ``agilab run`` process.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from agilab_app_flight.sample import generate

from agilab_core import AppSpec, hookimpl

AGILAB = str(Path(sys.executable).with_name("agilab"))
WORKER_MODULE = "agilab_executor_local.pool_worker"


def _children() -> set[int]:
    """This process's direct children, zombies included (pool workers are direct children)."""
    return {p.pid for p in psutil.Process().children()}


def _pool_workers(process: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in process.children(recursive=True):
        try:
            if WORKER_MODULE in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # gone meanwhile
            continue
    return found


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # exited; whoever adopted it has not reaped it yet
    except psutil.Error:
        return True


@pytest.mark.parametrize(("items", "workers", "expected"), [(2, 8, 2), (1, 3, 1), (5, 2, 2)])
def test_no_more_processes_start_than_there_are_items(agi, items, workers, expected):
    running: list[int] = []
    heard: list[str] = []
    # a worker of an earlier test still exiting (or of another run of this process) is not this run's
    earlier = {p.pid for p in _pool_workers(psutil.Process())}

    def count(result):
        if not running:
            running.append(len([p for p in _pool_workers(psutil.Process()) if p.pid not in earlier]))

    result = agi.run("probe", executor="pool", workers=workers, args={"count": items}, on_result=count, report=heard.append)
    assert result.status == "ok"
    assert running == [expected]  # every process starts at once, so all were there at the first result
    assert json.loads(result.manifest.read_text())["executor"]["info"]["processes"] == expected
    assert f"pool: starting {expected} worker process" in " ".join(heard)
    assert len({r.metrics["pid"] for r in result.results}) <= expected


def test_every_process_is_reaped_when_run_returns(agi, tmp_path):
    before = _children()
    result = agi.run("probe", executor="pool", workers=2, args={"count": 30, "fail": [2], "die_once": [9], "marker_dir": str(tmp_path)})
    assert result.items == {"total": 30, "ok": 29, "failed": 1}
    assert _children() - before == set()  # at once: no zombie, no process still exiting


def test_every_process_is_reaped_when_run_raises(agi):
    before = _children()

    def interrupt(result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        agi.run("probe", executor="pool", workers=2, args={"count": 40, "sleep": 0.05}, on_result=interrupt)
    assert _children() - before == set()


def test_workers_that_cannot_start_fail_the_run_and_are_reaped(agi):
    from agilab_core.testing import PROBE_START_ERROR

    before = _children()
    result = agi.run("probe", executor="pool", workers=2, args={"count": 4, "fail_start": True})
    assert result.status == "failed"
    assert "could not start the app's worker" in result.error and PROBE_START_ERROR in result.error
    assert _children() - before == set()


APP = """
import os, sys
import attrs
from agilab_core import AppSpec, ItemOutput, Manager, Worker, WorkItem


@attrs.frozen
class Args:
    count: int = 6


class AppManager(Manager):
    args_type = Args

    def work_items(self, args, env):
        return [WorkItem(f"{name}-{{i}}", i) for i in range(args.count)]


class AppWorker(Worker):
    def work(self, item):
        return ItemOutput(rows=1, metrics={{"prefix": sys.prefix, "module": __file__, "pid": os.getpid()}})


SPEC = AppSpec("{name}", AppManager, "{pkg}.app:AppWorker", worker_modules={modules!r})
"""


class Apps:
    """Registers apps written to a folder on this process's ``sys.path`` (only there: not installed)."""

    def __init__(self, specs):
        self.specs = specs

    @hookimpl
    def register_apps(self):
        return self.specs


def _write_app(root: Path, name: str, venv: bool) -> AppSpec:
    pkg = f"agilab_pool_{name}_{os.getpid()}"
    (root / pkg).mkdir()
    (root / pkg / "__init__.py").write_text("")
    (root / pkg / "app.py").write_text(APP.format(name=name, pkg=pkg, modules=(f"{pkg}.app",) if venv else ()))
    importlib.invalidate_caches()
    return importlib.import_module(f"{pkg}.app").SPEC


def test_runs_of_three_apps_at_once_in_one_process_each_use_their_own_interpreter(agilab_registry, tmp_path, monkeypatch):
    # one app in a worker venv of its own, one found only on this process's sys.path, and probe: started together
    from agilab_core.runner import Agi

    monkeypatch.syspath_prepend(str(tmp_path))
    isolated, inplace = _write_app(tmp_path, "isolated", venv=True), _write_app(tmp_path, "inplace", venv=False)
    agilab_registry.register(Apps([isolated, inplace]), name="test-apps")
    agi = Agi(agilab_registry)
    package = agi.install("isolated", executor="pool")  # built beforehand, so the runs start their workers together
    assert package.kind == "venv"

    async def together():
        return await asyncio.gather(
            agi.arun("isolated", executor="pool", workers=2, args={"count": 20}),
            agi.arun("inplace", executor="pool", workers=2, args={"count": 20}),
            agi.arun("probe", executor="pool", workers=2, args={"count": 40}),
        )

    before = _children()
    runs = asyncio.run(together())
    assert _children() - before == set()
    assert [r.status for r in runs] == ["ok", "ok", "ok"], [r.error for r in runs]
    assert [r.items["ok"] for r in runs] == [20, 20, 40]
    isolated_run, inplace_run, probe_run = runs
    manifest = json.loads(isolated_run.manifest.read_text())
    assert manifest["executor"]["info"]["python"] == package.python
    assert {r.metrics["prefix"] for r in isolated_run.results} == {package.venv}
    assert {Path(r.metrics["module"]).is_relative_to(package.venv) for r in isolated_run.results} == {True}  # the venv's copy
    assert {r.metrics["prefix"] for r in inplace_run.results} == {sys.prefix}
    assert {Path(r.metrics["module"]).parent.parent for r in inplace_run.results} == {tmp_path}  # this process's sys.path
    assert json.loads(probe_run.manifest.read_text())["executor"]["info"]["python"] == sys.executable
    assert len(list((probe_run.outputs / "probe").iterdir())) == 40


# -- signals on a real `agilab run` ------------------------------------------------------------


@pytest.fixture(scope="module")
def many_flights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("many-flights")
    generate(folder, files=200, rows=2000, seed=6, min_rows=1000, max_rows=4000)
    return folder


def _start_run(home: Path, data: Path) -> tuple[subprocess.Popen[str], list[psutil.Process]]:
    """An ``agilab run flight -e pool -w 2`` in a process group of its own (as a terminal's foreground job),
    returned once its two worker processes have finished an item."""
    env = {**os.environ, "AGILAB_HOME": str(home)}
    cmd = [AGILAB, "run", "flight", "-e", "pool", "-w", "2", "--set", f"data_in={data}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    manager = psutil.Process(proc.pid)
    workers: list[psutil.Process] = []
    journal = None
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            workers = _pool_workers(manager)
        except psutil.Error:
            break
        journal = next((home / "runs" / "flight").glob("*/items.jsonl"), None) if (home / "runs" / "flight").exists() else None
        if len(workers) == 2 and journal is not None and journal.stat().st_size > 0:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    assert len(workers) == 2
    return proc, workers


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigterm to the group", "sigkill"])
def test_interrupting_a_pool_run_prints_no_worker_traceback_and_leaves_no_worker(tmp_path, agilab_wenv, many_flights, how):
    home = tmp_path / "home"
    subprocess.run([AGILAB, "install", "flight", "-e", "pool"], check=True, capture_output=True, env={**os.environ, "AGILAB_HOME": str(home)})
    proc, workers = _start_run(home, many_flights)
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole foreground process group
    elif how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    elif how == "sigterm to the group":
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGKILL)  # the manager cannot stop its workers: they notice it is gone
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert "KeyboardInterrupt" not in err and "EOFError" not in err and "BrokenPipeError" not in err, err
    if how != "sigkill":
        assert (proc.returncode, err.strip().splitlines()[-1]) == ((130, "interrupted") if how == "ctrl-c" else (143, "terminated")), err
        (run_dir,) = (home / "runs" / "flight").iterdir()
        assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"
    deadline = time.monotonic() + 60  # an orphaned worker notices within a second
    while not all(map(_gone, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(map(_gone, workers)), [w.pid for w in workers if not _gone(w)]
