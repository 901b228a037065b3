"""Faults on a real embedded cluster: killed workers, failing items, Ctrl-C, unreachable and vanishing clusters.

Worker deaths are real: the probe app's worker sends SIGKILL to its own process.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from agilab_executor_dask.executor import DaskOptions
from distributed import LocalCluster


def _manifest(result):
    return json.loads(result.manifest.read_text())


def test_worker_killed_mid_run_reruns_its_items_elsewhere(agi, tmp_path, no_new_processes):
    seen = []
    result = agi.run(
        "probe", executor="dask", workers=2, args={"count": 30, "die_once": [7], "marker_dir": str(tmp_path)}, on_result=seen.append
    )
    assert result.status == "ok"
    assert (tmp_path / "died-7").exists()
    assert sorted(r.item_id for r in seen) == [f"item-{i:05d}" for i in range(30)]  # each reported once
    files = sorted(p.name for p in (result.outputs / "probe").iterdir())
    assert files == [f"item-{i:05d}.json" for i in range(30)]  # each output exactly once, none half-written
    by_id = {r["item_id"]: r for r in _manifest(result)["results"]}
    assert by_id["item-00007"]["attempts"] == 2
    assert sum(r["attempts"] > 1 for r in by_id.values()) <= 15  # only the dead worker's batches (of its 15-item share) were sent again


def test_item_that_always_kills_its_worker_fails_alone(agi, no_new_processes):
    result = agi.run("probe", executor="dask", workers=2, args={"count": 10, "die_always": [3]})
    assert result.status == "failed" and result.error is None
    assert result.items == {"total": 10, "ok": 9, "failed": 1}
    (failed,) = result.failed()
    assert failed.item_id == "item-00003"
    assert failed.error.type == "WorkerDied"
    assert "died while running this item, 2 time(s)" in failed.error.message
    assert failed.attempts == 2
    assert failed.worker in {"localhost/0", "localhost/1"}


def test_an_item_that_kills_every_worker_never_takes_an_innocent_item_with_it(agi):
    # while the killer's own worker restarts it runs elsewhere: never beside another item's last attempt
    for _ in range(4):
        result = agi.run("probe", executor="dask", workers=2, args={"count": 10, "die_always": [3]})
        assert [(f.item_id, f.attempts) for f in result.failed()] == [("item-00003", 2)]
        assert result.items["ok"] == 9


def test_retries_zero_fails_an_item_the_first_time_it_kills_its_worker_alone(agi):
    result = agi.run("probe", executor="dask", workers=1, args={"count": 3, "die_always": [0]}, executor_options={"retries": 0})
    (failed,) = result.failed()
    # first sent in a batch (the culprit unknown), then alone: the death that names it fails it
    assert failed.item_id == "item-00000" and failed.attempts == 2
    assert "died while running this item, 2 time(s)" in failed.error.message
    assert result.items["ok"] == 2


def test_failing_item_fails_alone_with_its_traceback(agi):
    result = agi.run("probe", executor="dask", workers=2, args={"count": 40, "fail": [11]}, executor_options={"batch_size": 8})
    assert result.items == {"total": 40, "ok": 39, "failed": 1}
    (failed,) = result.failed()
    assert failed.item_id == "item-00011" and failed.attempts == 1
    assert "probe item 11 fails on purpose" in failed.error.message
    assert 'raise ValueError(f"probe item {index} fails on purpose")' in failed.error.traceback


def _refused_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_scheduler_that_does_not_answer_is_a_one_line_error_within_the_timeout(agi, kind):
    silent = socket.socket()  # accepts connections (backlog) but never speaks
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    address = _refused_address() if kind == "refused" else f"tcp://127.0.0.1:{silent.getsockname()[1]}"
    try:
        started = time.monotonic()
        result = agi.run("probe", executor="dask", workers=2, args={"count": 3}, executor_options={"scheduler": address, "connect_timeout": 1})
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    # Not a speed measurement: a run that ignored connect_timeout=1 would wait the default 10 s.
    assert elapsed < DaskOptions().connect_timeout
    assert result.status == "failed"
    assert result.error.startswith(f"-o scheduler={address}: no Dask scheduler answered within 1 s")
    assert "\n" not in result.error
    manifest = _manifest(result)
    assert manifest["error"] == result.error
    assert manifest["unfinished"] == ["item-00000", "item-00001", "item-00002"]


def test_losing_every_worker_fails_the_run_and_says_which_items_finished(agi, no_new_processes):
    scheduler = LocalCluster(n_workers=0, processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", scheduler.scheduler_address, "--no-nanny", "--nthreads", "1", "--name", f"w{i}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i in range(2)
    ]

    scheduler.wait_for_workers(2, timeout=120)  # joined before the run: its 1 s worker_timeout is for losing them

    def kill_workers_after_first(result):
        for w in workers:
            if w.poll() is None:
                os.kill(w.pid, signal.SIGKILL)

    try:
        result = agi.run(
            "probe", executor="dask", workers=2, args={"count": 40, "sleep": 0.05},
            executor_options={"scheduler": scheduler.scheduler_address, "worker_timeout": 1}, on_result=kill_workers_after_first,
        )
    finally:
        for w in workers:
            w.kill()
            w.wait()
        scheduler.close()
    assert result.status == "failed"
    assert f"all Dask workers of {scheduler.scheduler_address} are gone (none for 1 s" in result.error
    assert "\n" not in result.error
    manifest = _manifest(result)
    finished = {r["item_id"] for r in manifest["results"]}
    assert finished and len(finished) < 40
    assert f"{len(finished)} of 40 items finished" in result.error
    assert set(manifest["unfinished"]) == {f"item-{i:05d}" for i in range(40)} - finished


def test_interrupting_the_manager_closes_the_cluster(agi, agilab_home, no_new_processes):
    def interrupt(result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        agi.run("probe", executor="dask", workers=2, args={"count": 50, "sleep": 0.02}, on_result=interrupt)
    (run_dir,) = (agilab_home / "runs" / "probe").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["unfinished"]


def test_a_run_leaves_no_process_behind(agi, no_new_processes):
    result = agi.run("probe", executor="dask", workers=2, args={"count": 5, "fail": [1]})
    assert result.items["ok"] == 4
