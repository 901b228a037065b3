"""Items in, results out: batches per plan slot, streamed back as they finish.

Each plan slot keeps its queue of items (the capacity-weighted plan, in the
kernel's :class:`~agilab_core.dispatch.SlotQueues`) and has
two batches in flight, placed on the slot's Dask worker (loosely: Dask may run
them elsewhere, when that worker is gone or another one idles): one running,
the next waiting on the worker so that no round trip separates them. A slot
whose queue is empty and has nothing in flight takes half of the longest
queue, so stragglers are rebalanced. Results reach ``on_result`` once per
item, from the thread that called ``run`` (:class:`~agilab_core.dispatch.Results`).

Batches start with one item and then hold about :data:`TARGET_SECONDS` of
work, estimated from the items done so far (per unit of weight when items
have weights), never more than half of the slot's queue so the tail stays
balanced. Every batch has its own key, so two identical batches are never
merged by Dask. A batch's items, and its results, cross Dask as one pickle
(see :func:`.worker.run_batch`).

A worker that dies takes its batches with it (``KilledWorker``): their
unreported items are sent again one item per batch, each counting one more
attempt, since which of them killed the worker is unknown. An item that runs
alone runs on a worker with nothing else of this run (its slot's, or, while
that one restarts, a free one; other batches keep away from it), so when its
worker dies it is the one that killed it: it is sent again while it has
attempts left (``-o retries``), then fails with ``WorkerDied``.
"""

from __future__ import annotations

import itertools
import math
import pickle
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from distributed import Future, wait
from distributed.scheduler import KilledWorker

from agilab_core import Entry, ItemResult, OnResult, Results, SlotQueues, WorkerTask, WorkItem, WorkPlan, one_line
from agilab_executor_dask.cluster import Cluster, DaskError
from agilab_executor_dask.worker import WorkerStartError, run_batch, stop_run

TARGET_SECONDS = 0.2
MAX_BATCH = 1024
POLL_SECONDS = 0.5
FETCH_SECONDS = 5.0
LOST = object()  # a finished batch whose results went with its worker


