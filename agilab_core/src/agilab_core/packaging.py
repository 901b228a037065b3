"""Worker packaging: what the workers of a run execute, and its identity.

The default packager runs workers from the manager's own environment; its
identity hash covers the interpreter, the platform and the installed versions
of the kernel and the app's distribution, so a manifest says exactly what ran.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata
from typing import Any

import attrs

from agilab_core.app import AppSpec
from agilab_core.hookspecs import hookimpl


@attrs.frozen
class WorkerPackage:
    """Where workers run (``python`` interpreter) and the environment's identity."""

    app: str
    python: str
    env_hash: str
    kind: str = "inplace"
    runtime: str = "python"
    details: dict[str, Any] = attrs.field(factory=dict)


def distribution_of(module: str) -> tuple[str, str] | None:
    """``(distribution, version)`` that ships the top-level package of ``module``."""
    top = module.split(":")[0].split(".")[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return dist, metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


@hookimpl(trylast=True)
def package_worker(app: AppSpec, env: Any, options: dict[str, Any]) -> WorkerPackage:
    """Default: run the worker in this interpreter and environment."""
    dists = {"agilab-core": metadata.version("agilab-core")}
    found = distribution_of(app.worker)
    if found:
        dists[found[0]] = found[1]
    identity = {
        "python": sys.version,
        "platform": platform.platform(),
        "executable": sys.executable,
        "distributions": dists,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return WorkerPackage(app=app.name, python=sys.executable, env_hash=digest, details=identity)
