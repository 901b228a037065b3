"""Bad ``-o`` options are refused before anything runs, in one line naming the option."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agilab_core import CORES, ConfigError, UsageError


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"scheduler": "tcp://h:8786", "cluster": "distributed:LocalCluster"}, UsageError, "-o scheduler and -o cluster exclude each other"),
        ({"cluster_options": "{n_workers = 2}"}, UsageError, "-o cluster_options needs -o cluster=module:Class"),
        ({"cluster": "distributed"}, UsageError, "-o cluster=distributed: expected module:Class"),
        ({"cluster": "no_such_module:Cluster"}, UsageError, "-o cluster=no_such_module:Cluster: cannot import"),
        ({"cluster": "distributed:NoSuchCluster"}, UsageError, "-o cluster=distributed:NoSuchCluster: cannot import"),
        ({"cluster": "distributed:__version__"}, UsageError, "-o cluster=distributed:__version__: str is not a Dask cluster manager"),
        ({"cluster": "os:system"}, UsageError, "-o cluster=os:system: function system is not a Dask cluster manager (a subclass of distributed.deploy.Cluster)"),
        ({"cluster": "distributed:Client"}, UsageError, "-o cluster=distributed:Client: class Client is not a Dask cluster manager"),
        ({"retries": "-1"}, ConfigError, "retries must be >= 0"),
        ({"retries": "1e308"}, ConfigError, "retries"),
        ({"connect_timeout": "0"}, ConfigError, "connect_timeout must be > 0"),
        ({"connect_timeout": "nan"}, ConfigError, "connect_timeout"),
        ({"connect_timeout": "inf"}, ConfigError, "connect_timeout"),
        ({"worker_timeout": "1e308"}, ConfigError, "worker_timeout must be > 0 and <= 604800, got 1e+308"),
        ({"threads_per_worker": "1000000"}, ConfigError, f"threads_per_worker must be >= 0 and <= {CORES} (the cores of this machine), got 1000000"),
        ({"batch_size": "1e308"}, ConfigError, "batch_size"),
        ({"batch_size": "many"}, ConfigError, "batch_size"),
        ({"turbo": "yes"}, ConfigError, "unknown field(s) turbo"),
    ],
)
def test_bad_options_are_refused_before_the_run(agi, agilab_home, options, error, message):
    with pytest.raises(error) as info:
        agi.run("probe", executor="dask", workers=2, executor_options=options)
    assert message in str(info.value) and "\n" not in str(info.value)
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


@pytest.mark.parametrize("where", ["-o", "settings file"])
def test_a_cluster_that_is_not_a_dask_cluster_manager_is_never_called(agi, agilab_home, tmp_path, where):
    # builtins:open with these options would create the file: it must be refused before it is called
    target = tmp_path / "created-by-the-cluster-option"
    options = {"cluster": "builtins:open", "cluster_options": {"file": str(target), "mode": "w"}}
    if where == "settings file":
        settings = agilab_home / "apps" / "probe" / "app_settings.toml"
        settings.parent.mkdir(parents=True)
        settings.write_text(
            f'[cluster]\nexecutor = "dask"\n[cluster.options]\ncluster = "builtins:open"\ncluster_options = {{file = "{target}", mode = "w"}}\n'
        )
        options = {}
    with pytest.raises(UsageError, match="-o cluster=builtins:open: function open is not a Dask cluster manager"):
        agi.run("probe", executor="dask", workers=1, executor_options=options)
    with pytest.raises(UsageError, match="is not a Dask cluster manager"):
        agi.get_distrib("probe", executor="dask", workers=1, executor_options=options)
    assert not target.exists()
    assert not (agilab_home / "runs").exists()


def test_agilab_plugins_lists_dask():
    agilab = str(Path(sys.executable).with_name("agilab"))
    out = subprocess.run([agilab, "plugins", "--json"], check=True, capture_output=True, text=True).stdout
    (dask,) = [p for p in json.loads(out) if p["name"] == "dask"]
    assert dask["kind"] == "executor" and dask["distribution"] == "agilab-executor-dask" and dask["status"] == "loaded"


def test_loading_the_plugin_does_not_import_dask():
    # every `agilab` command loads every plugin; only a dask run should pay for importing Dask
    code = "import sys, agilab_executor_dask.executor; print('distributed' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip() == "False"
