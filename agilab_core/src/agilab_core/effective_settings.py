"""The settings an app runs with, beside its defaults: what ``agilab settings`` shows, diffs and resets.

The copy is seeded or upgraded first, exactly as a run would
(:mod:`agilab_core.seeded_settings`), then checked by the app's
``args_type``: a value the app refuses is one line naming the file and the
field. Only ``--reset`` skips that step, so a file that cannot be read can
still be replaced (it is kept as a backup).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from agilab_core.app import AppSpec
from agilab_core.env import AgiEnv, resolve_home
from agilab_core.plugins import load_plugins
from agilab_core.seeded_settings import app_version, defaults, reset, shown
from agilab_core.settings import ClusterSettings, build_args, load_settings, toml_key, unstructure


@attrs.frozen
class EffectiveSettings:
    """What a run of the app gets from its settings copy, beside the app's defaults."""

    app: str
    version: str | None
    path: Path
    seeded_from: str | None
    args: dict[str, Any]
    defaults: dict[str, Any]
    cluster: dict[str, Any]

    @property
    def changed(self) -> dict[str, tuple[Any, Any]]:
        """``{name: (default, value)}`` of the arguments that differ from the app's defaults."""
        return {k: (self.defaults.get(k), v) for k, v in self.args.items() if k not in self.defaults or self.defaults[k] != v}

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "version": self.version,
            "file": str(self.path),
            "seeded_from": self.seeded_from,
            "args": self.args,
            "cluster": self.cluster,
            "changed": {k: {"default": d, "value": v} for k, (d, v) in self.changed.items()},
        }


def effective(path: Path, spec: AppSpec) -> EffectiveSettings:
    """The copy's arguments checked by the app's ``args_type`` (a bad file: one-line :class:`ConfigError`)."""
    settings = load_settings(path)
    args = unstructure(build_args(spec.manager.args_type, settings, {}))
    cluster = {k: v for k, v in unstructure(settings.cluster).items() if v != unstructure(ClusterSettings()).get(k)}
    return EffectiveSettings(
        app=spec.name,
        version=app_version(spec),
        path=path,
        seeded_from=settings.seeded.version if settings.seeded else None,
        args=args,
        defaults=defaults(spec),
        cluster=cluster,
    )


def lines(view: EffectiveSettings, diff: bool = False) -> list[str]:
    """The settings as the ``agilab settings`` command prints them (``diff``: only what differs from the defaults)."""
    seeded = f" (seeded from {view.seeded_from})" if view.seeded_from else " (no version record)"
    out = [f"{view.app} {view.version or ''}".rstrip() + f": {view.path}{seeded}", "[args]"]
    changed = view.changed
    for name, value in view.args.items():
        if diff and name not in changed:
            continue
        note = f"  # default {shown(view.defaults[name]) or 'unset'}" if name in changed and name in view.defaults else ""
        out.append(f"{toml_key(name)} = {shown(value) or '(unset)'}{note}")
    out.append("[cluster]")
    out += [f"{toml_key(k)} = {shown(v)}" for k, v in view.cluster.items()]
    if diff and not changed and not view.cluster:
        return [f"{view.path}: no difference from the defaults of {view.app} {view.version or ''}".rstrip()]
    return out


def settings_of(app: str, home: str | Path | None, reset_first: bool = False) -> tuple[EffectiveSettings, str | None]:
    """The effective settings of ``app`` in ``home`` (seeded or upgraded as a run would), reset first if asked.

    Returns them with a line to tell the user (where the reset kept the old file), or None.
    """
    registry = load_plugins()
    spec = registry.app(app)
    note = None
    if reset_first:  # never through the upgrade: a broken file must be resettable
        path = AgiEnv(app=spec.name, home=resolve_home(home)).settings_path
        kept = reset(path, spec)
        note = f"{path}: reset to the defaults of {spec.name}" + (f"; previous file kept as {kept.name}" if kept else "")
    env = registry.pm.hook.resolve_env(app=spec, overrides={"home": home} if home else {})
    return effective(env.settings_path, spec), note
