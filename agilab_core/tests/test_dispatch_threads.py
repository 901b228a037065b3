"""An executor's own threads through ``Results``: results and errors reach the run's thread, and no thread outlives ``wait``."""

from __future__ import annotations

import threading

import pytest
from agilab_core.dispatch import Results
from hypothesis import given, settings
from hypothesis import strategies as st

from agilab_core import ItemResult, WorkItem


def _items(n: int) -> dict[str, WorkItem]:
    return {f"i{k}": WorkItem(f"i{k}", k) for k in range(n)}


def _ok(item_id: str) -> ItemResult:
    return ItemResult(item_id, "ok", "localhost/0", "localhost", 0.0, 0.0)


class Received:
    """An ``on_result`` that records each result and the thread it was called on."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.threads: set[int] = set()

    def __call__(self, result: ItemResult) -> None:
        self.ids.append(result.item_id)
        self.threads.add(threading.get_ident())


def _serve(results: Results, ids: list[str]) -> None:
    for item_id in ids:
        if results.stopping.is_set():
            return
        results.post(_ok(item_id))


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(0, 20), min_size=1, max_size=6))
def test_every_result_of_every_thread_reaches_on_result_once_on_the_runs_thread(sizes: list[int]) -> None:
    items = _items(sum(sizes))
    received = Received()
    results = Results(items, received)
    ids = list(items)
    before = set(threading.enumerate())
    start = 0
    for size in sizes:
        results.start(_serve, results, ids[start : start + size])
        start += size
    results.wait()
    assert sorted(received.ids) == sorted(ids)
    assert received.threads <= {threading.get_ident()}
    assert results.outstanding == 0 and results.stopping.is_set()
    assert set(threading.enumerate()) <= before


def test_a_threads_exception_is_raised_on_the_runs_thread_after_what_it_posted_before() -> None:
    items = _items(4)
    received = Received()
    results = Results(items, received)

    def starts_then_breaks() -> None:
        results.post(_ok("i0"))
        raise OSError("worker cannot start: no such file")

    results.start(starts_then_breaks)
    with pytest.raises(OSError, match="worker cannot start: no such file"):
        results.wait()
    assert received.ids == ["i0"]
    assert results.stopping.is_set()


def test_other_threads_stop_and_are_joined_when_one_fails() -> None:
    items = _items(3)
    results = Results(items, Received())
    release = threading.Event()

    def waits_for_the_end() -> None:
        results.stopping.wait()
        release.set()

    keeper = results.start(waits_for_the_end)
    results.start(lambda: (_ for _ in ()).throw(RuntimeError("slot 1 broke")))
    with pytest.raises(RuntimeError, match="slot 1 broke"):
        results.wait()
    assert release.is_set() and not keeper.is_alive()


def test_what_on_result_raises_ends_the_wait_with_the_threads_joined() -> None:
    def refuses(result: ItemResult) -> None:
        raise KeyError(result.item_id)

    results = Results(_items(5), refuses)
    thread = results.start(_serve, results, list(_items(5)))
    with pytest.raises(KeyError):
        results.wait()
    assert not thread.is_alive() and results.stopping.is_set()


def test_an_error_posted_by_a_callback_is_raised_by_deliver() -> None:
    results = Results(_items(2), Received())
    poster = threading.Thread(target=lambda: results.post_error(ConnectionError("scheduler went away")))
    poster.start()
    poster.join()
    with pytest.raises(ConnectionError, match="scheduler went away"):
        results.deliver(timeout=None)


def test_wait_returns_with_items_left_when_every_thread_ended() -> None:
    received = Received()
    results = Results(_items(3), received)
    results.start(_serve, results, ["i0"])
    results.wait()
    assert received.ids == ["i0"] and results.outstanding == 2
