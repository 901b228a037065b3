"""On the manager: every wheel a host's worker venv is built from, for that host's Python and platform.

The app's worker wheel and the wheels built from project folders (the
kernel, the executors) come with the :class:`~agilab_core.WorkerPackage`.
The pinned requirements (with their dependencies), the distributions named
``name==version`` and ``pip`` itself (to install them on the host, which
may have no pip) are downloaded by ``pip download`` as binary wheels for the
host's tags, which may differ from the manager's. A downloaded set is kept
under ``<wenv>/ssh-wheels/<digest>/`` with a record of its files and their
sha256, so a second install asks no index and hashes nothing again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import attrs

from agilab_core import ConfigError, WorkerPackage, sha256_file, write_json
from agilab_executor_ssh.probe import HostFacts

RECORD = "wheels.json"
_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


@attrs.frozen
class Wheel:
    """A wheel file on the manager and its content hash (its name in a host's cache)."""

    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def pip_requirement() -> str:
    """The pip that installs on hosts: the manager's own version."""
    try:
        return f"pip=={metadata.version('pip')}"
    except metadata.PackageNotFoundError:
        return "pip"


def host_wheels(package: WorkerPackage, facts: HostFacts, cache: Path) -> list[Wheel]:
    """The wheels of ``package`` for a host with ``facts``: downloaded ones from ``cache`` when there."""
    from agilab_core.identity import digest

    downloads = [*package.requirements, pip_requirement()]
    key = digest({"requirements": downloads, "distributions": list(package.distributions), "python": facts.python_version,
                  "abi": facts.abi, "platforms": facts.platforms()})
    built = [Wheel(Path(w), sha256_file(w)) for w in package.wheels]
    return built + _downloaded(cache / key, downloads, package.distributions, facts)


def _downloaded(folder: Path, requirements: Sequence[str], distributions: Sequence[str], facts: HostFacts) -> list[Wheel]:
    with _lock(str(folder)):
        wheels = _recorded(folder)
        if wheels is not None:
            return wheels
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
        try:
            _pip_download(tmp, requirements, facts, deps=True)
            if distributions:
                _pip_download(tmp, distributions, facts, deps=False)
            files = sorted(tmp.glob("*.whl"))
            write_json(tmp / RECORD, {p.name: sha256_file(p) for p in files})
            shutil.rmtree(folder, ignore_errors=True)
            os.rename(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        wheels = _recorded(folder)
        assert wheels is not None
        return wheels


def _recorded(folder: Path) -> list[Wheel] | None:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    wheels = [Wheel(folder / name, sha) for name, sha in sorted(record.items())]
    return wheels if all(w.path.is_file() for w in wheels) else None


def _pip_download(dest: Path, specs: Sequence[str], facts: HostFacts, deps: bool) -> None:
    platforms = [arg for tag in facts.platforms() for arg in ("--platform", tag)]
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-input",
        "--only-binary=:all:", "--dest", str(dest), "--python-version", facts.python_version,
        "--implementation", "cp", "--abi", facts.abi, "--abi", "abi3", "--abi", "none", *platforms,
        *([] if deps else ["--no-deps"]), *specs,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        said = next((line for line in lines if line.startswith("ERROR:")), lines[-1] if lines else f"exit status {proc.returncode}")
        raise ConfigError(f"cannot fetch wheels for Python {facts.python} on {facts.platforms()[0]}: {said}")


def _lock(key: str) -> threading.Lock:
    with _locks_lock:
        return _locks.setdefault(key, threading.Lock())
