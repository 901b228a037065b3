"""An app's sample data, seeded into ``<home>/data/<app>`` the first time the app reads from there.

An app declares it with ``AppSpec(sample_data=...)``: a ``"module:function"``
(or a callable) that writes the sample into the empty folder it is given, or
a packaged archive ``"package:resource"`` (``.zip``, ``.tar``, ``.tar.gz``,
``.tgz``). The environment seeds it when the app resolves a path inside
``<home>/data/<app>`` (its default ``data_in``, say) and that folder does not
exist: the sample is made in a hidden temporary folder beside it and renamed
into place, so the folder appears complete or not at all, and existing data
is never touched. A generator that fails leaves nothing behind and is
reported in one line naming the app.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from agilab_core.errors import ConfigError, PluginError, one_line
from agilab_core.task import import_object

ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")

SampleData = str | Callable[[Path], Any]


def is_archive(source: str) -> bool:
    return source.partition(":")[2].lower().endswith(ARCHIVES)


def seed(app: str, source: SampleData, target: Path) -> bool:
    """Make ``source`` into ``target`` if it does not exist yet; True when it was seeded (reported in one warning line)."""
    if target.exists():
        return False
    scratch = target.with_name(f".{target.name}.seeding-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        scratch.mkdir(parents=True)
    except OSError as exc:
        raise ConfigError(f"{target.parent}: cannot make the sample data folder of app {app}: {exc.strerror}") from None
    try:
        _make(source, scratch)
        try:
            os.rename(scratch, target)  # atomic; refused if another process seeded it meanwhile
        except OSError:
            if not target.exists():
                raise
            return False
    except Exception as exc:
        raise PluginError(f"app {app}: sample data {_name(source)} failed: {one_line(exc)}; nothing was seeded into {target}") from exc
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(scratch)
    files = [p for p in target.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    warnings.warn(f"agilab: seeded the sample data of app {app} into {target} ({len(files)} files, {size / 1e6:.1f} MB)", stacklevel=3)
    return True


def _name(source: SampleData) -> str:
    return source if isinstance(source, str) else getattr(source, "__qualname__", repr(source))


def _make(source: SampleData, folder: Path) -> None:
    if callable(source):
        source(folder)
    elif is_archive(source):
        _extract(source, folder)
    else:
        import_object(source)(folder)


def _extract(source: str, folder: Path) -> None:
    package, _, resource = source.partition(":")
    with resources.as_file(resources.files(package).joinpath(resource)) as archive:
        if resource.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(folder)  # names are made relative and '..'-free by zipfile
        else:
            with tarfile.open(archive) as tf:
                _extract_tar(tf, folder)


def _extract_tar(tf: tarfile.TarFile, folder: Path) -> None:
    """Regular files and folders only, every one inside ``folder``: no links, devices or absolute paths.

    Python 3.11.4 and later do this with ``filter="data"``; 3.11.0 to 3.11.3
    (Debian 12's 3.11.2) have no filter, so the members are checked here.
    """
    if hasattr(tarfile, "data_filter"):
        tf.extractall(folder, filter="data")
        return
    members = tf.getmembers()
    for member in members:
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
            raise ValueError(f"{member.name!r} is not a plain file or folder inside the archive")
    tf.extractall(folder, members=members)
