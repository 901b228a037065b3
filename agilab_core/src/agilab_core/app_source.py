"""Reading an app's modules without running them.

Registration happens on every ``agilab`` command, and an app's worker side
imports heavy libraries (polars, numpy...), so what the kernel derives from it
(which class is the worker, which modules the worker is made of, whether a
declared worker class exists) comes from the source files, parsed with
:mod:`ast`, never from importing them. A module already imported is asked
directly. When a module cannot be read (compiled only, inside a zip), the
answer is "unknown" and the worker process will tell.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType

#: The kernel's own package: never part of an app's worker side (workers get it as a requirement).
KERNEL_PACKAGE = "agilab_core"


class Unknown(Exception):
    """A module whose files cannot be looked at on disk: no answer either way."""


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` (``.py``, or ``__init__.py`` of a package), found without importing it.

    None when the module surely does not exist. :class:`Unknown` when its
    package lives somewhere other than plain folders, or it is compiled only.
    """
    if name in sys.modules:
        return _file_of(sys.modules[name])
    parts = name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])  # a top-level name: nothing is executed
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if len(parts) == 1:
        return _origin(spec.origin)
    folders = list(spec.submodule_search_locations or [])
    if not folders:
        return None  # a plain module has no submodules
    for depth, part in enumerate(parts[1:], start=2):
        prefix = ".".join(parts[:depth])
        if prefix in sys.modules:
            module = sys.modules[prefix]
            if depth == len(parts):
                return _file_of(module)
            folders = list(getattr(module, "__path__", []))
            if not folders:
                return None
            continue
        found = _find_in(folders, part, last=depth == len(parts))
        if found is None:
            return None
        if depth == len(parts):
            return found
        folders = [str(found.parent)]
    return None


def _find_in(folders: list[str], part: str, last: bool) -> Path | None:
    """``part`` as a module file or a package folder in ``folders``."""
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise Unknown(folder)
        package = folder / part
        if (package / "__init__.py").is_file():
            return package / "__init__.py"
        if last and (folder / f"{part}.py").is_file():
            return folder / f"{part}.py"
        if last and (any(folder.glob(f"{part}.*.so")) or any(folder.glob(f"{part}.*.pyd"))):
            raise Unknown(folder / part)
        if package.is_dir() and not last:  # a namespace package
            return package / "__init__.py"
    return None


def _origin(origin: str | None) -> Path:
    if not origin or not origin.endswith(".py"):
        raise Unknown(origin)
    return Path(origin)


def _file_of(module: ModuleType) -> Path:
    return _origin(getattr(module, "__file__", None))


def _tree(name: str) -> ast.Module | None:
    """The parsed source of ``name``; None when it does not exist. Raises :class:`Unknown`."""
    path = module_file(name)
    if path is None:
        return None
    try:
        if not path.is_file():  # the __init__ of a namespace package
            return ast.Module(body=[], type_ignores=[])
        stat = path.stat()
        return _parsed(str(path), stat.st_mtime_ns, stat.st_size)
    except (OSError, SyntaxError, ValueError) as exc:
        raise Unknown(path) from exc


@functools.lru_cache(maxsize=256)
def _parsed(path: str, mtime_ns: int, size: int) -> ast.Module:
    """A source file parsed once per content (the key changes when the file does)."""
    return ast.parse(Path(path).read_bytes(), filename=path)


