"""Items in, results out: batches per plan slot, streamed back as they finish.

Each plan slot keeps its queue of items (the capacity-weighted plan) and has at
most one batch in flight, placed on the slot's Dask worker (loosely: Dask may
run it elsewhere when that worker is gone). A slot whose queue runs dry takes
half of the longest queue, so stragglers are rebalanced. One batch in flight
per slot means that when a worker dies, the batch it was running is the one
that ``KilledWorker`` names, and nothing queued behind it is lost.

Batches start with one item and then hold about :data:`TARGET_SECONDS` of
work, estimated from the items done so far (per unit of weight when items
have weights), never more than an eighth of the slot's queue so the tail stays
balanced. Every batch has its own key, so two identical batches are never
merged by Dask.

A batch lost with its worker is sent again one item per batch (the item that
killed the worker is unknown, so each of its unreported items counts one more
attempt). An item whose worker dies while it runs alone has killed it: it is
sent again while it has attempts left (``-o retries``), then fails with
``WorkerDied``.
"""

from __future__ import annotations

import itertools
import math
import time
import traceback
from collections import deque
from collections.abc import Mapping

import attrs
from distributed import Future, wait
from distributed.scheduler import KilledWorker

from agilab_core import ITEM_FAILED, ItemError, ItemResult, OnResult, WorkerTask, WorkItem, WorkPlan
from agilab_executor_dask.cluster import Cluster, DaskError, one_line
from agilab_executor_dask.worker import WorkerStartError, run_batch, stop_run

TARGET_SECONDS = 0.2
MAX_BATCH = 1024
POLL_SECONDS = 0.5


