"""Both executors of this package pass the kernel's executor conformance suite."""

from agilab_core.testing import ExecutorConformance


class TestLocalConformance(ExecutorConformance):
    executor = "local"
    workers = "1"


class TestPoolConformance(ExecutorConformance):
    executor = "pool"
    workers = "2"
