"""What every executor does between a plan and ``on_result``: slot queues, stealing, one report per item.

An executor that sends a run's items to workers needs the same three things,
whatever its transport:

* :class:`SlotQueues`: the plan's items as one queue per slot, taken in
  batches; a slot whose queue is empty takes half of the longest queue first,
  so the tail of a run stays balanced when workers differ. Items sent again
  (after a worker died) go back to the front of a queue, and an item marked
  ``alone`` is always taken by itself.
* :class:`Results`: hands each item's result to ``on_result`` exactly once,
  on the thread that called ``run`` (the kernel writes evidence there);
  results that arrive on other threads (callbacks of a client library) are
  :meth:`~Results.post`-ed and handed over by :meth:`~Results.deliver`.
* :meth:`Results.fail`: the failed result of an item the executor could not
  run (its worker died too often, its batch was lost).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping

import attrs

from agilab_core.app import ItemResult, WorkItem
from agilab_core.plan import WorkPlan


@attrs.define
class Entry:
    """An item waiting in a slot's queue: its place in the run (``seq``) and the attempt it will be."""

    seq: int
    attempts: int = 1
    #: Run this item in a batch of its own (a worker death then names it).
    alone: bool = False


BatchSize = int | Callable[[deque[Entry]], int]


class SlotQueues:
    """The plan's items, one queue per slot, in plan order; ``items[entry.seq]`` is an entry's item."""

    def __init__(self, plan: WorkPlan, items: Mapping[str, WorkItem]) -> None:
        self.items: list[WorkItem] = []
        self.queues: list[deque[Entry]] = []
        for ids in plan.assignments:
            slot_queue: deque[Entry] = deque()
            for item_id in ids:
                slot_queue.append(Entry(len(self.items)))
                self.items.append(items[item_id])
            self.queues.append(slot_queue)

    def __len__(self) -> int:
        """Entries waiting in every queue."""
        return sum(map(len, self.queues))

    def __bool__(self) -> bool:
        return any(self.queues)

    def waiting(self, slot: int) -> int:
        """Entries waiting in ``slot``'s queue."""
        return len(self.queues[slot])

    def item(self, entry: Entry) -> WorkItem:
        return self.items[entry.seq]

    def take(self, slot: int, size: BatchSize) -> list[Entry]:
        """The next batch of ``slot``: at most ``size`` entries, or one entry that runs alone.

        An empty queue first takes half of the longest queue (all of it when
        that holds one entry). ``size`` may be a function of the slot's queue
        (after stealing), for batches that shrink as the queue does. Returns
        ``[]`` when nothing is left anywhere.
        """
        own = self.queues[slot]
        if not own:
            self._steal(slot)
            if not own:
                return []
        if own[0].alone:
            return [own.popleft()]
        limit = max(1, size(own) if callable(size) else size)
        batch: list[Entry] = []
        while own and len(batch) < limit and not own[0].alone:
            batch.append(own.popleft())
        return batch

    def _steal(self, slot: int) -> None:
        victim = max(self.queues, key=len)
        take = len(victim) // 2 if len(victim) > 1 else len(victim)
        own = self.queues[slot]
        for _ in range(take):
            own.appendleft(victim.pop())

    def put_back(self, slot: int, entries: Iterable[Entry]) -> None:
        """Put ``entries`` at the front of ``slot``'s queue, keeping their order (to be sent again first)."""
        self.queues[slot].extendleft(reversed(list(entries)))


class Results:
    """Each item's result to ``on_result`` once, on the thread that made this object (the one that called ``run``).

    ``report`` is for that thread; any other thread uses ``post``, and the
    run's thread calls ``deliver`` to hand posted results over. A second
    result for an item already reported is dropped (the first one counts).
    """

    def __init__(self, items: list[WorkItem], on_result: Callable[[ItemResult], None]) -> None:
        self.items = items
        self.on_result = on_result
        self.reported: set[str] = set()
        self._thread = threading.get_ident()
        self._inbox: queue.SimpleQueue[ItemResult] = queue.SimpleQueue()

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def outstanding(self) -> int:
        """Items without a result yet."""
        return len(self.items) - len(self.reported)

    def report(self, result: ItemResult) -> bool:
        """Hand ``result`` to ``on_result``; False when its item was reported already."""
        if threading.get_ident() != self._thread:
            raise RuntimeError("Results.report called outside the thread that called run(); use Results.post there")
        if result.item_id in self.reported:
            return False
        self.reported.add(result.item_id)
        self.on_result(result)
        return True

    def fail(
        self, seq: int, error_type: str, message: str, *, worker: str, host: str, attempts: int = 1, traceback: str = ""
    ) -> bool:
        """Report item ``seq`` (its place in ``items``) as failed for a reason of the executor's own."""
        result = ItemResult.failure(
            self.items[seq].id, error_type, message, traceback=traceback, worker=worker, host=host, attempts=attempts
        )
        return self.report(result)

    def post(self, result: ItemResult) -> None:
        """From any thread: queue ``result`` for :meth:`deliver`."""
        self._inbox.put(result)

    def deliver(self, timeout: float | None = 0.0) -> int:
        """Report every posted result, waiting up to ``timeout`` seconds (None: forever) for the first one.

        Returns how many results were handed to ``on_result``.
        """
        try:
            first = self._inbox.get(timeout=timeout) if timeout != 0.0 else self._inbox.get_nowait()
        except queue.Empty:
            return 0
        delivered = int(self.report(first))
        while True:
            try:
                result = self._inbox.get_nowait()
            except queue.Empty:
                return delivered
            delivered += self.report(result)

    def progress(self) -> str:
        """``"12 of 40 items finished"``, for error messages."""
        return f"{len(self.reported)} of {len(self.items)} items finished"
