"""Results whose outputs are on their way home: the kernel hears of each once its files have arrived.

Fetching an item's outputs takes a few SFTP round trips; waiting for them
item by item in the dispatch's thread would leave the workers idle. Each
result's fetch starts at once on the connections' loop, and results are
handed to the kernel's ``on_result`` (in the dispatch's thread, as the
contract wants) as their fetches end (in the order they end), with at most :data:`WINDOW` waiting.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from agilab_core import ItemResult, OnResult

#: Results whose outputs may be on their way at once.
WINDOW = 64

Fetch = Callable[[ItemResult], Coroutine[Any, Any, ItemResult] | None]


class OutputsLost(Exception):
    """An item's outputs went with its host (its connection dropped before they came home): run it again."""


class Arrivals:
    """The dispatch's ``on_result``: starts each result's fetch, reports the results whose fetch has ended."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fetch: Fetch, on_result: OnResult) -> None:
        self.loop = loop
        self.fetch = fetch
        self.on_result = on_result
        self.waiting = 0  # fetches started and not reported yet
        self._ended: queue.SimpleQueue[Future[ItemResult]] = queue.SimpleQueue()  # put by the loop's thread as each ends
        self.lost: list[str] = []  # items to run again: their outputs went with their host

    def __call__(self, result: ItemResult) -> None:
        coro = self.fetch(result)
        if coro is None:
            self.on_result(result)  # nothing to bring home
        else:
            self.waiting += 1
            asyncio.run_coroutine_threadsafe(coro, self.loop).add_done_callback(self._ended.put)
        self._report(block=self.waiting > WINDOW)

    def _report(self, block: bool) -> None:
        while self.waiting:
            try:
                future = self._ended.get(block=block)
            except queue.Empty:
                return
            self.waiting -= 1
            self._arrived(future)
            block = self.waiting > WINDOW

    def flush(self) -> None:
        """Wait for every fetch still on its way and report its result."""
        while self.waiting:
            self.waiting -= 1
            self._arrived(self._ended.get())

    def _arrived(self, future: Future[ItemResult]) -> None:
        try:
            result = future.result()
        except OutputsLost as lost:
            self.lost.append(str(lost))
            return
        self.on_result(result)
