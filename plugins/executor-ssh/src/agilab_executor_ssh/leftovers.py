"""Run folders on the hosts that a killed manager could not remove.

A run's teardown removes its folder on each host (``<remote_dir>/runs/<run
id>``). A manager killed by SIGKILL, the OOM killer or a power cut has no
teardown, so before a run creates those folders it notes them in
``$AGILAB_HOME/ssh/runs/<run id>.json`` with what identifies its manager
process (as a manifest does), and its teardown removes the note. A note
whose manager is gone names folders nobody removed: the next run of the same
home that reaches one of those hosts removes them, in the command that
removes its own folder.

A note is only ever trusted to name a ``runs/<run id>`` folder of its own
run id; one that cannot be read, or names anything else, is left alone.
A manager this machine cannot tell is gone (another machine's, say) is taken
as alive.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import re
from pathlib import Path
from typing import Any

from agilab_core.evidence import manager_identity
from agilab_core.runs import manager_alive

from agilab_core import write_json

#: A run id as one safe path segment (the kernel's are ``20261203-034704-122983``).
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def _run_folder(path: Any, run_id: str) -> bool:
    """Whether ``path`` is an absolute, normalised ``.../runs/<run_id>`` on a host."""
    return (
        isinstance(path, str)
        and path.startswith("/")
        and posixpath.normpath(path) == path
        and posixpath.basename(path) == run_id
        and posixpath.basename(posixpath.dirname(path)) == "runs"
    )


class Leftovers:
    """The notes of one home: this run's, and those of runs whose manager died."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder  # None: no home, nothing noted

    def note(self, run_id: str, folders: dict[str, str]) -> None:
        """Before ``run_id`` creates ``folders`` (host name -> its run folder there). Best effort: a note that cannot be written only means no sweep."""
        path = self._path(run_id)
        if path is None:
            return
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_json(path, {"run_id": run_id, "manager": manager_identity(), "folders": folders})

    def stale(self, hosts: set[str]) -> dict[str, dict[str, str]]:
        """Run id -> {host: folder} of runs whose manager is gone, for ``hosts`` only."""
        found: dict[str, dict[str, str]] = {}
        for run_id, record in self._records():
            manager = record.get("manager")
            if not isinstance(manager, dict) or manager_alive(manager) is not False:
                continue
            folders = {h: f for h, f in record["folders"].items() if h in hosts and _run_folder(f, run_id)}
            if folders:
                found[run_id] = folders
        return found

    def cleared(self, run_id: str, hosts: set[str]) -> None:
        """``hosts`` no longer hold ``run_id``'s folder: the note keeps the others, and goes with the last."""
        path = self._path(run_id)
        if path is None:
            return
        record = self._read(path, run_id)
        with contextlib.suppress(OSError):
            left = {h: f for h, f in record["folders"].items() if h not in hosts} if record is not None else {}
            if left:
                write_json(path, {**record, "folders": left})  # type: ignore[dict-item]
            else:
                path.unlink(missing_ok=True)

    def _records(self) -> list[tuple[str, dict[str, Any]]]:
        if self.folder is None:
            return []
        try:
            names = sorted(p.name for p in self.folder.iterdir())
        except OSError:
            return []
        records = []
        for name in names:
            run_id = name.removesuffix(".json")
            path = self._path(run_id)
            record = self._read(path, run_id) if path is not None and path.name == name else None
            if record is not None:
                records.append((run_id, record))
        return records

    def _path(self, run_id: str) -> Path | None:
        """Where ``run_id``'s note is; None without a home or for an id that is not one safe file name."""
        if self.folder is None or not _RUN_ID.fullmatch(run_id):
            return None
        return self.folder / f"{run_id}.json"

    @staticmethod
    def _read(path: Path, run_id: str) -> dict[str, Any] | None:
        """The note at ``path`` if it is one of ``run_id``'s, else None."""
        try:
            record = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(record, dict) or record.get("run_id") != run_id or not isinstance(record.get("folders"), dict):
            return None
        return record
