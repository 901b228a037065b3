"""What a worker venv is made from: the recipe whose digest names the venv.

The app's worker sources (with their content hashes), the distributions the
worker needs as the manager has them (the kernel, the executor's worker side),
and the pinned third-party requirements. Building from a recipe is
:mod:`agilab_core.wheels` and :mod:`agilab_core.wenv`; choosing to build is
:mod:`agilab_core.packaging`.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import platform
import re
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import attrs

from agilab_core.app import AppSpec
from agilab_core.errors import PluginError, UsageError
from agilab_core.identity import KERNEL_DISTRIBUTION
from agilab_core.identity import digest as hash_identity

#: What the kernel's worker side needs besides itself (plugins' worker modules may import ``agilab_core`` whole).
KERNEL_WORKER_REQUIREMENTS = ("attrs", "cattrs", "pluggy")
#: Files of a local project folder whose content is part of its identity.
_PROJECT_SUFFIXES = {".py", ".pyx", ".pxd", ".toml", ".cfg", ".typed", ".json", ".c", ".h"}
SKIPPED_DIRS = {"tests", "build", "dist", ".venv", ".git", "__pycache__", "node_modules", ".tox", ".nox"}
_BARE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@attrs.frozen
class SourceFile:
    """A worker source file: its path inside the wheel, where it is, its content hash."""

    name: str
    path: Path
    sha256: str


@attrs.frozen
class LocalDistribution:
    """A distribution the worker needs as the manager has it.

    ``folder`` is its project folder when the manager installed it from one
    (editable or not); such a distribution is rebuilt from that folder and its
    identity covers the folder's sources. Otherwise it comes from the index at
    the manager's version.
    """

    name: str
    version: str
    folder: Path | None
    tree_hash: str | None

    @classmethod
    def of(cls, name: str) -> LocalDistribution:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PluginError(f"worker distribution {name!r} is not installed in this environment") from None
        folder = _project_folder(dist)
        return cls(name, dist.version, folder, _tree_hash(folder) if folder else None)

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "tree": self.tree_hash}


def _project_folder(dist: metadata.Distribution) -> Path | None:
    try:
        text = dist.read_text("direct_url.json")
        info = json.loads(text) if text else None
    except (OSError, ValueError):
        return None
    if not info or "dir_info" not in info:
        return None
    url = urlparse(info.get("url", ""))
    if url.scheme != "file":
        return None
    folder = Path(unquote(url.path))
    return folder if (folder / "pyproject.toml").exists() or (folder / "setup.py").exists() else None


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.suffix not in _PROJECT_SUFFIXES or not path.is_file():
            continue
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in rel.parts[:-1]):
            continue
        digest.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def worker_sources(app: AppSpec) -> tuple[SourceFile, ...]:
    """The files of the app's worker modules, with their parent packages' ``__init__``.

    Besides the declared ones, the worker class's module and the module of the
    manager's ``args_type`` are included: workers unpickle the args.
    """
    names = {app.worker.partition(":")[0], *app.worker_modules, *app.cython_modules}
    args_type = getattr(app.manager, "args_type", None)
    if args_type is not None and args_type.__module__ not in sys.builtin_module_names:
        names.add(args_type.__module__)
    found: dict[str, SourceFile] = {}
    for name in sorted(names):
        spec = _find_spec(app, name)
        parts = name.split(".")
        origin = Path(spec.origin or "")
        if spec.submodule_search_locations:  # a package: all of it
            root = origin.parents[len(parts)]
            files = [p for p in origin.parent.rglob("*") if p.suffix in (".py", ".pxd") and "__pycache__" not in p.parts]
        else:
            root = origin.parents[len(parts) - 1]
            types = origin.with_suffix(".pxd")  # Cython's typing of a pure-Python-mode module
            files = [origin, types] if types.exists() else [origin]
        for depth in range(1, len(parts)):
            init = root.joinpath(*parts[:depth], "__init__.py")
            if init.exists():
                files.append(init)
        for path in files:
            rel = path.relative_to(root).as_posix()
            if rel not in found:
                found[rel] = SourceFile(rel, path, hashlib.sha256(path.read_bytes()).hexdigest())
    return tuple(found[k] for k in sorted(found))


def _find_spec(app: AppSpec, name: str) -> importlib.machinery.ModuleSpec:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise PluginError(f"app {app.name}: worker module {name!r} cannot be found: {exc}") from None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise PluginError(f"app {app.name}: worker module {name!r} has no Python source to package")
    return spec


def pinned(requirements: Iterable[str]) -> tuple[str, ...]:
    """Requirements with each bare name pinned to the version installed here (if any)."""
    out: set[str] = set()
    for req in requirements:
        req = req.strip()
        if _BARE_NAME.match(req):
            try:
                req = f"{req}=={metadata.version(req)}"
            except metadata.PackageNotFoundError:
                pass
        out.add(req)
    return tuple(sorted(out))


@attrs.frozen
class WorkerRecipe:
    """Everything a worker venv is made from; :meth:`digest` names the venv."""

    app: str
    sources: tuple[SourceFile, ...]
    cython_modules: tuple[str, ...]
    distributions: tuple[LocalDistribution, ...]
    requirements: tuple[str, ...]

    @classmethod
    def of(
        cls,
        app: AppSpec,
        cython: bool = False,
        distributions: Sequence[str] = (),
        requirements: Sequence[str] = (),
    ) -> WorkerRecipe:
        if cython and not app.cython_modules:
            raise UsageError(f"--cython: app {app.name} declares no cython_modules to compile")
        names = dict.fromkeys([KERNEL_DISTRIBUTION, *distributions])
        return cls(
            app=app.name,
            sources=worker_sources(app),
            cython_modules=tuple(app.cython_modules) if cython else (),
            distributions=tuple(LocalDistribution.of(n) for n in names),
            requirements=pinned([*KERNEL_WORKER_REQUIREMENTS, *requirements, *app.worker_requirements]),
        )

    @property
    def index_distributions(self) -> tuple[str, ...]:
        """``name==version`` of the distributions installed from an index (no project folder to build)."""
        return tuple(f"{d.name}=={d.version}" for d in self.distributions if not d.folder)

    @property
    def runtime(self) -> str:
        return "cython" if self.cython_modules else "python"

    def identity(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "sources": {s.name: s.sha256 for s in self.sources},
            "cython": list(self.cython_modules),
            "distributions": [d.identity() for d in self.distributions],
            "requirements": list(self.requirements),
            "abi": sys.implementation.cache_tag,
            "python": platform.python_version(),
            "platform": sysconfig.get_platform(),
        }

    def digest(self) -> str:
        return hash_identity(self.identity())
