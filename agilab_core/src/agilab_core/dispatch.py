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
* :meth:`Results.start` and :meth:`Results.wait`: an executor whose workers
  are threads of its own starts them through its ``Results``; they
  :meth:`~Results.post` results, ``wait`` hands them to ``on_result`` on the
  run's thread, and an exception that escapes one of them is raised there
  (a worker that cannot start the app fails the run with its real cause).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

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


#: How often :meth:`Results.wait` looks whether its threads are still alive.
WAIT_POLL_SECONDS = 0.2


@attrs.frozen
class _Raised:
    """An exception posted by another thread, raised by :meth:`Results.deliver` on the run's thread."""

    error: BaseException


class Results:
    """Each item's result to ``on_result`` once, on the thread that made this object (the one that called ``run``).

    ``report`` is for that thread; any other thread uses ``post``, and the
    run's thread calls ``deliver`` to hand posted results over. A second
    result for an item already reported is dropped (the first one counts).
    ``items`` are the run's items (``SlotQueues.items``, or the mapping
    ``run`` receives); :meth:`fail` names them by their place in it.

    Threads of the executor's own are started with :meth:`start` and waited
    for with :meth:`wait`; a thread checks :attr:`stopping` between items, set
    once the run is over (finished, or failed on the run's thread).
    """

    def __init__(self, items: Iterable[WorkItem] | Mapping[str, WorkItem], on_result: Callable[[ItemResult], None]) -> None:
        self.items: list[WorkItem] = list(items.values() if isinstance(items, Mapping) else items)
        self.on_result = on_result
        self.reported: set[str] = set()
        #: Set when the run is over: threads started by :meth:`start` stop taking items.
        self.stopping = threading.Event()
        self._thread = threading.get_ident()
        self._inbox: queue.SimpleQueue[ItemResult | _Raised] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

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

    def post_error(self, error: BaseException) -> None:
        """From any thread: make the run's thread raise ``error`` (at its next :meth:`deliver`), after the results posted before it."""
        self._inbox.put(_Raised(error))

    def deliver(self, timeout: float | None = 0.0) -> int:
        """Report every posted result, waiting up to ``timeout`` seconds (None: forever) for the first one.

        Returns how many results were handed to ``on_result``; raises an
        error posted by :meth:`post_error` when it comes to it.
        """
        try:
            first = self._inbox.get(timeout=timeout) if timeout != 0.0 else self._inbox.get_nowait()
        except queue.Empty:
            return 0
        delivered = self._hand_over(first)
        while True:
            try:
                posted = self._inbox.get_nowait()
            except queue.Empty:
                return delivered
            delivered += self._hand_over(posted)

    def _hand_over(self, posted: ItemResult | _Raised) -> int:
        if isinstance(posted, _Raised):
            raise posted.error
        return int(self.report(posted))

    def start(self, target: Callable[..., Any], *args: Any, name: str = "agilab-executor") -> threading.Thread:
        """Run ``target(*args)`` on a new thread; an exception escaping it is raised on the run's thread by :meth:`wait`.

        ``target`` :meth:`post` s its items' results and should return soon
        after :attr:`stopping` is set.
        """

        def guarded() -> None:
            try:
                target(*args)
            except BaseException as exc:  # noqa: BLE001 - raised again on the run's thread
                self.post_error(exc)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def wait(self) -> None:
        """On the run's thread: hand posted results to ``on_result`` until every item has one or every started thread has ended.

        Raises the first exception that escaped a thread (or :meth:`post_error`),
        or what ``on_result`` raised. Either way :attr:`stopping` is set and
        every thread started by :meth:`start` has ended when it returns.
        Items left without a result are the caller's to report (or the
        kernel records them as lost).
        """
        try:
            while self.outstanding and any(t.is_alive() for t in self._threads):
                self.deliver(timeout=WAIT_POLL_SECONDS)
        finally:
            self.stopping.set()
            threads, self._threads = self._threads, []
            for thread in threads:
                thread.join()
        self.deliver()  # what the last threads posted before they ended

    def progress(self) -> str:
        """``"12 of 40 items finished"``, for error messages."""
        return f"{len(self.reported)} of {len(self.items)} items finished"
