"""The identity of the environment a worker runs in, and how identities are hashed.

A worker compares :func:`environment_hash` with the hash its run was packaged
for before its first item, so this module is on the worker side: standard
library only, nothing of the manager's plugin machinery.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.machinery
import json
import platform
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: File at the root of a worker venv that records its identity (``hash``, ``identity`` and how it was built).
ENV_RECORD = "agilab-env.json"
#: The kernel's own distribution.
KERNEL_DISTRIBUTION = "agilab-core"


def digest(data: Any) -> str:
    """The 16-hex-digit hash of a JSON-able identity (key order does not matter)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def venv_record(prefix: str | Path | None = None) -> dict[str, Any] | None:
    """The :data:`ENV_RECORD` of the worker venv at ``prefix`` (default: this interpreter's), or None."""
    try:
        record = json.loads((Path(sys.prefix if prefix is None else prefix) / ENV_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("hash"), str) else None


@functools.cache
def environment_identity() -> dict[str, Any]:
    """What identifies the environment this interpreter runs in.

    In a worker venv, the recipe it was built from (its :data:`ENV_RECORD`);
    anywhere else the interpreter, the platform, the environment's prefix and
    the kernel's version: a manager's environment is identified by where it is.
    """
    record = venv_record()
    if record is not None and isinstance(record.get("identity"), dict):
        return dict(record["identity"])
    from importlib import metadata  # 10-30 ms; a worker in its venv never needs it

    return {
        "python": sys.version,
        "platform": platform.platform(),
        "prefix": sys.prefix,
        KERNEL_DISTRIBUTION: metadata.version(KERNEL_DISTRIBUTION),
    }


@functools.cache
def environment_hash() -> str:
    """Identity hash of the environment this interpreter runs in.

    In a worker venv it is the hash the venv was built for (read from its
    :data:`ENV_RECORD`); anywhere else the :func:`digest` of
    :func:`environment_identity`. Workers compare it with the hash their run
    was packaged for.
    """
    record = venv_record()
    if record is not None:
        return str(record["hash"])
    return digest(environment_identity())


def runtime_of(modules: Iterable[str]) -> str:
    """``"cython"`` when any of ``modules`` is loaded from a compiled extension, else ``"python"``."""
    for name in modules:
        origin = getattr(importlib.import_module(name), "__file__", None) or ""
        if origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return "cython"
    return "python"
