"""The dask executor passes the kernel's executor conformance suite, embedded and on a running cluster."""

import logging

import dask
import pytest
from agilab_core.testing import ExecutorConformance
from agilab_executor_dask.cluster import environment_kept
from distributed import LocalCluster


@pytest.fixture(scope="module")
def strict_running_cluster():
    """A running cluster (2 worker processes, 1 thread each) whose scheduler re-runs nothing on its own.

    Dask's default ``allowed-failures`` (3) lets the scheduler run a batch
    again, unseen, when its worker dies: the item's result then says one
    attempt where the workers made two, which the suite rightly fails. The
    embedded cluster sets it to 0; a running one is configured the same way.
    """
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), environment_kept():
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", memory_limit=0, silence_logs=logging.CRITICAL
        )
    yield cluster
    cluster.close()


class TestDaskEmbeddedConformance(ExecutorConformance):
    executor = "dask"
    workers = "2"


class TestDaskRunningClusterConformance(ExecutorConformance):
    executor = "dask"
    workers = "2"

    @pytest.fixture(autouse=True)
    def _use_running_cluster(self, strict_running_cluster):
        self.options = {"scheduler": strict_running_cluster.scheduler_address}
