"""The dask executor passes the kernel's executor conformance suite, embedded and on a running cluster."""

import pytest
from agilab_core.testing import ExecutorConformance


class TestDaskEmbeddedConformance(ExecutorConformance):
    executor = "dask"
    workers = "2"


class TestDaskRunningClusterConformance(ExecutorConformance):
    executor = "dask"
    workers = "2"

    @pytest.fixture(autouse=True)
    def _use_running_cluster(self, running_cluster):
        self.options = {"scheduler": running_cluster.scheduler_address}