def defines(module: str, name: str) -> bool:
    """True when ``module`` binds ``name`` at top level (class, function, assignment or import).

    Raises :class:`Unknown` when the module cannot be read or names are bound
    dynamically (``import *``, a module ``__getattr__``).
    """
    if module in sys.modules:
        return hasattr(sys.modules[module], name)
    tree = _tree(module)
    if tree is None:
        return False
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    raise Unknown(module)
                bound.add(alias.asname or alias.name.partition(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    if "__getattr__" in bound and name not in bound:
        raise Unknown(module)
    return name in bound


def worker_classes(module: str) -> list[str]:
    """Top-level classes of ``module`` with a base named ``Worker`` or ``...Worker``."""
    tree = _tree(module)
    if tree is None:
        return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and any(_base_name(b).endswith("Worker") for b in node.bases)
    ]


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def package_of(module: str) -> str:
    """The package ``module`` is in: itself when it is a package, else its parent ('' at top level)."""
    loaded = sys.modules.get(module)
    if loaded is not None and hasattr(loaded, "__path__"):
        return module
    return module.rpartition(".")[0]


def find_worker(manager_module: str) -> str:
    """The ``"module:Class"`` of an app's worker, derived from its manager's module.

    The worker is the one class based on ``Worker`` in the ``worker`` module of
    the manager's package, else in the manager's own module. Raises
    ``LookupError`` (why, in words) when there is none or more than one.
    """
    package = package_of(manager_module)
    places = [f"{package}.worker"] if package else []
    places.append(manager_module)
    for place in places:
        try:
            names = worker_classes(place)
        except Unknown:
            continue
        if len(names) > 1:
            raise LookupError(f"{place} defines several worker classes ({', '.join(names)}); name one with worker='{place}:Class'")
        if names:
            return f"{place}:{names[0]}"
    raise LookupError(f"no Worker subclass found in {' or '.join(places)}; name it with worker='module:Class'")


def worker_side(worker_module: str) -> tuple[str, ...]:
    """The worker's module and the modules of its top-level package it imports, transitively, sorted.

    Only modules (never a whole package: ``from pkg import x`` counts ``pkg.x``
    when that is a module) and never the kernel's. Unreadable modules are kept
    but not followed.
    """
    top = worker_module.partition(".")[0]
    if top == KERNEL_PACKAGE:
        return ()
    seen: set[str] = set()
    todo = [worker_module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            tree = _tree(name)
        except Unknown:
            continue
        if tree is None:
            seen.discard(name)
            continue
        for imported in _imports(tree, name):
            if imported.partition(".")[0] == top and imported not in seen and _is_module(imported):
                todo.append(imported)
    return tuple(sorted(seen))


def _is_module(name: str) -> bool:
    """True for a module that exists and is not a package."""
    try:
        path = module_file(name)
    except Unknown:
        return False
    return path is not None and path.name != "__init__.py"


def _imports(tree: ast.Module, module: str) -> set[str]:
    """Every module name ``tree`` may import, anywhere in it (``from a import b`` gives ``a`` and ``a.b``)."""
    package = module.rpartition(".")[0]
    names: set[str] = set()
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - node.level + 1] if node.level > 1 else anchor
                base = ".".join([*anchor, base] if base else anchor)
            if base:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Every statement in ``body`` and in the blocks nested in it (imports are statements: expressions are skipped)."""
    found: list[ast.stmt] = []
    todo = list(body)
    while todo:
        node = todo.pop()
        found.append(node)
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                todo.extend(b for b in block if isinstance(b, (ast.stmt, ast.excepthandler, ast.match_case)))  # type: ignore[misc]
    return found


def third_party(modules: tuple[str, ...]) -> tuple[str, ...]:
    """The distributions, installed here, that ``modules`` import (sorted names; the standard library,
    the kernel and the modules' own distribution left out).

    An import of something not installed here (an optional import in a
    ``try``) is left out: the worker venv could not pin it anyway.
    """
    if not modules:
        return ()
    top = modules[0].partition(".")[0]
    own = _distribution_of(top)
    names: set[str] = set()
    for module in modules:
        try:
            tree = _tree(module)
        except Unknown:
            continue
        for imported in _imports(tree, module) if tree is not None else ():
            root = imported.partition(".")[0]
            if root in (top, KERNEL_PACKAGE, "__future__") or root in sys.stdlib_module_names:
                continue
            dist = _distribution_of(root)
            if dist and dist != own:
                names.add(dist)
    return tuple(sorted(names))


@functools.lru_cache(maxsize=256)
def _distribution_of(package: str) -> str | None:
    """The installed distribution that provides the import name ``package`` (None when none does)."""
    try:
        return metadata.distribution(package).metadata["Name"]  # names are normalised: most import names are their distribution's
    except metadata.PackageNotFoundError:
        pass
    found = _import_names().get(package)
    return found[0] if found else None


@functools.lru_cache(maxsize=1)
def _import_names() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())  # slower: reads every installed distribution, once
