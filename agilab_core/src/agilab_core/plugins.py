"""Finding, loading and validating plugins, one entry point at a time.

Every entry point of the ``agilab`` group is loaded inside its own try/except:
a plugin that fails to import, uses an unknown hook or registers something
invalid is recorded with a one-line reason and the others keep working.
What a registration hook returns is checked when it is collected (a valid
name, a ``Manager`` subclass with an attrs ``args_type``, a ``"module:Class"``
worker path whose module and class exist, read from the source without
importing it, an ``Executor`` subclass with an attrs ``config_type``, a callable
page renderer, a ``click.Command`` whose name no built-in command takes), so a broken plugin fails at load time, not in the middle of a run.
An entry-point name claimed by two distributions fails the second one.
``AGILAB_STRICT_PLUGINS=1`` re-raises instead; ``AGILAB_DISABLE_PLUGINS=a,b``
blocks plugins by entry-point or registered name. Nothing is loaded at import
time: :func:`load_plugins` builds a fresh :class:`Registry` each call.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

import attrs
import click
import pluggy

from agilab_core import app_source, hookspecs
from agilab_core import env as env_module
from agilab_core import packaging as packaging_module
from agilab_core import plan as plan_module
from agilab_core.app import AppSpec, Manager
from agilab_core.errors import PluginError, UsageError, one_line
from agilab_core.executor import Executor, ExecutorSpec
from agilab_core.views import PageSpec, render_arguments

GROUP = "agilab"
STATUS_LOADED = "loaded"
STATUS_BLOCKED = "blocked"
STATUS_FAILED = "failed"

BUILTINS = (env_module, packaging_module, plan_module)

# registration hook -> (kind, spec class)
_REGISTRATIONS: dict[str, tuple[str, type[Any]]] = {
    "register_apps": ("app", AppSpec),
    "register_executors": ("executor", ExecutorSpec),
    "register_pages": ("page", PageSpec),
    "register_commands": ("command", click.Command),
}
_KINDS = ("app", "executor", "page", "command")


#: Registered names: lowercase letters, digits, ``-`` and ``_``, starting with a
#: letter, at most 64 characters (they are typed on command lines and used in paths).
NAME_RULE = "lowercase letters, digits, '-' or '_', starting with a letter, at most 64 characters"
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


def valid_name(name: object) -> bool:
    """True when ``name`` may name an app, executor or page (see :data:`NAME_RULE`)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def _is_dotted(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


def _worker_module_missing(module: str) -> bool:
    """True when ``module`` surely cannot be imported; never executes its code.

    Its file is looked for in its package's folders (see
    :mod:`agilab_core.app_source`); where those are not plain folders,
    ``find_spec`` answers, but only once the parent package is imported
    (``find_spec`` of ``a.b`` imports ``a``: the worker process will tell).
    """
    try:
        return app_source.module_file(module) is None
    except app_source.Unknown:
        pass
    parent = module.rpartition(".")[0]
    if parent and parent not in sys.modules:
        return False
    try:
        return importlib.util.find_spec(module) is None
    except ImportError:
        return True
    except ValueError:  # in sys.modules without a spec: it exists
        return False


def _missing_object(path: str, what: str, kind: str) -> str | None:
    """Why ``"module:name"`` cannot be found (read from the source, never imported); None when it can or cannot be told."""
    module, _, name = path.partition(":")
    if _worker_module_missing(module):
        return f"{what} module {module!r} not found"
    name = name.partition(".")[0]
    try:
        found = app_source.defines(module, name)
    except app_source.Unknown:
        return None
    return None if found else f"{what} {kind} {name!r} not found in module {module!r}"


def _check_app(spec: AppSpec) -> None:
    manager = spec.manager
    if not (isinstance(manager, type) and issubclass(manager, Manager)):
        raise PluginError(f"app {spec.name!r}: manager {manager!r} is not a subclass of agilab_core.Manager")
    args_type = getattr(manager, "args_type", None)
    if args_type is None:
        raise PluginError(f"app {spec.name!r}: manager {manager.__name__} has no args_type")
    if not (isinstance(args_type, type) and attrs.has(args_type)):
        raise PluginError(f"app {spec.name!r}: {manager.__name__}.args_type {args_type!r} is not an attrs class")
    if spec.worker == "":
        try:
            app_source.find_worker(manager.__module__)
        except LookupError as exc:
            raise PluginError(f"app {spec.name!r}: no worker given and {exc}") from None
    module, sep, cls = spec.worker.partition(":") if isinstance(spec.worker, str) else ("", "", "")
    if not (sep and _is_dotted(module) and _is_dotted(cls)):
        raise PluginError(f"app {spec.name!r}: worker {spec.worker!r} is not of the form 'module:Class'")
    missing = _missing_object(spec.worker, "worker", "class")
    if missing:
        raise PluginError(f"app {spec.name!r}: {missing}")
    _check_app_settings(spec, args_type)


def _check_app_settings(spec: AppSpec, args_type: type) -> None:
    """``renamed`` maps old argument names to fields of ``args_type``; ``sample_data`` can be found."""
    fields = {f.name for f in attrs.fields(args_type)}
    for old, new in spec.renamed.items():
        if not (isinstance(old, str) and isinstance(new, str) and new in fields and old not in fields):
            raise PluginError(f"app {spec.name!r}: renamed {old!r} -> {new!r}: the new name must be an argument of {args_type.__name__}, the old one not")
    data = spec.sample_data
    if data is None or callable(data):
        return
    package, sep, target = data.partition(":") if isinstance(data, str) else ("", "", "")
    if not (sep and _is_dotted(package) and target):
        raise PluginError(f"app {spec.name!r}: sample_data {data!r} is not 'module:function', 'package:archive' or a callable")
    missing = _missing_object(data, "sample_data", "function") if target.isidentifier() else None
    if missing:
        raise PluginError(f"app {spec.name!r}: {missing}")


def _check_executor(spec: ExecutorSpec) -> None:
    if not (isinstance(spec.executor, type) and issubclass(spec.executor, Executor)):
        raise PluginError(f"executor {spec.name!r}: {spec.executor!r} is not a subclass of agilab_core.Executor")
    if not (isinstance(spec.config_type, type) and attrs.has(spec.config_type)):
        raise PluginError(f"executor {spec.name!r}: config_type {spec.config_type!r} is not an attrs class")


def _check_page(spec: PageSpec) -> None:
    if not callable(spec.render):
        raise PluginError(f"page {spec.name!r}: render {spec.render!r} is not callable")
    if spec.can_show is not None and not callable(spec.can_show):
        raise PluginError(f"page {spec.name!r}: can_show {spec.can_show!r} is neither None nor callable")
    try:
        render_arguments(spec.render)
    except PluginError as exc:
        raise PluginError(f"page {spec.name!r}: {exc}") from None
    if isinstance(spec.apps, str) or not all(isinstance(a, str) for a in spec.apps):
        raise PluginError(f"page {spec.name!r}: apps {spec.apps!r} is not a tuple of app names")


def _check_command(command: click.Command) -> None:
    if not callable(command.callback) and not isinstance(command, click.Group):
        raise PluginError(f"command {command.name!r}: it has no callback")


_CHECKS: dict[str, Callable[[Any], None]] = {
    "app": _check_app, "executor": _check_executor, "page": _check_page, "command": _check_command,
}


def check_spec(kind: str, spec: Any) -> None:
    """Raise :class:`PluginError` (one line naming the spec and the fault) for an unusable spec."""
    if not valid_name(spec.name):
        raise PluginError(f"{kind} name {spec.name!r} is invalid: use {NAME_RULE}")
    _CHECKS[kind](spec)


@attrs.frozen
class PluginInfo:
    """One row of ``agilab plugins``."""

    name: str
    kind: str
    distribution: str
    version: str
    status: str
    error: str | None = None
    entry_point: str | None = None


def make_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with the hook specs and the kernel's default implementations."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for module in BUILTINS:
        pm.register(module, name=module.__name__)
    return pm


def _strict() -> bool:
    return os.environ.get("AGILAB_STRICT_PLUGINS", "").strip().lower() in ("1", "true", "yes")


def _disabled() -> set[str]:
    return {n.strip() for n in os.environ.get("AGILAB_DISABLE_PLUGINS", "").split(",") if n.strip()}


def _guess_kind(distribution: str) -> str:
    parts = distribution.lower().replace("_", "-").split("-")
    return parts[1] if len(parts) > 2 and parts[0] == "agilab" and parts[1] in _KINDS else "plugin"


@attrs.define
class Registry:
    """Everything the installed plugins registered, plus the load report."""

    pm: pluggy.PluginManager
    apps: dict[str, AppSpec] = attrs.field(factory=dict)
    executors: dict[str, ExecutorSpec] = attrs.field(factory=dict)
    pages: dict[str, PageSpec] = attrs.field(factory=dict)
    commands: dict[str, click.Command] = attrs.field(factory=dict)
    plugins: list[PluginInfo] = attrs.field(factory=list)
    origins: dict[str, tuple[str, str]] = attrs.field(factory=dict)  # plugin name -> (dist, version)
    builtin_commands: frozenset[str] = frozenset()  # names a plugin's command may not take

    def app(self, name: str) -> AppSpec:
        return self._lookup(self.apps, name, "app")

    def executor(self, name: str) -> ExecutorSpec:
        return self._lookup(self.executors, name, "executor")

    def page(self, name: str) -> PageSpec:
        return self._lookup(self.pages, name, "page")

    def _lookup(self, table: dict[str, Any], name: str, kind: str) -> Any:
        if name in table:
            return table[name]
        known = ", ".join(sorted(table)) or "none"
        why = next((p for p in self.plugins if p.name == name and p.status != STATUS_LOADED), None)
        hint = f" ({why.status}: {why.error})" if why and why.error else (f" ({why.status})" if why else "")
        raise UsageError(f"unknown {kind} {name!r}{hint}; installed: {known}")

    def distribution(self, kind: str, name: str) -> tuple[str, str]:
        for p in self.plugins:
            if p.kind == kind and p.name == name:
                return p.distribution, p.version
        return "unknown", "unknown"

    def register(self, plugin: object, name: str, distribution: str = "local", version: str = "0") -> None:
        """Register a plugin object directly (tests, notebooks) and collect its specs."""
        self.pm.register(plugin, name=name)
        self.origins[name] = (distribution, version)
        self._collect(only=name)

    def _fail(self, name: str, distribution: str, version: str, exc: BaseException, kind: str | None = None) -> None:
        if _strict():
            if isinstance(exc, PluginError):
                raise PluginError(f"plugin {name!r} ({distribution}): {one_line(exc)}") from exc
            raise exc
        self.plugins.append(
            PluginInfo(name, kind or _guess_kind(distribution), distribution, version, STATUS_FAILED, one_line(exc))
        )

    def _collect(self, only: str | None = None) -> None:
        """Call the registration hooks plugin by plugin; validate and de-duplicate."""
        disabled = _disabled()
        tables = self._tables()
        broken: set[str] = set()
        for hook_name, (kind, spec_type) in _REGISTRATIONS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                pname = impl.plugin_name
                if (only and pname != only) or pname in broken or pname not in self.origins:
                    continue
                dist, version = self.origins[pname]
                try:
                    specs: Any = impl.function() or []
                    if not isinstance(specs, (list, tuple)):
                        raise PluginError(f"{hook_name} returned {type(specs).__name__}, expected a list of {spec_type.__name__}")
                    names = [getattr(s, "name", None) for s in specs]
                    twice = sorted({str(n) for n in names if names.count(n) > 1})
                    if twice:
                        raise PluginError(f"{hook_name} returned {kind} {twice[0]!r} twice")
                    for spec in specs:
                        if not isinstance(spec, spec_type):
                            raise PluginError(f"{hook_name} returned {type(spec).__name__}, expected {spec_type.__name__}")
                        check_spec(kind, spec)
                        if kind == "command" and spec.name in self.builtin_commands:
                            raise PluginError(f"command {spec.name!r} is a built-in agilab command")
                        if spec.name in tables[kind]:
                            owner = self.distribution(kind, spec.name)[0]
                            raise PluginError(f"{kind} {spec.name!r} is already registered by {owner}")
                except Exception as exc:  # noqa: BLE001 - one plugin never breaks the others
                    broken.add(pname)
                    self._fail(pname, dist, version, exc, kind)
                    continue
                for spec in specs:
                    if spec.name in disabled:
                        self.plugins.append(PluginInfo(spec.name, kind, dist, version, STATUS_BLOCKED, entry_point=pname))
                        continue
                    tables[kind][spec.name] = spec
                    self.plugins.append(PluginInfo(spec.name, kind, dist, version, STATUS_LOADED, entry_point=pname))
        for pname in broken:
            self._unregister(pname)

    def _tables(self) -> dict[str, dict[str, Any]]:
        return {"app": self.apps, "executor": self.executors, "page": self.pages, "command": self.commands}

    def _unregister(self, pname: str) -> None:
        plugin = self.pm.get_plugin(pname)
        if plugin is not None:
            self.pm.unregister(plugin)
        # drop anything the broken plugin registered before failing
        for kind, table in self._tables().items():
            for info in [p for p in self.plugins if p.entry_point == pname and p.kind == kind]:
                table.pop(info.name, None)
                self.plugins.remove(info)


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=GROUP)


