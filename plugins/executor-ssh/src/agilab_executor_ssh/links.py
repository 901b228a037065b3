"""On a host: a batch's inputs linked from the host's cache into the run's data folder, before the batch runs.

The manager sends each input the host lacks into its content-addressed cache
(``<remote_dir>/cache/<sha256>``) and, once per run, an index of the run's
inputs (``{relative path: sha256}``, JSON). The worker that runs a batch makes
its items' inputs appear under the run's data folder as hard links to the
cache (a symbolic link where the file system has none): no request per input
crosses the connection, and an input already linked by an earlier batch of
the run is left as it is. An input whose content is not in the cache is not
linked: the item then fails naming the file it could not read.

This module runs on hosts: standard library only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

_indexes: dict[str, dict[str, str]] = {}  # per index file: a worker process reads its run's index once


def index(path: str) -> dict[str, str]:
    """The run's ``{relative path: sha256}`` index at ``path`` (read once per process)."""
    known = _indexes.get(path)
    if known is None:
        with open(path, encoding="utf-8") as fh:
            known = _indexes[path] = json.load(fh)
    return known


def inside(rel: str) -> bool:
    """Whether the relative path ``rel`` stays inside its folder (``..`` and absolute paths do not)."""
    return bool(rel) and not rel.startswith("/") and ".." not in rel.split("/")


def link(inputs: Iterable[str], sums: dict[str, str], cache: Path, data: Path) -> None:
    """Make each of ``inputs`` (relative paths) appear under ``data`` as a link to its content in ``cache``."""
    for rel in inputs:
        sha = sums.get(rel)
        target = data / rel
        if sha is None or not inside(rel) or os.path.lexists(target):
            continue
        source = cache / sha
        if not source.is_file():
            continue  # never sent: the item names the file it could not read
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:
            pass  # another worker of this host linked it a moment ago
        except OSError:  # no hard links here (another file system, a server that forbids them)
            try:
                os.symlink(source, target)
            except FileExistsError:
                pass
