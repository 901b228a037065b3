"""``AgiEnv``: which app, which settings file, which folders.

Home is ``--home`` (``home=``), else ``$AGILAB_HOME``, else ``~/.agilab``. It is
made absolute once, when the environment is resolved: a relative home is taken
from the current folder at that moment, so a later ``chdir`` (or a worker
started elsewhere) still finds the same folder. On first use of an app its
settings copy ``<home>/apps/<app>/app_settings.toml`` is written from the app's
defaults, and upgraded when the app's version changes (see
:mod:`agilab_core.seeded_settings`); the copy is the user's to edit and the
kernel reads overrides from it. An app's sample data is seeded into
``<home>/data/<app>`` the first time it resolves a path there (see
:mod:`agilab_core.sample_data`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs

from agilab_core import sample_data, seeded_settings
from agilab_core.app import AppSpec
from agilab_core.errors import ConfigError
from agilab_core.evidence import CAPACITY
from agilab_core.hookspecs import hookimpl
from agilab_core.sample_data import SampleData
from agilab_core.settings import AppSettings, load_settings

SETTINGS_FILE = seeded_settings.SETTINGS_FILE


def absolute_path(value: str | os.PathLike[str], source: str) -> Path:
    """``value`` with ``~`` expanded, made absolute against the current folder (``..`` folded).

    :class:`ConfigError` names ``source`` (a flag or variable) for an unknown
    ``~user`` or a current folder that no longer exists.
    """
    if "\x00" in str(value):
        raise ConfigError(f"{source} {str(value)!r}: a path cannot contain a NUL character")
    try:
        path = Path(value).expanduser()
    except RuntimeError:
        user = str(value).partition("/")[0]
        raise ConfigError(f"{source} {str(value)!r}: cannot expand {user!r} (no such user or no home folder)") from None
    if path.is_absolute():
        return Path(os.path.normpath(path))
    try:
        return Path(os.path.abspath(path))
    except OSError as exc:
        raise ConfigError(f"{source} {str(value)!r}: relative to a current folder that is gone ({exc.strerror})") from None


def resolve_home(value: str | os.PathLike[str] | None = None, source: str = "--home") -> Path:
    """The home folder, absolute: ``value``, else ``$AGILAB_HOME``, else ``~/.agilab``.

    A home that exists but is not a folder is a :class:`ConfigError`.
    """
    if value:
        home = absolute_path(value, source)
    elif os.environ.get("AGILAB_HOME"):
        source = "AGILAB_HOME"
        home = absolute_path(os.environ["AGILAB_HOME"], source)
    else:
        source = "home"
        home = absolute_path(Path("~") / ".agilab", "home")
    if home.exists() and not home.is_dir():
        raise ConfigError(f"{source} {home}: is a file, not a folder")
    return home


def default_home() -> Path:
    """``$AGILAB_HOME`` or ``~/.agilab``, absolute (see :func:`resolve_home`)."""
    return resolve_home(None)


@attrs.frozen
class AgiEnv:
    """Resolved folders and settings of one app under one home."""

    app: str
    home: Path
    #: What ``resolve_path`` seeds into :attr:`sample_data_dir` when a path there is asked for and missing.
    sample_data: SampleData | None = attrs.field(default=None, eq=False, repr=False)

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
    def sample_data_dir(self) -> Path:
        """``<home>/data/<app>``: where the app's sample data is seeded."""
        return self.data_dir / self.app

    @property
    def wenv_dir(self) -> Path:
        """Worker venvs: ``$AGILAB_WENV`` if set (content-addressed, so homes may share it), else ``<home>/wenv``."""
        shared = os.environ.get("AGILAB_WENV")
        return absolute_path(shared, "AGILAB_WENV") if shared else self.home / "wenv"

    @property
    def capacity_path(self) -> Path:
        return self.home / CAPACITY

    def resolve_path(self, value: str | os.PathLike[str]) -> Path:
        """An absolute or ``~`` path as is; a relative one under home.

        A path inside :attr:`sample_data_dir` when that folder does not exist
        yet seeds the app's sample data there first (first use).
        """
        try:
            path = Path(value).expanduser()
        except RuntimeError:
            raise ConfigError(f"{str(value)!r}: cannot expand {str(value).partition('/')[0]!r} (no such user or no home folder)") from None
        path = path if path.is_absolute() else self.home / path
        if self.sample_data is not None and Path(os.path.normpath(path)).is_relative_to(self.sample_data_dir):
            sample_data.seed(self.app, self.sample_data, self.sample_data_dir)
        return path

    def settings(self) -> AppSettings:
        return load_settings(self.settings_path)


@hookimpl(trylast=True)
def resolve_env(app: AppSpec, overrides: dict[str, Any]) -> AgiEnv:
    """Default environment: home from ``overrides['home']``, ``$AGILAB_HOME`` or ``~/.agilab``, made absolute."""
    env = AgiEnv(app=app.name, home=resolve_home(overrides.get("home")), sample_data=app.sample_data)
    seeded_settings.seed(env.settings_path, app)
    return env
