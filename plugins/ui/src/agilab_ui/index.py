"""The runs folder as the web app sees it: the only way from a URL to a file.

A URL names a run by ``(app, run_id)``; :class:`RunIndex` answers with a run
folder only when that pair is one of the folders it listed itself under
``runs/<app>/<run_id>/``, none of them a symbolic link. No part of a URL is
ever joined to a path, so ``..``, ``%2e%2e``, absolute paths and links to
elsewhere all end as "no such run" (404).

Listing 1,000 runs reads 1,000 manifests once; afterwards a run is read again
only when its manifest or journal changed (size or modification time).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from agilab_core.errors import AgilabError
from agilab_core.evidence import MANIFEST
from agilab_core.journal import JOURNAL
from agilab_core.runs import read_run

_Stamp = tuple[int, int, int, int]


def evidence_stamp(run_dir: Path) -> _Stamp | None:
    """What changes when a run's evidence changes: manifest and journal size and mtime."""
    try:
        m = os.stat(run_dir / MANIFEST, follow_symlinks=False)
    except OSError:
        return None
    try:
        j = os.stat(run_dir / JOURNAL, follow_symlinks=False)
        journal = (j.st_size, j.st_mtime_ns)
    except OSError:
        journal = (-1, -1)
    return (m.st_size, m.st_mtime_ns, *journal)


class RunIndex:
    """Run folders under ``runs_root`` by ``(app, run_id)``, and their manifests as they stand now."""

    def __init__(self, runs_root: Path) -> None:
        self.root = runs_root
        self._manifests: dict[Path, tuple[_Stamp, dict[str, Any] | str]] = {}
        self._lock = threading.Lock()

    def folders(self) -> dict[tuple[str, str], Path]:
        """Every real run folder (a folder holding a regular ``manifest.json``), links excluded."""
        found: dict[tuple[str, str], Path] = {}
        for app in _real_folders(self.root):
            for run in _real_folders(Path(app.path)):
                manifest = Path(run.path) / MANIFEST
                if manifest.is_file() and not manifest.is_symlink():
                    found[(app.name, run.name)] = Path(run.path)
        return found

    def folder(self, app: str, run_id: str) -> Path | None:
        """The folder of run ``app/run_id``, or None: both names must be among the folders listed here."""
        apps = {e.name: e.path for e in _real_folders(self.root)}
        if app not in apps:
            return None
        runs = {e.name: e.path for e in _real_folders(Path(apps[app]))}
        if run_id not in runs:
            return None
        manifest = Path(runs[run_id]) / MANIFEST
        return manifest.parent if manifest.is_file() and not manifest.is_symlink() else None

    def manifest(self, run_dir: Path) -> dict[str, Any] | str:
        """The run's manifest as :func:`agilab_core.runs.read_run` tells it, or one line saying why it cannot be read."""
        stamp = evidence_stamp(run_dir)
        with self._lock:
            cached = self._manifests.get(run_dir)
        if stamp is not None and cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            value: dict[str, Any] | str = read_run(run_dir / MANIFEST)
        except AgilabError as exc:
            value = str(exc)
        running = isinstance(value, dict) and value.get("status") == "running"
        if stamp is not None and not running:  # a running run's status also depends on its manager being alive
            with self._lock:
                self._manifests[run_dir] = (stamp, value)
        return value

    def manifests(self) -> tuple[list[tuple[str, str, dict[str, Any]]], list[str]]:
        """``(app, run_id, manifest)`` of every readable run, newest first, and one line per damaged run."""
        runs: list[tuple[str, str, dict[str, Any]]] = []
        problems: list[str] = []
        for (app, run_id), run_dir in self.folders().items():
            manifest = self.manifest(run_dir)
            if isinstance(manifest, str):
                problems.append(manifest)
            else:
                runs.append((app, run_id, manifest))
        runs.sort(key=lambda r: (_number(r[2].get("started")), r[1]), reverse=True)
        return runs, sorted(problems)


def _real_folders(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return [e for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
    except OSError:
        return []


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and value == value else 0.0
