"""Both executors of this package pass the kernel's executor conformance suite."""

from agilab_core.testing import ExecutorConformance


class TestLocalConformance(ExecutorConformance):
    executor = "local"
    workers = "1"
    in_process = True  # items run in the test's process: the tests that kill a worker are deselected


class TestPoolConformance(ExecutorConformance):
    executor = "pool"
    workers = "2"
