"""Results whose outputs are on their way home: the kernel hears of each once its files have arrived.

Fetching an item's outputs takes a few SFTP round trips; waiting for them
item by item in the dispatch's thread would leave the workers idle. Each
result's fetch starts at once on the connections' loop, and results are
handed to the kernel's ``on_result`` (in the dispatch's thread, as the
contract wants) as their fetches end, with at most :data:`WINDOW` waiting.
"""

from __future__ import annotations

import asyncio
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
        self.pending: list[Future[ItemResult]] = []
        self.lost: list[str] = []  # items to run again: their outputs went with their host

    def __call__(self, result: ItemResult) -> None:
        coro = self.fetch(result)
        if coro is None:
            self.on_result(result)  # nothing to bring home
        else:
            self.pending.append(asyncio.run_coroutine_threadsafe(coro, self.loop))
        self._report(wait=len(self.pending) > WINDOW)

    def _report(self, wait: bool) -> None:
        while self.pending:
            done = [f for f in self.pending if f.done()]
            if not done and not wait:
                return
            for future in done or self.pending[:1]:
                self.pending.remove(future)
                self._arrived(future)
            wait = len(self.pending) > WINDOW

    def flush(self) -> None:
        """Wait for every fetch still on its way and report its result."""
        while self.pending:
            self._arrived(self.pending.pop(0))

    def _arrived(self, future: Future[ItemResult]) -> None:
        try:
            result = future.result()
        except OutputsLost as lost:
            self.lost.append(str(lost))
            return
        self.on_result(result)
