"""The per-item journal: ``items.jsonl``, one result per line, appended as items finish.

The journal is what survives a killed manager. Each line is written with one
``write`` call as its item's result arrives (so a SIGKILL loses nothing the
operating system was handed) and the file is fsync'd at most a second after
any line, so a power cut loses at most the last second. A reader ignores a
last line cut short by a crash or a full disk.

A line may supersede an earlier one of the same item (an amendment by the
kernel, for example when a later item overwrote its output): the last line of
an item wins.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

JOURNAL = "items.jsonl"
#: Longest a written line waits for fsync.
SYNC_SECONDS = 1.0


class JournalWriter:
    """Appends JSON lines to a journal; a background timer fsyncs what was written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self._unsynced = False  # set per line: a plain flag costs less than an Event
        self._closed = threading.Event()
        self._syncer = threading.Thread(target=self._sync_loop, name="agilab-journal-sync", daemon=True)
        self._syncer.start()

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line (raises ``OSError``, a full disk for instance)."""
        self.append_line(json_line(record))

    def append_line(self, line: str) -> None:
        """Write one already-encoded record (:func:`json_line`) with a single ``write``."""
        data = (line + "\n").encode("utf-8", "surrogateescape")
        with self._lock:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self._unsynced = True

    def sync(self) -> None:
        """fsync now (no-op when nothing was written since the last sync)."""
        with self._lock:
            if self._fd < 0 or not self._unsynced:
                return
            self._unsynced = False
            os.fsync(self._fd)

    @property
    def synced(self) -> bool:
        """Everything written is on stable storage."""
        return not self._unsynced

    def _sync_loop(self) -> None:
        while not self._closed.wait(SYNC_SECONDS / 2):
            try:
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
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8", "surrogateescape"))
        except ValueError:
            continue  # a line cut by a crash or a full disk
        if isinstance(record, dict):
            yield record


def latest_by_item(path: Path) -> dict[str, dict[str, Any]]:
    """The last record of each item id, in the order items first appeared."""
    latest: dict[str, dict[str, Any]] = {}
    for record in read_journal(path):
        item_id = record.get("item_id")
        if isinstance(item_id, str):
            latest[item_id] = record
    return latest

