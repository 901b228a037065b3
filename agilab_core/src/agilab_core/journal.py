"""The per-item journal: ``items.jsonl``, one result per line, appended as items finish.

The journal is what survives a killed manager. A result is written as it
arrives, unless another was written less than :data:`BATCH_SECONDS` before:
then it waits in a small batch written by the next result or, at the latest,
by a background timer a quarter of a second later. Items that take longer than
that (most real ones) are therefore each on disk as they finish, and a flood
of tiny items costs one ``write`` per batch instead of one per item; a
SIGKILL loses at most the last quarter of a second of such a flood (those
items simply run again on ``--resume``). What is written is fsync'd within a
second, so a power cut loses at most the last second. A reader ignores a
last line cut short by a crash or a full disk.

A line may supersede an earlier one of the same item (an amendment by the
kernel, for example when a later item overwrote its output): the last line of
an item wins.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

JOURNAL = "items.jsonl"
#: Longest a written line waits for fsync.
SYNC_SECONDS = 1.0
#: Results arriving closer together than this are written in batches.
BATCH_SECONDS = 0.02
#: Longest a batched result waits for its ``write``.
FLUSH_SECONDS = 0.25
_BATCH_LINES = 512


class JournalWriter:
    """Appends JSON lines to a journal; a background timer fsyncs what was written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._written = float("-inf")  # monotonic time of the last write
        self._unsynced = False  # set per write: a plain flag costs less than an Event
        self._closed = threading.Event()
        self._syncer = threading.Thread(target=self._sync_loop, name="agilab-journal-sync", daemon=True)
        self._syncer.start()

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line (raises ``OSError``, a full disk for instance)."""
        self.append_line(json_line(record))

    def append_line(self, line: str) -> None:
        """Add one already-encoded record (:func:`json_line`); written now or with its batch."""
        with self._lock:
            self._pending.append(line)
            now = time.monotonic()
            if now - self._written >= BATCH_SECONDS or len(self._pending) >= _BATCH_LINES:
                self._flush(now)

    def flush(self) -> None:
        """Write the waiting batch now (raises ``OSError``)."""
        with self._lock:
            self._flush(time.monotonic())

    def _flush(self, now: float) -> None:
        if not self._pending or self._fd < 0:
            return
        view = memoryview(("\n".join(self._pending) + "\n").encode("utf-8", "surrogateescape"))
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._pending.clear()
        self._written = now
        self._unsynced = True

    def sync(self) -> None:
        """Write what waits and fsync (no-op when nothing was written since the last sync)."""
        with self._lock:
            self._flush(time.monotonic())
            if self._fd < 0 or not self._unsynced:
                return
            self._unsynced = False
            os.fsync(self._fd)

    @property
    def synced(self) -> bool:
        """Everything written is on stable storage."""
        return not self._unsynced

    def _sync_loop(self) -> None:
        ticks = 0
        while not self._closed.wait(FLUSH_SECONDS):
            ticks += 1
            try:
                self.flush()
                if ticks * FLUSH_SECONDS >= SYNC_SECONDS / 2:
                    ticks = 0
                    self.sync()
            except OSError:
                pass  # the next append reports the disk's problem

    def close(self) -> None:
        """Sync and close; safe to call twice."""
        self._closed.set()
        try:
            self.sync()
        except OSError:
            pass
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        self._syncer.join(timeout=2)


def json_line(record: dict[str, Any]) -> str:
    """``record`` as one compact JSON line (non-JSON values as text)."""
    return json.dumps(record, default=str, separators=(",", ":"))


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a journal in order; an unreadable or cut-short line is skipped."""
    try:
        data = path.read_bytes()
    except OSError:
        return
    for _, record in numbered_records(data):
        yield record


def numbered_records(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` of a journal's bytes; a line cut by a crash or a full disk is skipped."""
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8", "surrogateescape"))
        except ValueError:
            continue
        if isinstance(record, dict):
            yield lineno, record


def latest_by_item(path: Path) -> dict[str, dict[str, Any]]:
    """The last record of each item id, in the order items first appeared."""
    latest: dict[str, dict[str, Any]] = {}
    for record in read_journal(path):
        item_id = record.get("item_id")
        if isinstance(item_id, str):
            latest[item_id] = record
    return latest

