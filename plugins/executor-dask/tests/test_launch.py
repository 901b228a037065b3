"""Worker processes launched before the manager has a scheduler (real processes, a real scheduler)."""

from __future__ import annotations

import sys

import pytest
from agilab_executor_dask.cluster import start_embedded
from agilab_executor_dask.launch import launch_ahead, launch_worker, worker_environment

from agilab_core import ConfigError, WorkerSlot


def test_a_worker_whose_manager_goes_away_before_the_address_exits(tmp_path, no_new_processes):
    process = launch_worker(sys.executable, "w0", worker_environment(1, None), str(tmp_path / "w0.log"), 30.0)
    assert process.poll() is None  # waiting for its scheduler's address
    process.stdin.close()  # what the manager's death does to the pipe
    assert process.wait(timeout=30) == 0


def test_workers_launched_ahead_join_the_scheduler_started_after_them(no_new_processes):
    slots = [WorkerSlot("localhost", i) for i in range(2)]
    launched = launch_ahead(sys.executable, slots, 1, 60.0, preload="json")
    cluster = start_embedded(launched, dashboard="")
    try:
        by_name = {w["name"]: w for w in cluster.workers().values()}
        assert sorted(by_name) == ["localhost/0", "localhost/1"]
        pids = cluster.client.run(lambda: __import__("os").getpid())
        assert sorted(pids.values()) == sorted(p.pid for p in launched.processes.values())  # the very processes launched
        preloaded = cluster.client.run(lambda: "json" in __import__("sys").modules)
        assert set(preloaded.values()) == {True}
        threads = cluster.client.run(lambda: __import__("os").environ["POLARS_MAX_THREADS"])
        assert set(threads.values()) == {"1"}
    finally:
        cluster.close()


def test_a_preload_that_cannot_be_imported_leaves_the_error_to_the_run(no_new_processes):
    launched = launch_ahead(sys.executable, [WorkerSlot("localhost", 0)], None, 60.0, preload="agilab_no_such_module")
    cluster = start_embedded(launched, dashboard="")
    try:
        assert len(cluster.workers()) == 1
    finally:
        cluster.close()


def test_closing_what_was_launched_stops_it_and_removes_its_logs(no_new_processes):
    launched = launch_ahead(sys.executable, [WorkerSlot("localhost", i) for i in range(2)], None, 60.0)
    processes = list(launched.processes.values())
    launched.close()
    assert all(p.poll() is not None for p in processes)
    assert not __import__("os").path.exists(launched.logs)


def test_a_worker_python_that_is_not_there_is_refused_before_any_launch(tmp_path):
    with pytest.raises(ConfigError, match=r"worker python .*/nope does not exist or cannot be run; run `agilab install`"):
        launch_ahead(str(tmp_path / "nope"), [WorkerSlot("localhost", 0)], None, 60.0)


def test_a_worker_that_finds_no_scheduler_gives_up_after_its_death_timeout_saying_so(tmp_path):
    process = launch_worker(sys.executable, "w0", worker_environment(1, None), str(tmp_path / "w0.log"), 2.0)
    try:
        process.stdin.write(b"tcp://127.0.0.1:9\n")
        process.stdin.close()
        assert process.wait(timeout=60) != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "TimeoutError: Worker start timed out after 2s" in (tmp_path / "w0.log").read_text()  # its last words, for the run's error
