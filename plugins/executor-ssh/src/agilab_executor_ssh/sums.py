"""The sha256 of each input of a run, remembered between runs.

Hosts keep inputs by content, so every run needs each input's sha256, and
reading every input again cost the manager ~0.2 s of CPU per 100 MB at
each run. As git's index does, a file's hash is trusted while its size,
modification and change times, inode and device are the ones recorded
with it. The change time cannot be set back by a user: any write moves
it to the present. A file written again within the clock tick in which it
was read could keep all five, so a file changed less than
:data:`SETTLED_SECONDS` before it was read is hashed again at every run
and never remembered.

The record is one JSON file per data folder, under ``<AGILab home>/ssh/sums/``.
It is only ever a shortcut: a record that cannot be read or makes no sense
is ignored, one that cannot be written is not written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from agilab_core import atomic_path, sha256_file

#: A file changed this recently before it is read is not remembered (racy: a write in the same tick keeps its times).
SETTLED_SECONDS = 3.0
#: Entries a record keeps at most: this run's inputs first, then earlier ones.
MAX_REMEMBERED = 200_000
_SHA = re.compile(r"[0-9a-f]{64}")

Identity = tuple[int, int, int, int, int]


def identity(st: os.stat_result) -> Identity:
    """What must not change for a remembered hash to hold."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class InputSums:
    """sha256 of the files under ``root``, hashed at most once per run and remembered in ``store`` (a folder) between runs."""

    def __init__(self, root: Path, store: Path | None = None, *, settled: float | None = None) -> None:
        self.root = root
        self.record = store / f"{hashlib.sha256(os.fsencode(root.resolve())).hexdigest()[:32]}.json" if store is not None else None
        self.settled = SETTLED_SECONDS if settled is None else settled
        self.hashed = 0  # files read this run (the others' hashes were remembered)
        self._known: dict[str, str] = {}
        self._remembered: dict[str, tuple[Identity, str]] | None = None
        self._kept: dict[str, tuple[Identity, str]] = {}  # to remember: this run's settled inputs

    def __call__(self, rel: str) -> tuple[str, Path, str]:
        """``rel``, its path here and its sha256."""
        local = self.root / rel
        sha = self._known.get(rel)
        if sha is None:
            sha = self._known[rel] = self._sum(rel, local)
        return rel, local, sha

    def _sum(self, rel: str, local: Path) -> str:
        before = identity(os.stat(local))
        entry = self._load().get(rel)
        if entry is not None and entry[0] == before:
            self._kept[rel] = entry
            return entry[1]
        read_at = time.time_ns()  # integers: a float of ns since 1970 is off by up to 256 ns
        sha = sha256_file(local)
        self.hashed += 1
        after = os.stat(local)
        if identity(after) == before and after.st_ctime_ns <= read_at - round(self.settled * 1e9):
            self._kept[rel] = (before, sha)
        return sha

    # -- the record ------------------------------------------------------------------

    def _load(self) -> dict[str, tuple[Identity, str]]:
        if self._remembered is None:
            self._remembered = {}
            if self.record is not None:
                with contextlib.suppress(OSError, ValueError, RecursionError):
                    self._remembered = _entries(json.loads(self.record.read_bytes()), self.root)
        return self._remembered

    def save(self) -> None:
        """Remember this run's settled hashes, with earlier ones up to :data:`MAX_REMEMBERED`; never fails."""
        remembered = self._load()
        if self.record is None or all(remembered.get(rel) == entry for rel, entry in self._kept.items()):
            return  # nothing new to remember
        files = {rel: [*key, sha] for rel, (key, sha) in self._kept.items()}
        for rel, (key, sha) in remembered.items():
            if len(files) >= MAX_REMEMBERED:
                break
            files.setdefault(rel, [*key, sha])
        text = json.dumps({"root": os.fsdecode(self.root.resolve()), "files": files}, separators=(",", ":"))  # ASCII: any name as \u escapes
        with contextlib.suppress(OSError):
            self.record.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with atomic_path(self.record) as part:
                part.write_bytes(text.encode("ascii"))
        self._remembered = {**remembered, **self._kept}


def _entries(data: Any, root: Path) -> dict[str, tuple[Identity, str]]:
    """The well-formed entries of a record for ``root`` (an entry that is not is dropped, not trusted)."""
    if not isinstance(data, dict) or data.get("root") != os.fsdecode(root.resolve()) or not isinstance(data.get("files"), dict):
        return {}
    entries: dict[str, tuple[Identity, str]] = {}
    for rel, entry in data["files"].items():
        if (
            isinstance(entry, list)
            and len(entry) == 6
            and all(type(n) is int for n in entry[:5])
            and isinstance(entry[5], str)
            and _SHA.fullmatch(entry[5])
        ):
            entries[rel] = ((entry[0], entry[1], entry[2], entry[3], entry[4]), entry[5])
    return entries
