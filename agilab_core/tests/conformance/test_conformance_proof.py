"""Each conformance test can fail: run on an executor with the matching bug, in a real pytest session, it does.

The two executors that honour the contract pass the whole suite, so each
failure below is the bug's, not the set-up's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from agilab_core.plugins import load_plugins
from agilab_core.runner import Agi

# pytester forgets the modules a test imported (and an in-process session the
# ones it imported): the plugins and the kernel's manager side are imported
# once here, at collection, so every session sees one class per name.
Agi(load_plugins())

pytest_plugins = ["pytester"]

HERE = Path(__file__).resolve().parent

SUITE = """
import pytest
from agilab_core.testing import ExecutorConformance
from conformance_executors import ConformanceExecutors


@pytest.fixture
def agilab_registry(agilab_registry):
    agilab_registry.register(ConformanceExecutors(), name="conformance-executors")
    return agilab_registry


class TestSuite(ExecutorConformance):
    executor = {executor!r}
    workers = "2"
    in_process = {in_process}
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> Iterator[object]:
    """``suite(executor, in_process, *pytest_args)``: the conformance suite on ``executor``, in a pytest session of its own."""
    pytester.syspathinsert(HERE)
    import conformance_executors

    conformance_executors.RELEASE_LEFT_THREADS.clear()

    def run(executor: str, in_process: bool, *args: str) -> pytest.RunResult:
        pytester.makepyfile(test_suite=SUITE.format(executor=executor, in_process=in_process))
        return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)

    yield run
    conformance_executors.RELEASE_LEFT_THREADS.set()  # the thread `leaky` left behind may end now
    for process in conformance_executors.LEFT_PROCESSES:  # and the processes `orphaning` left
        process.kill()
        process.wait()
    conformance_executors.LEFT_PROCESSES.clear()


def test_an_in_process_executor_that_honours_the_contract_passes_and_deselects_the_killing_tests(suite) -> None:
    done = suite("threads", True)
    done.assert_outcomes(passed=10, deselected=2)


def test_an_out_of_process_executor_that_honours_the_contract_passes_the_fault_tests(suite) -> None:
    done = suite("spawn", False, "-k", "killed or cannot_start or in_process")  # (its other tests are the threads executor's)
    done.assert_outcomes(passed=4, deselected=8)


BUGS = [
    ("twice", True, "test_every_item_runs_exactly_once", "items run other than once (by the workers' own count)"),
    ("swallowing", True, "test_a_worker_that_cannot_start_the_app_surfaces_the_real_error", "the worker's start-up error is lost"),
    ("foreign-thread", True, "test_results_reach_on_result_on_the_thread_that_called_run", "on_result was called from 2 other thread(s)"),
    ("close-once", True, "test_close_is_safe_twice_and_leaves_no_process_or_thread", "RuntimeError: closed already"),
    ("forgetful", False, "test_a_worker_killed_mid_item_is_retried_with_its_attempts", "result says 1 attempt(s), the workers ran the item 2 time(s)"),
    ("inventing", True, "test_results_name_the_plans_slots", "results name slots ['thread-0', 'thread-1'], not in the plan's"),
    ("leaky", True, "test_close_is_safe_twice_and_leaves_no_process_or_thread", "close() left thread(s) behind: ['leaky-heartbeat']"),
    ("orphaning", True, "test_close_is_safe_twice_and_leaves_no_process_or_thread", "close() left child process(es) behind"),
    ("no-retry", False, "test_a_worker_killed_mid_item_is_retried_with_its_attempts", "the item that killed its worker was not run again"),
    ("threads", False, "test_a_worker_killed_every_time_is_reported_with_its_attempts", "items run in the test's own process, where killing"),
    ("threads", False, "test_in_process_says_where_items_run", "items ran in the test's own process: declare in_process = True"),
    ("spawn", True, "test_in_process_says_where_items_run", "in_process is declared, but items ran in other processes"),
    ("stop-at-failure", True, "test_a_failing_item_fails_alone_with_its_message_and_traceback", "AssertionError"),
    ("untyped-options", True, "test_options_are_typed_and_bad_ones_refused_in_one_line", "UntypedOptions: every option needs a type annotation"),
]


@pytest.mark.parametrize(("executor", "in_process", "test", "says"), BUGS, ids=[f"{b[0]}-{b[2]}" for b in BUGS])
def test_the_matching_conformance_test_fails_on_a_broken_executor(suite, executor: str, in_process: bool, test: str, says: str) -> None:
    done = suite(executor, in_process, "-k", test)
    done.assert_outcomes(failed=1, deselected=11)
    assert says in done.stdout.str()


def test_the_threads_executor_of_the_docs_is_the_tested_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    monkeypatch.syspath_prepend(str(HERE))
    import conformance_executors

    docs = (HERE.parents[2] / "docs" / "testing.md").read_text(encoding="utf-8")
    assert inspect.getsource(conformance_executors.ThreadsExecutor) in docs
