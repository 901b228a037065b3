"""The three ways to a cluster (embedded, ``-o scheduler``, ``-o cluster``), worker venvs and environment identity."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading

import pytest
from distributed import LocalCluster

from agilab_core import WorkerPackage, hookimpl


def _manifest(result):
    return json.loads(result.manifest.read_text())


class Packager:
    """A ``package_worker`` plugin that hands the executor a worker venv, as the kernel does for isolated apps."""

    def __init__(self, python: str, env_hash: str) -> None:
        self.python, self.env_hash = python, env_hash

    @hookimpl(tryfirst=True)
    def package_worker(self, app, env, options):
        return WorkerPackage(app=app.name, python=self.python, env_hash=self.env_hash, kind="venv", venv=str(self.python).rsplit("/bin/", 1)[0])


def test_embedded_workers_run_the_worker_venv_interpreter_even_after_a_restart(agilab_registry, worker_venv, tmp_path, no_new_processes):
    from agilab_core.runner import Agi

    python, env_hash = worker_venv
    agilab_registry.register(Packager(python, env_hash), name="venv-packager")
    # die_once: a killed worker is started again, and must come back in the venv too
    result = Agi(agilab_registry).run("probe", executor="dask", workers=2, args={"count": 12, "die_once": [4], "marker_dir": str(tmp_path)})
    assert result.status == "ok", result.error
    manifest = _manifest(result)
    assert manifest["environment"]["hash"] == env_hash
    assert manifest["executor"]["info"]["python"] == python
    assert {r["item_id"]: r["attempts"] for r in manifest["results"]}["item-00004"] == 2


def test_a_worker_python_that_cannot_start_workers_fails_the_run_saying_why(agilab_registry, tmp_path, no_new_processes):
    from agilab_core.runner import Agi

    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    agilab_registry.register(Packager(str(bare / "bin" / "python"), "barehash"), name="bare-packager")
    result = Agi(agilab_registry).run("probe", executor="dask", workers=2, args={"count": 3})
    assert result.status == "failed"
    assert "could not start with" in result.error
    assert "No module named 'distributed'" in result.error


def test_a_missing_worker_python_is_a_config_error(agilab_registry, tmp_path):
    from agilab_core.runner import Agi

    agilab_registry.register(Packager(str(tmp_path / "nowhere" / "python"), "x"), name="missing-packager")
    result = Agi(agilab_registry).run("probe", executor="dask", workers=1, args={"count": 2})
    assert result.status == "failed"
    assert result.error.startswith(f"worker python {tmp_path / 'nowhere' / 'python'} does not exist")


def test_running_cluster_runs_every_item_and_is_left_running(agi, running_cluster):
    result = agi.run("probe", executor="dask", workers=2, args={"count": 30, "sleep": 0.01}, executor_options={"scheduler": running_cluster.scheduler_address})
    assert result.status == "ok"
    info = _manifest(result)["executor"]["info"]
    assert info["cluster"] == "scheduler" and info["scheduler"] == running_cluster.scheduler_address
    assert len(running_cluster.scheduler_info["workers"]) == 2  # not ours to close
    assert {r.worker for r in result.results} <= {"localhost/0", "localhost/1"}


def test_workers_of_another_environment_are_refused_before_any_item_runs(agi, worker_venv):
    python, env_hash = worker_venv
    scheduler = LocalCluster(n_workers=0, processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL)
    worker = subprocess.Popen(
        [python, "-m", "distributed.cli.dask_worker", scheduler.scheduler_address, "--no-nanny", "--nthreads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        result = agi.run("probe", executor="dask", workers=1, args={"count": 4}, executor_options={"scheduler": scheduler.scheduler_address})
    finally:
        worker.kill()
        worker.wait()
        scheduler.close()
    assert result.status == "failed"
    expected = _manifest(result)["environment"]["hash"]
    assert "1 of 1 Dask worker(s)" in result.error
    assert f"has {env_hash}" in result.error and expected in result.error
    assert "-m distributed.cli.dask_worker" in result.error
    assert result.items["ok"] == 0 and _manifest(result)["results"] == []  # nothing ran
    assert len(_manifest(result)["unfinished"]) == 4


def test_cluster_manager_class_with_options_is_started_and_closed(agi, no_new_processes):
    result = agi.run(
        "probe", executor="dask", workers=2, args={"count": 10},
        executor_options={
            "cluster": "distributed:LocalCluster",
            # as `-o cluster_options=...` gives it: a TOML inline table
            "cluster_options": '{n_workers = 2, threads_per_worker = 1, processes = true, dashboard_address = ":0", silence_logs = 50}',
        },
    )
    assert result.status == "ok", result.error
    manifest = _manifest(result)
    assert manifest["executor"]["info"]["cluster"] == "cluster"
    assert manifest["executor"]["info"]["manager"] == "distributed:LocalCluster"
    assert manifest["executor"]["options"]["cluster_options"]["n_workers"] == 2
    assert result.summary["pids"] == 2


def test_cluster_manager_options_one_by_one_as_the_command_line_gives_them(agi, no_new_processes):
    # `-o cluster=distributed:LocalCluster -o cluster.n_workers=1 -o cluster.processes=true ...`
    options = {
        "cluster": "distributed:LocalCluster",
        "cluster.n_workers": "1", "cluster.threads_per_worker": "1", "cluster.processes": "true",
        "cluster.dashboard_address": ":0", "cluster.silence_logs": "50",
    }
    result = agi.run("probe", executor="dask", workers=3, args={"count": 6}, executor_options=options)
    assert result.status == "ok", result.error
    recorded = _manifest(result)["executor"]["options"]["cluster_options"]
    assert recorded == {"n_workers": 1, "threads_per_worker": 1, "processes": True, "dashboard_address": ":0", "silence_logs": 50}
    assert result.summary["pids"] == 1  # the manager's own n_workers, not --workers


def test_cluster_manager_that_refuses_its_options_is_a_one_line_error(agi):
    result = agi.run(
        "probe", executor="dask", workers=1, args={"count": 2},
        executor_options={"cluster": "distributed:SpecCluster", "cluster_options": {"no_such_option": 1}},
    )
    assert result.status == "failed"
    assert result.error.startswith("-o cluster=distributed:SpecCluster: ")
    assert "no_such_option" in result.error and "\n" not in result.error


def test_concurrent_runs_on_one_cluster_never_share_work(agi, running_cluster):
    # identical apps and args: only explicit, run-unique keys keep Dask from merging them
    results = []
    options = {"scheduler": running_cluster.scheduler_address}
    threads = [
        threading.Thread(target=lambda: results.append(agi.run("probe", executor="dask", workers=2, args={"count": 15}, executor_options=options)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.run_id for r in results}) == 2
    for r in results:
        assert r.status == "ok" and len(list((r.outputs / "probe").iterdir())) == 15


def test_plan_hosts_are_matched_to_cluster_workers(agi, running_cluster):
    options = {"scheduler": running_cluster.scheduler_address}
    result = agi.run("probe", executor="dask", workers="localhost=1,127.0.0.1=1", args={"count": 20, "sleep": 0.01}, executor_options=options)
    assert result.status == "ok"
    assert {r.worker for r in result.results} == {"localhost/0", "127.0.0.1/0"}
    assert result.summary["pids"] == 2  # one slot per worker process


@pytest.mark.parametrize("dashboard", [":0", ""])
def test_embedded_cluster_is_reported(agi, dashboard):
    from agilab_executor_dask.cluster import dashboard_available

    result = agi.run("probe", executor="dask", workers=2, args={"count": 2}, executor_options={"dashboard": dashboard})
    info = _manifest(result)["executor"]["info"]
    assert info["cluster"] == "embedded" and info["workers"] == 2 and info["scheduler"].startswith("tcp://127.0.0.1:")
    if dashboard and dashboard_available():
        assert info["dashboard"].startswith("http://")
    else:
        assert info["dashboard"] is None


def test_a_cluster_manager_leaves_the_manager_environment_alone(agi, monkeypatch):
    import os

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    agi.run(
        "probe", executor="dask", workers=1, args={"count": 2},
        executor_options={"cluster": "distributed:LocalCluster", "cluster_options": {"n_workers": 1, "processes": True, "dashboard_address": ":0"}},
    )
    assert "OMP_NUM_THREADS" not in os.environ
