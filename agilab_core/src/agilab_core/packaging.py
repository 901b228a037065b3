"""Worker packaging: what the workers of a run execute, and its identity.

Manager and worker are two runtimes. An app that declares its worker side
(``AppSpec.worker_modules``) gets, for executors whose workers run in their own
interpreters, a worker venv of its own: the declared modules built into a
wheel (optionally compiled with Cython), the kernel and the executor's worker
side, and the worker's third-party requirements — nothing of the manager's
CLI, pages or other apps. Everything that goes in is hashed into a
:class:`WorkerRecipe` digest, which names the venv, so an unchanged app never
builds twice. Apps without a declared worker side, and the ``local``
executor, run workers in the manager's own environment.

Every environment has an identity (:func:`environment_hash`) that workers check
before their first item, and that the manifest records.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import platform
import re
import sys
import sysconfig
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import attrs

from agilab_core.app import AppSpec
from agilab_core.errors import ConfigError, PluginError, UsageError
from agilab_core.hookspecs import hookimpl

#: File at the root of a worker venv that records its identity (``hash`` and recipe).
ENV_RECORD = "agilab-env.json"
#: The kernel's own distribution and what its worker side imports.
KERNEL_DISTRIBUTION = "agilab-core"
KERNEL_WORKER_REQUIREMENTS = ("attrs", "cattrs", "pluggy")
#: Files of a local project folder whose content is part of its identity.
_PROJECT_SUFFIXES = {".py", ".pyx", ".pxd", ".toml", ".cfg", ".typed", ".json", ".c", ".h"}
SKIPPED_DIRS = {"tests", "build", "dist", ".venv", ".git", "__pycache__", "node_modules", ".tox", ".nox"}
_BARE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

Report = Callable[[str], None]


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
        KERNEL_DISTRIBUTION: metadata.version(KERNEL_DISTRIBUTION),
    }
    return _digest(identity)


def runtime_of(modules: Iterable[str]) -> str:
    """``"cython"`` when any of ``modules`` is loaded from a compiled extension, else ``"python"``."""
    for name in modules:
        origin = getattr(importlib.import_module(name), "__file__", None) or ""
        if origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return "cython"
    return "python"


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@attrs.frozen
class WorkerPackage:
    """What workers run: the ``python`` to start them with and the environment's identity.

    ``kind`` is ``"inplace"`` (the manager's environment) or ``"venv"`` (a
    worker venv at ``venv``); ``runtime`` is ``"cython"`` when the worker wheel
    holds compiled modules; ``cached`` says the venv already existed;
    ``seconds`` is the time packaging took.
    """

    app: str
    python: str
    env_hash: str
    kind: str = "inplace"
    runtime: str = "python"
    venv: str | None = None
    cached: bool = True
    seconds: float = 0.0
    details: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env_hash": self.env_hash,
            "kind": self.kind,
            "runtime": self.runtime,
            "python": self.python,
            "venv": self.venv,
            "cached": self.cached,
            "seconds": round(self.seconds, 6),
        }


def inplace_package(app: AppSpec) -> WorkerPackage:
    """Workers run with this interpreter, in this environment."""
    return WorkerPackage(app=app.name, python=sys.executable, env_hash=environment_hash(), kind="inplace")


# -- what goes into a worker venv ---------------------------------------------------


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
        return _digest(self.identity())


@hookimpl(trylast=True)
def package_worker(app: AppSpec, env: Any, options: dict[str, Any]) -> WorkerPackage:
    """Default: a content-addressed worker venv when the executor isolates its workers
    and the app declares its worker side; the manager's environment otherwise."""
    cython = bool(options.get("cython"))
    if not options.get("isolated") or not app.worker_modules:
        if cython:
            why = (
                f"executor {options.get('executor', 'local')} runs items in this process"
                if not options.get("isolated")
                else f"app {app.name} declares no worker_modules to package"
            )
            raise UsageError(f"--cython needs a worker venv, but {why}; use an executor such as pool or dask")
        return inplace_package(app)
    from agilab_core.wenv import install_venv  # manager side only: builds, locks, installs

    started = time.perf_counter()
    recipe = WorkerRecipe.of(app, cython, options.get("worker_distributions", ()), options.get("worker_requirements", ()))
    return install_venv(recipe, env.wenv_dir, report=options.get("report"), started=started)


def require_writable(folder: Path) -> None:
    """Create ``folder`` or say, in one line, why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot create the worker venv folder: {exc.strerror or exc}") from None
