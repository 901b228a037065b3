"""Worker packaging: what the workers of a run execute, and its identity.

The default packager runs workers from the manager's own environment; its
identity hash covers the interpreter, the platform and the installed versions
of the kernel and the app's distribution, so a manifest says exactly what ran.
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
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

from agilab_core.app import AppSpec
from agilab_core.hookspecs import hookimpl

#: File at the root of a worker venv that records its identity (``hash`` and recipe).
ENV_RECORD = "agilab-env.json"


@functools.cache
def environment_hash() -> str:
    """Identity of the environment this interpreter runs in.

    In a worker venv it is the hash the venv was built for (read from its
    :data:`ENV_RECORD`); anywhere else it is a hash of the interpreter, the
    platform, the environment's prefix and the kernel's version. Workers compare
    it with the hash their run was packaged for.
    """
    try:
        return str(json.loads((Path(sys.prefix) / ENV_RECORD).read_text(encoding="utf-8"))["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    identity = {
        "python": sys.version,
        "platform": platform.platform(),
        "prefix": sys.prefix,
        "agilab-core": metadata.version("agilab-core"),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def runtime_of(modules: Iterable[str]) -> str:
    """``"cython"`` when any of ``modules`` is loaded from a compiled extension, else ``"python"``."""
    for name in modules:
        origin = getattr(importlib.import_module(name), "__file__", None) or ""
        if origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return "cython"
    return "python"


@attrs.frozen
class WorkerPackage:
    """Where workers run (``python`` interpreter) and the environment's identity."""

    app: str
    python: str
    env_hash: str
    kind: str = "inplace"
    runtime: str = "python"
    details: dict[str, Any] = attrs.field(factory=dict)


def inplace_package(app: AppSpec) -> WorkerPackage:
    """Workers run with this interpreter, in this environment."""
    return WorkerPackage(app=app.name, python=sys.executable, env_hash=environment_hash(), kind="inplace")


@hookimpl(trylast=True)
def package_worker(app: AppSpec, env: Any, options: dict[str, Any]) -> WorkerPackage:
    """Default: run the worker in this interpreter and environment."""
    return inplace_package(app)
