"""What executors share: slot queues with stealing, results reported once on the run's thread, numeric option checks."""

from __future__ import annotations

import math
import threading

import attrs
import pytest
from agilab_core.dispatch import Entry, Results, SlotQueues
from agilab_core.executor import THREAD_VARS, in_range, worker_environment
from hypothesis import given
from hypothesis import strategies as st

from agilab_core import ITEM_FAILED, Executor, ExecutorSpec, ItemResult, WorkerSlot, WorkItem, WorkPlan, hookimpl


def _plan(sizes: list[int]) -> tuple[WorkPlan, dict[str, WorkItem]]:
    items: dict[str, WorkItem] = {}
    assignments = []
    for slot, size in enumerate(sizes):
        ids = []
        for i in range(size):
            item = WorkItem(f"s{slot}-{i}", i)
            items[item.id] = item
            ids.append(item.id)
        assignments.append(tuple(ids))
    slots = tuple(WorkerSlot("localhost", i) for i in range(len(sizes)))
    return WorkPlan(slots=slots, assignments=tuple(assignments), loads=tuple(float(n) for n in sizes)), items


def _ok(item_id: str) -> ItemResult:
    return ItemResult(item_id, "ok", "localhost/0", "localhost", 0.0, 0.0)


# -- slot queues --------------------------------------------------------------------------


@given(
    sizes=st.lists(st.integers(0, 30), min_size=1, max_size=5),
    takers=st.lists(st.tuples(st.integers(0, 4), st.integers(1, 9)), min_size=1, max_size=400),
)
def test_every_item_is_taken_exactly_once_whoever_asks(sizes, takers):
    plan, items = _plan(sizes)
    queues = SlotQueues(plan, items)
    taken: list[int] = []
    for slot, size in takers:
        batch = queues.take(slot % len(sizes), size)
        assert len(batch) <= size
        taken += [e.seq for e in batch]
    while queues:
        taken += [e.seq for e in queues.take(0, 7)]
    assert sorted(taken) == list(range(sum(sizes)))
    assert queues.take(0, 1) == []


def test_items_keep_plan_order_within_a_slot():
    plan, items = _plan([3, 2])
    queues = SlotQueues(plan, items)
    assert [queues.item(e).id for e in queues.take(0, 10)] == ["s0-0", "s0-1", "s0-2"]
    assert [queues.item(e).id for e in queues.take(1, 10)] == ["s1-0", "s1-1"]


def test_an_empty_slot_steals_half_of_the_longest_queue_from_its_end():
    plan, items = _plan([0, 8, 3])
    queues = SlotQueues(plan, items)
    batch = queues.take(0, 100)
    assert [queues.item(e).id for e in batch] == ["s1-4", "s1-5", "s1-6", "s1-7"]
    assert queues.waiting(1) == 4 and queues.waiting(2) == 3


def test_the_last_entry_anywhere_is_stolen_whole():
    plan, items = _plan([0, 1])
    queues = SlotQueues(plan, items)
    assert [queues.item(e).id for e in queues.take(0, 5)] == ["s1-0"]
    assert not queues and len(queues) == 0


