"""``AgiEnv``: which app, which settings file, which folders.

Home is ``$AGILAB_HOME`` or ``~/.agilab``. On first use of an app its packaged
``app_settings.toml`` is copied to ``<home>/apps/<app>/app_settings.toml``; from
then on that copy is the user's to edit and the kernel reads overrides from it.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from agilab_core.app import AppSpec
from agilab_core.errors import ConfigError
from agilab_core.atomic import atomic_path
from agilab_core.evidence import CAPACITY
from agilab_core.hookspecs import hookimpl
from agilab_core.settings import AppSettings, load_settings

SETTINGS_FILE = "app_settings.toml"


def default_home() -> Path:
    return Path(os.environ.get("AGILAB_HOME") or Path.home() / ".agilab").expanduser()


@attrs.frozen
class AgiEnv:
    """Resolved folders and settings of one app under one home."""

    app: str
    home: Path

    @property
    def settings_path(self) -> Path:
        return self.home / "apps" / self.app / SETTINGS_FILE

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs" / self.app

    @property
    def runs_root(self) -> Path:
        return self.home / "runs"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def wenv_dir(self) -> Path:
        """Worker venvs: ``$AGILAB_WENV`` if set (content-addressed, so homes may share it), else ``<home>/wenv``."""
        shared = os.environ.get("AGILAB_WENV")
        return Path(shared).expanduser() if shared else self.home / "wenv"

    @property
    def capacity_path(self) -> Path:
        return self.home / CAPACITY

    def resolve_path(self, value: str | os.PathLike[str]) -> Path:
        """An absolute or ``~`` path as is; a relative one under home."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.home / path

    def settings(self) -> AppSettings:
        return load_settings(self.settings_path)


def packaged_settings(spec: AppSpec) -> str | None:
    """Text of the app's packaged default settings, or None when it has none."""
    if not spec.settings:
        return None
    package, _, resource = spec.settings.partition(":")
    try:
        return resources.files(package).joinpath(resource or SETTINGS_FILE).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise ConfigError(f"app {spec.name}: packaged settings {spec.settings!r} not found ({exc})") from None


def seed_settings(env: AgiEnv, spec: AppSpec) -> None:
    """Copy the packaged settings into home on first use; never overwrite edits."""
    if env.settings_path.exists():
        return
    text = packaged_settings(spec)
    if text is None:
        return
    try:
        with atomic_path(env.settings_path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{env.settings_path}: cannot write settings: {exc.strerror}") from None


@hookimpl(trylast=True)
def resolve_env(app: AppSpec, overrides: dict[str, Any]) -> AgiEnv:
    """Default environment: home from ``overrides['home']``, ``$AGILAB_HOME`` or ``~/.agilab``."""
    home = overrides.get("home")
    env = AgiEnv(app=app.name, home=Path(home).expanduser() if home else default_home())
    seed_settings(env, app)
    return env