@attrs.define
class _Entry:
    seq: int
    attempts: int = 1
    alone: bool = False


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
    ) -> None:
        self.cluster = cluster
        self.client = cluster.client
        self.slots = plan.slots
        self.task = task
        self.on_result = on_result
        self.retries = retries
        self.batch_size = batch_size
        self.worker_timeout = worker_timeout
        self.order: list[WorkItem] = []
        self.queues: list[deque[_Entry]] = []
        for ids in plan.assignments:
            queue: deque[_Entry] = deque()
            for item_id in ids:
                queue.append(_Entry(len(self.order)))
                self.order.append(items[item_id])
            self.queues.append(queue)
        self.targets = cluster.targets(plan.slots)
        self.inflight: dict[Future, tuple[int, list[_Entry]]] = {}
        self.idle: set[int] = set()
        self.keys = itertools.count()
        self.reported = 0
        self.seconds = 0.0  # measured item time, for batch sizing
        self.weight = 0.0
        self.measured = 0
        self.no_workers_since: float | None = None

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        with self.client.as_current():  # distributed.wait finds the client this way
            self._run()

    def _run(self) -> None:
        try:
            for slot in range(len(self.slots)):
                self._submit(slot)
            while self.inflight:
                try:
                    done = wait(list(self.inflight), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    self._check_workers()
                    continue
                self.no_workers_since = None
                for future in done:
                    slot, entries = self.inflight.pop(future)
                    results = self._fetch(future)
                    self._submit(slot)
                    if results is None:
                        self._failed(future, slot, entries)
                    else:
                        self._report(entries, results)
                for slot in list(self.idle):
                    self._submit(slot)
        finally:
            if self.inflight:
                self._cancel()
            self._stop_sessions()

    def _fetch(self, future: Future) -> list[ItemResult] | None:
        """The batch's results, or None when it ended in error.

        Results wait on the worker until fetched, so they are fetched before the
        slot's next batch is sent (that batch could kill the worker). A worker
        that dies anyway before the fetch makes Dask run the batch again; with
        no worker left that would wait forever, hence the bounded waits.
        """
        while True:
            try:
                return future.result(timeout=POLL_SECONDS)
            except TimeoutError:
                self._check_workers()
            except BaseException as exc:
                if future.status in ("error", "cancelled") and not isinstance(exc, KeyboardInterrupt):
                    return None
                raise

    def _submit(self, slot: int) -> None:
        entries = self._next_batch(slot)
        if not entries:
            self.idle.add(slot)
            return
        self.idle.discard(slot)
        key = f"agilab-{self.task.app}-{self.task.run_id}-{next(self.keys)}"
        batch = [(self.order[e.seq], e.attempts) for e in entries]
        target = self.targets[slot]
        future = self.client.submit(
            run_batch, self.task, self.slots[slot].id, batch,
            key=key, workers=[target] if target else None, allow_other_workers=True, pure=False,
        )
        self.inflight[future] = (slot, entries)

    def _next_batch(self, slot: int) -> list[_Entry]:
        queue = self.queues[slot]
        if not queue:
            victim = max(self.queues, key=len)
            take = len(victim) // 2 if len(victim) > 1 else len(victim)
            for _ in range(take):
                queue.appendleft(victim.pop())
        if not queue:
            return []
        if queue[0].alone:
            return [queue.popleft()]
        size = self.batch_size or self._adaptive_size(queue)
        batch: list[_Entry] = []
        while queue and len(batch) < size and not queue[0].alone:
            batch.append(queue.popleft())
        return batch

    def _adaptive_size(self, queue: deque[_Entry]) -> int:
        if not self.measured:
            return 1
        cap = max(1, min(MAX_BATCH, math.ceil(len(queue) / 8)))
        per_weight = self.seconds / self.weight if self.weight > 0 else None
        per_item = self.seconds / self.measured
        cost, n = 0.0, 0
        for entry in itertools.islice(queue, cap):
            weight = self.order[entry.seq].weight
            cost += per_weight * weight if per_weight is not None and weight > 0 else per_item
            n += 1
            if cost >= TARGET_SECONDS:
                break
        return max(1, n)

    # -- results --------------------------------------------------------------------------

    def _report(self, entries: list[_Entry], results: list[ItemResult]) -> None:
        for entry, result in zip(entries, results, strict=True):
            self.reported += 1
            self.seconds += max(result.finished - result.started, 0.0)
            self.weight += max(float(self.order[entry.seq].weight), 0.0)
            self.measured += 1
            self.on_result(result)

    def _failed(self, future: Future, slot: int, entries: list[_Entry]) -> None:
        if future.status == "cancelled":
            raise DaskError(f"Dask cancelled batch {future.key} (the scheduler restarted or forgot it); {self._progress()}")
        exc = future.exception()
        if isinstance(exc, KilledWorker):
            self._lost(slot, entries, exc)
        elif isinstance(exc, WorkerStartError):
            raise DaskError(f"slot {self.slots[slot].id} could not start the app's worker: {one_line(exc)}")
        else:
            tb = "".join(traceback.format_exception(type(exc), exc, future.traceback()))
            for entry in entries:
                self._fail(slot, entry, entry.attempts, ItemError(type(exc).__name__, one_line(exc), tb))

    def _lost(self, slot: int, entries: list[_Entry], exc: KilledWorker) -> None:
        runs = exc.allowed_failures + 1  # the scheduler may have run the batch that many times
        worker = getattr(exc.last_worker, "name", None) or getattr(exc.last_worker, "address", "?")
        queue = self.queues[slot]
        if len(entries) == 1:
            entry = entries[0]
            tried = entry.attempts + runs - 1
            if tried > self.retries:
                message = f"Dask worker {worker} died while running this item, {tried} time(s)"
                self._fail(slot, entry, tried, ItemError("WorkerDied", message))
            else:
                queue.appendleft(_Entry(entry.seq, tried + 1, alone=True))
            return
        for entry in reversed(entries):
            queue.appendleft(_Entry(entry.seq, entry.attempts + runs, alone=True))

    def _fail(self, slot: int, entry: _Entry, attempts: int, error: ItemError) -> None:
        now = time.time()
        where = self.slots[slot]
        self.reported += 1
        self.on_result(ItemResult(self.order[entry.seq].id, ITEM_FAILED, where.id, where.host, now, now, error=error, attempts=attempts))

    # -- trouble and cleanup -----------------------------------------------------------------

    def _check_workers(self) -> None:
        if self.client.nthreads():
            self.no_workers_since = None
            return
        now = time.monotonic()
        if self.no_workers_since is None:
            self.no_workers_since = now
        elif now - self.no_workers_since >= self.worker_timeout:
            raise DaskError(
                f"all Dask workers of {self.cluster.address} are gone (none for {self.worker_timeout:g} s, -o worker_timeout); {self._progress()}"
            )

    def _progress(self) -> str:
        return f"{self.reported} of {len(self.order)} items finished"

    def _cancel(self) -> None:
        try:
            self.client.cancel(list(self.inflight), force=True)
        except Exception:  # noqa: BLE001, S110 - best effort on the way out
            pass
        self.inflight.clear()

    def _stop_sessions(self) -> None:
        # Long-lived workers (an existing cluster) must not keep this run's app workers.
        try:
            self.client.run(stop_run, self.task.run_id, on_error="ignore")
        except Exception:  # noqa: BLE001, S110 - workers that are gone hold no session
            pass