def load_plugins(entry_points: bool = True, builtin_commands: Iterable[str] = ()) -> Registry:
    """Build a plugin manager and load every installed plugin safely.

    ``builtin_commands`` are the ``agilab`` command's own sub-command names: a
    plugin registering a command of one of those names fails.
    """
    registry = Registry(make_plugin_manager(), builtin_commands=frozenset(builtin_commands))
    if entry_points:
        disabled = _disabled()
        seen: dict[str, str] = {}  # entry-point name -> distribution that has it
        for ep in sorted(_entry_points(), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else "unknown"
            version = ep.dist.version if ep.dist else "unknown"
            if ep.name in seen:
                if seen[ep.name] != dist:
                    clash = PluginError(f"entry point {ep.name!r} is also provided by {seen[ep.name]}; this one from {dist} is not loaded")
                    registry._fail(ep.name, dist, version, clash)
                continue  # else the same distribution visible twice on sys.path
            seen[ep.name] = dist
            if ep.name in disabled:
                registry.plugins.append(PluginInfo(ep.name, _guess_kind(dist), dist, version, STATUS_BLOCKED, entry_point=ep.name))
                continue
            try:
                plugin = ep.load()
                registry.pm.register(plugin, name=ep.name)
                registry.pm.check_pending()
            except Exception as exc:  # noqa: BLE001 - record and keep going
                registry._unregister(ep.name)
                registry._fail(ep.name, dist, version, exc)
                continue
            registry.origins[ep.name] = (dist, version)
        registry._collect()
    registry.plugins.sort(key=lambda p: (p.kind, p.name))
    return registry