def test_batch_size_can_follow_the_queue_length():
    plan, items = _plan([16])
    queues = SlotQueues(plan, items)
    assert len(queues.take(0, lambda q: len(q) // 4)) == 4
    assert len(queues.take(0, lambda q: len(q) // 4)) == 3
    assert len(queues.take(0, lambda q: 0)) == 1  # never an empty batch while items wait


def test_entries_put_back_come_first_in_their_order_and_alone_ones_by_themselves():
    plan, items = _plan([4])
    queues = SlotQueues(plan, items)
    first = queues.take(0, 3)
    queues.put_back(0, [Entry(e.seq, e.attempts + 1, alone=True) for e in first])
    assert [(e.seq, e.attempts) for e in queues.take(0, 10)] == [(0, 2)]
    assert [(e.seq, e.attempts) for e in queues.take(0, 10)] == [(1, 2)]
    assert [(e.seq, e.attempts) for e in queues.take(0, 10)] == [(2, 2)]
    assert [(e.seq, e.attempts) for e in queues.take(0, 10)] == [(3, 1)]


def test_a_batch_stops_before_an_item_that_runs_alone():
    plan, items = _plan([5])
    queues = SlotQueues(plan, items)
    queues.queues[0][2].alone = True
    assert [e.seq for e in queues.take(0, 10)] == [0, 1]
    assert [e.seq for e in queues.take(0, 10)] == [2]
    assert [e.seq for e in queues.take(0, 10)] == [3, 4]


# -- results ---------------------------------------------------------------------------------


def test_each_item_is_reported_once_and_the_first_result_counts():
    plan, items = _plan([3])
    seen: list[ItemResult] = []
    results = Results(SlotQueues(plan, items).items, seen.append)
    assert results.report(_ok("s0-1"))
    assert not results.report(attrs.evolve(_ok("s0-1"), rows=9))
    assert [r.rows for r in seen] == [0]
    assert results.outstanding == 2 and results.progress() == "1 of 3 items finished"


def test_a_failure_names_the_item_the_worker_and_the_attempts():
    plan, items = _plan([2])
    seen: list[ItemResult] = []
    results = Results(SlotQueues(plan, items).items, seen.append)
    results.fail(1, "WorkerDied", "worker died twice", worker="localhost/0", host="localhost", attempts=2)
    (failed,) = seen
    assert (failed.item_id, failed.status, failed.attempts, failed.worker) == ("s0-1", ITEM_FAILED, 2, "localhost/0")
    assert (failed.error.type, failed.error.message) == ("WorkerDied", "worker died twice")


def test_results_from_other_threads_reach_on_result_on_the_run_thread():
    plan, items = _plan([50])
    run_thread = threading.get_ident()
    callers: set[int] = set()
    seen: list[str] = []

    def on_result(result: ItemResult) -> None:
        callers.add(threading.get_ident())
        seen.append(result.item_id)

    results = Results(SlotQueues(plan, items).items, on_result)
    posters = [threading.Thread(target=lambda k=k: [results.post(_ok(f"s0-{i}")) for i in range(k, 50, 5)]) for k in range(5)]
    for t in posters:
        t.start()
    while results.outstanding:
        results.deliver(timeout=5)
    for t in posters:
        t.join()
    assert callers == {run_thread}
    assert sorted(seen) == sorted(items)


def test_report_from_another_thread_is_refused():
    plan, items = _plan([1])
    results = Results(SlotQueues(plan, items).items, lambda r: None)
    errors: list[BaseException] = []

    def report() -> None:
        try:
            results.report(_ok("s0-0"))
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=report)
    t.start()
    t.join()
    assert len(errors) == 1 and "use Results.post" in str(errors[0])
    assert results.outstanding == 1


def test_deliver_without_results_returns_at_once_or_after_its_timeout():
    plan, items = _plan([1])
    results = Results(SlotQueues(plan, items).items, lambda r: None)
    assert results.deliver() == 0
    assert results.deliver(timeout=0.01) == 0


# -- numeric options ---------------------------------------------------------------------------


@attrs.frozen
class Options:
    retries: int = attrs.field(default=1, validator=in_range(0, 100))
    timeout: float = attrs.field(default=1.0, validator=in_range(0, 3600, above=True))


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**400), 10**400))
def test_a_number_is_accepted_exactly_when_finite_and_in_range(value):
    inside = (not isinstance(value, float) or math.isfinite(value)) and 0 < value <= 3600
    if inside:
        assert Options(timeout=value).timeout == value
    else:
        with pytest.raises(ValueError, match=r"^timeout must be > 0 and <= 3600, got \S+") as info:
            Options(timeout=value)
        assert "\n" not in str(info.value) and len(str(info.value)) < 100


def test_the_bound_can_say_where_it_comes_from():
    check = in_range(0, 2, why="the cores of this machine")
    field = attrs.fields(Options).retries
    with pytest.raises(ValueError, match=r"retries must be >= 0 and <= 2 \(the cores of this machine\), got 1000000"):
        check(None, field, 1000000)


def test_worker_environment_sets_or_fills_the_thread_variables():
    base = {"OMP_NUM_THREADS": "7", "PATH": "/bin"}
    given_threads = worker_environment(2, 3, base)
    assert {given_threads[v] for v in THREAD_VARS} == {"3"} and given_threads["PATH"] == "/bin"
    filled = worker_environment(2, None, base)
    assert filled["OMP_NUM_THREADS"] == "7"
    assert {filled[v] for v in THREAD_VARS if v != "OMP_NUM_THREADS"} == {str(max(1, (__import__("os").cpu_count() or 1) // 2))}


# -- the example of docs/executors.md, run for real ------------------------------------------------


class ThreadedExecutor(Executor):
    """Each slot's items on a thread of its own, in this process (as docs/executors.md shows it)."""

    def run(self, plan, items, task, on_result):
        queues = SlotQueues(plan, items)
        results = Results(queues.items, on_result)
        batches = [[] for _ in plan.slots]
        while queues:
            for slot in range(len(plan.slots)):
                if batch := queues.take(slot, 16):
                    batches[slot].append(batch)

        def serve(slot):
            session = task.start(plan.slots[slot].id)
            for batch in batches[slot]:
                for entry in batch:
                    results.post(session.run(queues.item(entry), entry.attempts))
            session.stop()

        threads = [threading.Thread(target=serve, args=(slot,)) for slot in range(len(plan.slots))]
        for thread in threads:
            thread.start()
        while results.outstanding and any(t.is_alive() for t in threads):
            results.deliver(timeout=0.5)
        results.deliver()


class ThreadedPlugin:
    @hookimpl
    def register_executors(self):
        return [ExecutorSpec("threaded", ThreadedExecutor)]


def test_the_documented_example_executor_runs_every_item_and_reports_on_the_callers_thread(agilab_registry):
    from agilab_core.runner import Agi

    agilab_registry.register(ThreadedPlugin(), name="threaded")
    callers: set[int] = set()
    result = Agi(agilab_registry).run(
        "probe", executor="threaded", workers=3, args={"count": 50, "fail": [7]}, on_result=lambda r: callers.add(threading.get_ident())
    )
    assert result.items == {"total": 50, "ok": 49, "failed": 1}
    assert callers == {threading.get_ident()}
    assert {r.worker for r in result.results} == {"localhost/0", "localhost/1", "localhost/2"}


def test_the_example_in_the_docs_is_the_tested_one():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "executors.md").read_text()
    for line in ("queues = SlotQueues(plan, items)", "results.post(session.run(queues.item(entry), entry.attempts))", "results.deliver(timeout=0.5)"):
        assert line in docs