class Dispatch:
    """One run of ``plan`` on ``cluster``; :meth:`run` returns when every item has a result."""

    def __init__(
        self,
        cluster: Cluster,
        plan: WorkPlan,
        items: Mapping[str, WorkItem],
        task: WorkerTask,
        on_result: OnResult,
        retries: int = 1,
        batch_size: int = 0,
        worker_timeout: float = 60.0,
        on_submit: Callable[[str, list[WorkItem]], None] | None = None,
        pinned: bool = False,
        run: Callable[[WorkerTask, str, bytes], bytes] = run_batch,
        on_batch: Callable[[list[ItemResult]], None] | None = None,
    ) -> None:
        self.cluster = cluster
        self.on_submit = on_submit  # told each batch's worker and items before it is sent (inputs to stage there)
        self.run_batch = run  # what workers call with each batch: run_batch, or one that does the same and more
        self.on_batch = on_batch  # told each finished batch's results before they are reported one by one
        self.pinned = pinned  # batches never leave the worker they were placed on (its host holds their inputs)
        self.client = cluster.client
        self.slots = plan.slots
        self.task = task
        self.retries = retries
        self.batch_size = batch_size
        self.worker_timeout = worker_timeout
        self.queues = SlotQueues(plan, items)
        self.results = Results(self.queues.items, on_result)
        self.targets = cluster.targets(plan.slots)
        self.inflight: dict[Future, tuple[int, list[Entry]]] = {}
        self.placed: dict[Future, str] = {}  # the worker each batch in flight was sent to
        self.flying: list[list[list[Entry]]] = [[] for _ in plan.slots]  # batches in flight, per slot
        self.batches = 0  # sent so far (each under a key of its own)
        self.seconds = 0.0  # measured item time, for batch sizing
        self.weight = 0.0
        self.measured = 0
        self.no_workers_since: float | None = None
        self.unplaced: set[str] = set()  # keys not on any worker at the last check

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        with self.client.as_current():  # distributed.wait finds the client this way
            self._run()

    def _run(self) -> None:
        try:
            for slot in range(len(self.slots)):
                self._fill(slot)
            while self.inflight or self.queues:
                if not self.inflight:  # everything waits for a worker (see _place)
                    time.sleep(POLL_SECONDS / 5)
                    self._check_workers()
                    continue
                try:
                    done = wait(list(self.inflight), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    self._check_workers()
                    continue
                self.no_workers_since = None
                for future in done:
                    slot, entries = self.inflight.pop(future)
                    self.placed.pop(future, None)
                    self.flying[slot] = [b for b in self.flying[slot] if b is not entries]
                    results = self._fetch(future)
                    if results is LOST:
                        self._resend(future, slot, entries)
                    elif results is None:
                        self._failed(future, slot, entries)
                    else:
                        self._report(entries, results)
                for slot in range(len(self.slots)):
                    self._fill(slot)
        finally:
            if self.inflight:
                self._cancel()
            self._stop_sessions()

    def _fetch(self, future: Future) -> Any:
        """The batch's results, None when it ended in error, or :data:`LOST`.

        Results wait on the worker until fetched; a worker that dies first
        (running the slot's next batch) loses them, and Dask would run the
        batch again under restrictions that may name the dead worker.
        """
        if future.status in ("error", "cancelled"):
            return None  # (asking for its result would leave an unretrieved asyncio task behind)
        if future.status != "finished":
            return LOST  # "lost", or already "pending" again
        deadline = time.monotonic() + FETCH_SECONDS
        try:
            while True:
                try:
                    return pickle.loads(future.result(timeout=POLL_SECONDS))
                except TimeoutError:
                    if future.status != "finished" or time.monotonic() > deadline:
                        return LOST
        except BaseException as exc:
            if future.status in ("error", "cancelled") and not isinstance(exc, KeyboardInterrupt):
                return None
            raise

    def _fill(self, slot: int) -> None:
        """Keep two batches in flight for ``slot`` (the next one waits on the worker, so no
        round trip separates batches), or one while an item runs alone, so a death names it."""
        while len(self.flying[slot]) < 2:
            queue = self.queues.queues[slot]
            if self.flying[slot] and (self.flying[slot][0][0].alone or not queue or queue[0].alone):
                return  # a busy slot steals nothing, and an item alone runs alone
            entries = self.queues.take(slot, self.batch_size or self._adaptive_size)
            if not entries:
                return
            target = self._place(slot, entries)
            if target is None:
                self.queues.put_back(slot, entries)  # no worker for it yet: try again later
                return
            self._submit(slot, entries, target)

    def _place(self, slot: int, entries: list[Entry]) -> str | None:
        """The worker for a batch of ``slot``, or None to hold it back for now.

        A batch goes to its slot's worker. When that worker is gone (dying,
        restarting), it goes to another one, but never beside an item that
        runs alone, and an item alone only to a worker with nothing of this
        run on it: a worker death must name the item that caused it, and not
        take an innocent item's last attempt with it.
        """
        target = self.targets[slot]
        if target is None:
            self._retarget()  # its worker was gone: back yet?
            target = self.targets[slot]
        avoid = self._busy() if entries[0].alone else self._isolating()
        if target is not None and target not in avoid:
            return target
        try:
            workers = sorted(self.cluster.workers())
        except Exception:  # noqa: BLE001 - no answer: hold the batch back, the loop checks again
            return None
        return next((w for w in workers if w not in avoid), None)

    def _busy(self) -> set[str]:
        """Workers that have a batch of this run in flight."""
        return set(self.placed.values())

    def _isolating(self) -> set[str]:
        """Workers running an item alone."""
        return {self.placed[f] for f, (_, entries) in self.inflight.items() if entries[0].alone}

    def _submit(self, slot: int, entries: list[Entry], target: str) -> None:
        key = f"agilab-{self.task.app}-{self.task.run_id}-{self.batches}"
        self.batches += 1
        if self.on_submit is not None:
            self.on_submit(target, [self.queues.item(e) for e in entries])
        batch = pickle.dumps([(self.queues.item(e), e.attempts) for e in entries], protocol=pickle.HIGHEST_PROTOCOL)
        future = self.client.submit(
            self.run_batch, self.task, self.slots[slot].id, batch,
            # an item alone stays where it was placed; other batches may move to an idle worker
            key=key, workers=[target], allow_other_workers=not (entries[0].alone or self.pinned), pure=False,
        )
        self.inflight[future] = (slot, entries)
        self.placed[future] = target
        self.flying[slot].append(entries)

    def _adaptive_size(self, queue: deque[Entry]) -> int:
        """About :data:`TARGET_SECONDS` of work by the items measured so far; one item before any."""
        if not self.measured:
            return 1
        cap = max(1, min(MAX_BATCH, math.ceil(len(queue) / 2)))
        per_weight = self.seconds / self.weight if self.weight > 0 else None
        per_item = self.seconds / self.measured
        cost, n = 0.0, 0
        for entry in itertools.islice(queue, cap):
            weight = self.queues.item(entry).weight
            cost += per_weight * weight if per_weight is not None and weight > 0 else per_item
            n += 1
            if cost >= TARGET_SECONDS:
                break
        return max(1, n)

    # -- results --------------------------------------------------------------------------

    def _report(self, entries: list[Entry], results: list[ItemResult]) -> None:
        if self.on_batch is not None:
            self.on_batch(results)
        for entry, result in zip(entries, results, strict=True):
            self.seconds += max(result.finished - result.started, 0.0)
            self.weight += max(float(self.queues.item(entry).weight), 0.0)
            self.measured += 1
            self.results.report(result)

    def _failed(self, future: Future, slot: int, entries: list[Entry]) -> None:
        if future.status == "cancelled":
            raise DaskError(f"Dask cancelled batch {future.key} (the scheduler restarted or forgot it); {self.results.progress()}")
        exc = future.exception()
        if isinstance(exc, KilledWorker):
            self._lost(slot, entries, exc)
        elif isinstance(exc, WorkerStartError):
            raise DaskError(f"slot {self.slots[slot].id} could not start the app's worker: {one_line(exc)}")
        else:
            tb = "".join(traceback.format_exception(type(exc), exc, future.traceback()))
            for entry in entries:
                self._fail(slot, entry, entry.attempts, type(exc).__name__, one_line(exc), tb)

    def _lost(self, slot: int, entries: list[Entry], exc: KilledWorker) -> None:
        runs = exc.allowed_failures + 1  # the scheduler may have run the batch that many times
        worker = getattr(exc.last_worker, "name", None) or getattr(exc.last_worker, "address", "?")
        self._retarget()
        if len(entries) == 1 and entries[0].alone:
            entry = entries[0]
            tried = entry.attempts + runs - 1
            if tried > self.retries:
                self._fail(slot, entry, tried, "WorkerDied", f"Dask worker {worker} died while running this item, {tried} time(s)")
            else:
                self.queues.put_back(slot, [Entry(entry.seq, tried + 1, alone=True)])
            return
        self.queues.put_back(slot, [Entry(e.seq, e.attempts + runs, alone=True) for e in entries])

    def _resend(self, future: Future, slot: int, entries: list[Entry]) -> None:
        """Send a batch again under a new key (its results were lost, or it is stuck): one more attempt each."""
        try:
            self.client.cancel([future], force=True)
        except Exception:  # noqa: BLE001, S110 - the future is dropped either way
            pass
        self._retarget()
        self.queues.put_back(slot, [Entry(e.seq, e.attempts + 1, alone=e.alone) for e in entries])

    def _retarget(self) -> None:
        try:
            self.targets = self.cluster.targets(self.slots)
        except Exception:  # noqa: BLE001 - unplaced batches go wherever Dask likes
            self.targets = [None] * len(self.slots)

    def _fail(self, slot: int, entry: Entry, attempts: int, error_type: str, message: str, traceback: str = "") -> None:
        where = self.slots[slot]
        self.results.fail(entry.seq, error_type, message, worker=where.id, host=where.host, attempts=attempts, traceback=traceback)

    # -- trouble and cleanup -----------------------------------------------------------------

    def _check_workers(self) -> None:
        """Nothing finished for a while: is any worker left, and is every batch placed?

        Dask leaves a task whose only allowed worker died waiting for that
        worker, even with ``allow_other_workers`` (when no worker ran at the
        time); a batch seen unplaced twice in a row is sent again.
        """
        if not self.client.nthreads():
            now = time.monotonic()
            if self.no_workers_since is None:
                self.no_workers_since = now
            elif now - self.no_workers_since >= self.worker_timeout:
                raise DaskError(
                    f"all Dask workers of {self.cluster.address} are gone (none for {self.worker_timeout:g} s, -o worker_timeout); {self.results.progress()}"
                )
            return
        self.no_workers_since = None
        try:
            placed = {key for keys in self.client.processing().values() for key in keys}
        except Exception:  # noqa: BLE001 - a scheduler that will not say: nothing to do
            return
        unplaced = {f.key for f in self.inflight if f.key not in placed and f.status == "pending"}
        for future in [f for f in self.inflight if f.key in unplaced & self.unplaced]:
            slot, entries = self.inflight.pop(future)
            self.placed.pop(future, None)
            self.flying[slot] = [b for b in self.flying[slot] if b is not entries]
            self._resend(future, slot, entries)
        self.unplaced = unplaced
        for slot in range(len(self.slots)):
            self._fill(slot)

    def _cancel(self) -> None:
        try:
            self.client.cancel(list(self.inflight), force=True)
        except Exception:  # noqa: BLE001, S110 - best effort on the way out
            pass
        self.inflight.clear()
        self.placed.clear()

    def _stop_sessions(self) -> None:
        # Long-lived workers (an existing cluster) must not keep this run's app workers.
        try:
            self.client.run(stop_run, self.task.run_id, on_error="ignore")
        except Exception:  # noqa: BLE001, S110 - workers that are gone hold no session
            pass

