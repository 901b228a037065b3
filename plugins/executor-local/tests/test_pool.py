"""The pool executor survives dying workers and leaves no process behind.

Worker deaths here are real: the probe worker sends SIGKILL to its own process.
"""

from __future__ import annotations

import json
import multiprocessing
import threading

import pytest

from agilab_core import CORES, ConfigError, UsageError


def _manifest(result):
    return json.loads(result.manifest.read_text())


def test_worker_killed_mid_item_is_retried_on_a_fresh_process(agi, tmp_path):
    result = agi.run("probe", executor="pool", workers=2, args={"count": 12, "die_once": [5], "marker_dir": str(tmp_path)})
    assert result.status == "ok"
    assert result.items == {"total": 12, "ok": 12, "failed": 0}
    by_id = {r["item_id"]: r for r in _manifest(result)["results"]}
    assert by_id["item-00005"]["attempts"] == 2
    assert all(r["attempts"] == 1 for i, r in by_id.items() if i != "item-00005")
    assert (tmp_path / "died-5").exists()
    assert len(list((result.outputs / "probe").iterdir())) == 12


def test_item_that_always_kills_its_worker_fails_alone(agi):
    result = agi.run("probe", executor="pool", workers=2, args={"count": 10, "die_always": [3]})
    assert result.status == "failed"
    assert result.items == {"total": 10, "ok": 9, "failed": 1}
    (failed,) = result.failed()
    assert failed.item_id == "item-00003"
    assert failed.error.type == "WorkerDied"
    assert "SIGKILL" in failed.error.message and "2 time(s)" in failed.error.message
    assert failed.attempts == 2


def test_retries_option_bounds_the_attempts(agi):
    result = agi.run("probe", executor="pool", workers=1, args={"count": 3, "die_always": [1]}, executor_options={"retries": 0})
    (failed,) = result.failed()
    assert failed.attempts == 1 and "1 time(s)" in failed.error.message
    assert result.items["ok"] == 2


def test_many_items_in_small_batches_each_run_exactly_once(agi):
    seen = []
    result = agi.run("probe", executor="pool", workers=2, args={"count": 500, "write": False}, executor_options={"batch_size": 7}, on_result=seen.append)
    assert result.status == "ok"
    ids = [r.item_id for r in seen]
    assert len(ids) == len(set(ids)) == 500


def test_both_processes_share_the_work(agi):
    result = agi.run("probe", executor="pool", workers=2, args={"count": 40, "sleep": 0.01, "write": False})
    workers = {r.worker for r in result.results}
    assert workers == {"localhost/0", "localhost/1"}
    assert result.summary["pids"] == 2


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("retries", "-1", "retries must be >= 0 and <= 100, got -1"),
        ("retries", "1000", "retries must be >= 0 and <= 100, got 1000"),
        ("retries", "1e308", "retries"),
        ("batch_size", "inf", "batch_size"),
        ("flush_seconds", "nan", "flush_seconds"),
        ("flush_seconds", "-inf", "flush_seconds"),
        ("flush_seconds", "1e308", "flush_seconds"),
        ("flush_seconds", "7200", "flush_seconds must be >= 0 and <= 3600, got 7200"),
        ("threads_per_worker", "1000000", f"threads_per_worker must be >= 0 and <= {CORES} (the cores of this machine), got 1000000"),
        ("start_method", "fork", "unknown field(s) start_method"),
    ],
)
def test_bad_numbers_are_refused_in_one_line_naming_the_option_before_the_run_folder_exists(agi, agilab_home, option, value, message):
    with pytest.raises(ConfigError) as info:
        agi.run("probe", executor="pool", workers=2, executor_options={option: value})
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (agilab_home / "runs").exists()


def test_unknown_option_is_refused(agi):
    with pytest.raises(ConfigError, match="unknown field.*turbo"):
        agi.run("probe", executor="pool", executor_options={"turbo": "yes"})


def test_remote_hosts_are_refused(agi):
    with pytest.raises(UsageError, match="this machine only"):
        agi.run("probe", executor="pool", workers="farhost=2")


def _children() -> set[int]:
    # other tests' fixtures (a shared Dask cluster, say) may own children too
    return {p.pid for p in multiprocessing.active_children()}


def test_no_process_is_left_after_a_run(agi):
    before = _children()
    agi.run("probe", executor="pool", workers=2, args={"count": 4, "fail": [1]})
    assert _children() - before == set()


def test_interrupting_the_manager_stops_every_worker(agi, agilab_home):
    # Ctrl-C arrives in the manager as KeyboardInterrupt from inside on_result.
    def interrupt(result):
        raise KeyboardInterrupt

    before = _children()
    with pytest.raises(KeyboardInterrupt):
        agi.run("probe", executor="pool", workers=2, args={"count": 50, "sleep": 0.05}, on_result=interrupt)
    assert _children() - before == set()
    (run_dir,) = (agilab_home / "runs" / "probe").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["unfinished"]


def test_worker_threads_are_set_by_the_option_and_otherwise_kept_from_the_environment(agi, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    result = agi.run("probe", executor="pool", workers=2, args={"count": 2}, executor_options={"threads_per_worker": 1})
    assert {r.metrics["threads"] for r in result.results} == {"1"}
    result = agi.run("probe", executor="pool", workers=2, args={"count": 2})
    assert {r.metrics["threads"] for r in result.results} == {"7"}
    monkeypatch.delenv("OMP_NUM_THREADS")
    result = agi.run("probe", executor="pool", workers=2, args={"count": 2})
    assert {r.metrics["threads"] for r in result.results} == {str(max(1, CORES // 2))}


def test_concurrent_runs_keep_separate_folders(agi):
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(agi.run("probe", executor="pool", workers=1, args={"count": 5})))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.run_id for r in results}) == 2
    for r in results:
        assert r.status == "ok" and len(list((r.outputs / "probe").iterdir())) == 5
