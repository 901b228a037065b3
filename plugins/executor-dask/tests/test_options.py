"""Bad ``-o`` options are refused before anything runs, in one line naming the option."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agilab_core import ConfigError, UsageError


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"scheduler": "tcp://h:8786", "cluster": "distributed:LocalCluster"}, UsageError, "-o scheduler and -o cluster exclude each other"),
        ({"cluster_options": "{n_workers = 2}"}, UsageError, "-o cluster_options needs -o cluster=module:Class"),
        ({"cluster": "distributed"}, UsageError, "-o cluster=distributed: expected module:Class"),
        ({"cluster": "no_such_module:Cluster"}, UsageError, "-o cluster=no_such_module:Cluster: cannot import"),
        ({"cluster": "distributed:NoSuchCluster"}, UsageError, "-o cluster=distributed:NoSuchCluster: cannot import"),
        ({"cluster": "distributed:__version__"}, UsageError, "-o cluster=distributed:__version__: str is not a cluster manager class"),
        ({"retries": "-1"}, ConfigError, "retries must be >= 0"),
        ({"connect_timeout": "0"}, ConfigError, "connect_timeout must be > 0"),
        ({"batch_size": "many"}, ConfigError, "batch_size"),
        ({"turbo": "yes"}, ConfigError, r"unknown field\(s\) turbo"),
    ],
)
def test_bad_options_are_refused_before_the_run(agi, agilab_home, options, error, message):
    with pytest.raises(error, match=message) as info:
        agi.run("probe", executor="dask", workers=2, executor_options=options)
    assert "\n" not in str(info.value)
    assert not (agilab_home / "runs").exists()  # nothing ran, no run folder


def test_embedded_cluster_refuses_other_hosts(agi):
    with pytest.raises(UsageError, match="embedded Dask cluster runs on this machine; --workers farhost=2 names other hosts"):
        agi.get_distrib("probe", executor="dask", workers="farhost=2")


def test_other_hosts_are_planned_for_a_running_cluster(agi):
    plan = agi.get_distrib("probe", executor="dask", workers="node1=2,node2=1", executor_options={"scheduler": "tcp://node1:8786"})
    assert [s.id for s in plan.plan.slots] == ["node1/0", "node1/1", "node2/0"]


def test_cluster_options_from_the_settings_file(agi, agilab_home):
    settings = agilab_home / "apps" / "probe" / "app_settings.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text('[cluster]\nexecutor = "dask"\n[cluster.options]\ncluster = "distributed:LocalCluster"\ncluster_options = {n_workers = 1}\n')
    plan = agi.get_distrib("probe", workers=1)
    assert plan.executor == "dask"


def test_agilab_plugins_lists_dask():
    agilab = str(Path(sys.executable).with_name("agilab"))
    out = subprocess.run([agilab, "plugins", "--json"], check=True, capture_output=True, text=True).stdout
    (dask,) = [p for p in json.loads(out) if p["name"] == "dask"]
    assert dask["kind"] == "executor" and dask["distribution"] == "agilab-executor-dask" and dask["status"] == "loaded"


def test_loading_the_plugin_does_not_import_dask():
    # every `agilab` command loads every plugin; only a dask run should pay for importing Dask
    code = "import sys, agilab_executor_dask.executor; print('distributed' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip() == "False"
