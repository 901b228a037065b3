"""Results name plan slots, so capacity telemetry learns from dask runs and the next plan uses it."""

from __future__ import annotations

import json


def test_a_dask_run_feeds_capacity_json_and_the_next_plan(agi, agilab_home):
    before = agi.get_distrib("probe", executor="dask", workers=2)
    assert before.capacities == {}
    result = agi.run("probe", executor="dask", workers=2, args={"count": 30, "sleep": 0.005, "write": False})
    assert result.status == "ok"
    assert {r.worker for r in result.results} <= {s.id for s in before.plan.slots}
    capacity = json.loads((agilab_home / "capacity.json").read_text())
    assert capacity["hosts"]["localhost"]["bytes_per_s"] > 0
    after = agi.get_distrib("probe", executor="dask", workers=2)  # what `agilab plan` shows
    assert after.capacities["localhost"] == capacity["hosts"]["localhost"]["bytes_per_s"]
    assert after.to_dict()["capacities"]["localhost"] > 0


def test_each_host_of_a_running_cluster_gets_its_capacity(agi, agilab_home, running_cluster):
    options = {"scheduler": running_cluster.scheduler_address}
    agi.run("probe", executor="dask", workers="localhost=1,127.0.0.1=1", args={"count": 30, "sleep": 0.005, "write": False}, executor_options=options)
    hosts = json.loads((agilab_home / "capacity.json").read_text())["hosts"]
    assert set(hosts) == {"localhost", "127.0.0.1"}
    plan = agi.get_distrib("probe", executor="dask", workers="localhost=1,127.0.0.1=1", executor_options=options)
    assert set(plan.capacities) == {"localhost", "127.0.0.1"}
