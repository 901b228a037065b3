"""Dispatch: every item once, results streamed while others still run, both slots busy, batches of any size."""

from __future__ import annotations

import json
import time


def test_results_stream_in_while_other_items_have_not_started(agi):
    arrivals = []
    result = agi.run("probe", executor="dask", workers=2, args={"count": 24, "sleep": 0.02}, on_result=lambda r: arrivals.append(time.time()))
    assert result.status == "ok"
    last_start = max(r.started for r in result.results)
    assert min(arrivals) < last_start  # the first result came back before the last item began


def test_both_slots_share_the_work(agi):
    result = agi.run("probe", executor="dask", workers=2, args={"count": 40, "sleep": 0.01, "write": False})
    assert {r.worker for r in result.results} == {"localhost/0", "localhost/1"}
    assert result.summary["pids"] == 2


def test_many_items_in_fixed_small_batches_each_run_exactly_once(agi):
    seen = []
    result = agi.run("probe", executor="dask", workers=2, args={"count": 500, "write": False}, executor_options={"batch_size": 7}, on_result=seen.append)
    assert result.status == "ok"
    ids = [r.item_id for r in seen]
    assert len(ids) == len(set(ids)) == 500


def test_adaptive_batches_carry_many_quick_items(agi):
    result = agi.run("probe", executor="dask", workers=2, args={"count": 5000, "write": False})
    assert result.status == "ok" and result.items["ok"] == 5000
    batches = json.loads(result.manifest.read_text())["executor"]["info"]["batches"]
    assert batches < 500  # about 0.2 s of work each: hundreds of items per batch, after the first ones


def test_fixed_batches_hold_batch_size_items(agi):
    # One worker: with two, an idle slot steals half of the other's queue and
    # may send a short batch, so the count would depend on timing.
    result = agi.run("probe", executor="dask", workers=1, args={"count": 70, "write": False}, executor_options={"batch_size": 7})
    assert json.loads(result.manifest.read_text())["executor"]["info"]["batches"] == 10


def test_math_library_threads_are_set_by_the_option_and_otherwise_kept_from_the_environment(agi, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    result = agi.run("probe", executor="dask", workers=2, args={"count": 2}, executor_options={"threads_per_worker": 1})
    assert {r.metrics["threads"] for r in result.results} == {"1"}
    result = agi.run("probe", executor="dask", workers=2, args={"count": 2})
    assert {r.metrics["threads"] for r in result.results} == {"7"}


def test_progress_is_reported_in_one_line_messages(agi):
    from agilab_executor_dask.cluster import dashboard_available

    heard = []
    result = agi.run("probe", executor="dask", workers=2, args={"count": 4}, report=heard.append)
    assert result.status == "ok"
    assert any(m.startswith("dask: 2 workers connected to tcp://127.0.0.1:") for m in heard), heard
    assert any(m.startswith("dask: dashboard at http://") for m in heard) == dashboard_available()
    assert all("\n" not in m for m in heard)


def test_no_more_workers_start_than_there_are_items(agi):
    heard = []
    result = agi.run("probe", executor="dask", workers=3, args={"count": 2}, report=heard.append)
    assert result.status == "ok"
    info = json.loads(result.manifest.read_text())["executor"]["info"]
    assert info["workers"] == 2
    assert any(m.startswith("dask: 2 workers connected") for m in heard), heard
