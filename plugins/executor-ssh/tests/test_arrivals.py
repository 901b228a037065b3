"""Results wait for their outputs: each is reported once, in the dispatch's thread, with at most WINDOW on their way."""

from __future__ import annotations

import asyncio
import threading

import pytest
from agilab_executor_ssh import arrivals
from agilab_executor_ssh.arrivals import Arrivals, OutputsLost
from agilab_executor_ssh.loop import LoopThread
from hypothesis import given, settings
from hypothesis import strategies as st

from agilab_core import ItemResult


@pytest.fixture(scope="module")
def loop():
    thread = LoopThread("test-arrivals")
    yield thread.loop
    thread.close()


def result(n: int) -> ItemResult:
    return ItemResult.failure(f"item-{n:03d}", "Boom", "not a real failure: a result to carry", worker="w/0", host="h")


class Recorder:
    """The kernel's ``on_result``: notes each result and the thread it came in."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.threads: set[str] = set()

    def __call__(self, res: ItemResult) -> None:
        self.seen.append(res.item_id)
        self.threads.add(threading.current_thread().name)


@settings(max_examples=25, deadline=None)
@given(delays=st.lists(st.sampled_from([None, 0.0, 0.0005, 0.002]), min_size=1, max_size=150), window=st.sampled_from([1, 4, 64]))
def test_every_result_is_reported_once_in_the_callers_thread(loop, delays: list[float | None], window: int) -> None:
    """``None``: nothing to fetch (reported at once); a delay: a fetch that ends after it, in any order."""
    recorder = Recorder()

    async def fetch_after(res: ItemResult, delay: float) -> ItemResult:
        await asyncio.sleep(delay)
        return res

    def fetch(res: ItemResult):
        delay = delays[int(res.item_id[-3:])]
        return None if delay is None else fetch_after(res, delay)

    old, arrivals.WINDOW = arrivals.WINDOW, window
    try:
        got = Arrivals(loop, fetch, recorder)
        for n in range(len(delays)):
            got(result(n))
            assert got.waiting <= window
        got.flush()
    finally:
        arrivals.WINDOW = old
    assert sorted(recorder.seen) == [f"item-{n:03d}" for n in range(len(delays))]
    assert recorder.threads == {threading.current_thread().name} and got.waiting == 0 and got.lost == []


def test_a_fetch_that_lost_its_host_is_noted_to_run_again_not_reported(loop) -> None:
    recorder = Recorder()

    async def lost(res: ItemResult) -> ItemResult:
        raise OutputsLost(res.item_id)

    async def home(res: ItemResult) -> ItemResult:
        return res

    got = Arrivals(loop, lambda res: lost(res) if res.item_id.endswith(("1", "3")) else home(res), recorder)
    for n in range(5):
        got(result(n))
    got.flush()
    assert sorted(recorder.seen) == ["item-000", "item-002", "item-004"] and sorted(got.lost) == ["item-001", "item-003"]


def test_a_fetch_that_fails_otherwise_raises_in_the_callers_thread(loop) -> None:
    async def broken(res: ItemResult) -> ItemResult:
        raise RuntimeError("a bug in a fetch")

    got = Arrivals(loop, broken, Recorder())
    with pytest.raises(RuntimeError, match="a bug in a fetch"):  # when the next result comes, or at the end
        got(result(0))
        got.flush()
