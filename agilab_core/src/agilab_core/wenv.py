"""Worker venvs: ``<wenv>/<app>-<hash>/``, built once per recipe, never used half-built or changed.

A venv is built in a temporary sibling folder and renamed into place only when
complete, under a lock per recipe: a second install of the same recipe waits
for the first and reuses its venv, and an interrupted install leaves only a
temporary folder that the next one removes. ``uv`` creates and fills the venv
when it is installed (fast, with a shared cache); ``venv`` + ``pip`` otherwise
(``AGILAB_INSTALLER=pip`` forces it).

Its identity hash says what it was built from, not what it holds now, so a
venv also records its files as built (:data:`FILES_RECORD`) and is checked on
every reuse: a file deleted, added or edited since makes it rebuilt.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from agilab_core.atomic import sha256_file, write_json
from agilab_core.errors import ConfigError
from agilab_core.identity import ENV_RECORD, venv_record
from agilab_core.recipe import WorkerRecipe
from agilab_core.wheels import build_failure, build_project_wheel, build_worker_wheel

Report = Callable[[str], None]

#: File at the root of a worker venv listing its files as built: size and
#: mtime of each (symlinks: their target), and the sha256 of the few that are
#: the worker's own code (see :func:`hashed_subset`).
FILES_RECORD = "agilab-files.json"
#: Bytecode caches come and go with the interpreter's use; the sources they cache are recorded.
_UNRECORDED_DIRS = {"__pycache__"}


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@attrs.frozen
class WorkerVenv:
    """A complete worker venv: where it is, what its :data:`~agilab_core.identity.ENV_RECORD` says,
    whether it already existed, and why it was rebuilt when it had changed."""

    path: Path
    record: dict[str, Any]
    cached: bool
    rebuilt: str | None = None

    @property
    def python(self) -> Path:
        return venv_python(self.path)

    @property
    def wheels(self) -> tuple[Path, ...]:
        """The wheel files it was filled from: the worker wheel first, then the distributions built from project folders."""
        return tuple(self.path / "wheels" / name for name in self.record["wheels"])


def install_venv(recipe: WorkerRecipe, wenv_dir: Path, report: Report | None = None, fix: str | None = None) -> WorkerVenv:
    """The worker venv of ``recipe`` under ``wenv_dir``, built unless it already exists unchanged.

    ``fix`` is the command that rebuilds it (shown when a changed venv cannot be rebuilt here).
    """
    digest = recipe.digest()
    venv = wenv_dir / f"{recipe.app}-{digest}"
    fix = fix or f"agilab install {recipe.app}"
    record, changed = _current(venv)
    if record is not None:
        return WorkerVenv(venv, record, cached=True)
    if changed is None:
        require_writable(wenv_dir)
    stem = f".{recipe.app}-{digest}"
    try:
        with _lock(wenv_dir / f"{stem}.lock", report):
            record, changed = _current(venv)
            if record is not None:
                return WorkerVenv(venv, record, cached=True)  # built by the install we waited for
            if changed is not None:
                if report:
                    report(f"worker venv {venv.name} changed since it was built ({changed}): rebuilding it")
                shutil.rmtree(venv)
            for stale in [venv, *wenv_dir.glob(f"{stem}.tmp-*")]:
                shutil.rmtree(stale, ignore_errors=True)  # leftovers of interrupted installs
            tmp = wenv_dir / f"{stem}.tmp-{os.getpid()}"
            if report:
                report(f"building worker venv {venv.name}")
            try:
                _build(recipe, digest, tmp, venv)
                os.rename(tmp, venv)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if changed is not None:
            raise ConfigError(f"{venv}: worker venv changed since it was built ({changed}) and cannot be rebuilt: {reason}; rebuild it: rm -rf {venv} && {fix}") from None
        raise ConfigError(f"{wenv_dir}: cannot build the worker venv of {recipe.app}: {reason}") from None
    record = venv_record(venv)
    assert record is not None, venv  # _build wrote it
    return WorkerVenv(venv, record, cached=False, rebuilt=changed)


def _current(venv: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)`` for a complete, unchanged venv; ``(None, why)`` for a changed one; ``(None, None)`` for none."""
    record = venv_record(venv)
    if record is None:
        return None, None
    changed = venv_changes(venv)
    return (record, None) if changed is None else (None, changed)


def require_writable(folder: Path) -> None:
    """Create ``folder`` or say, in one line, why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot create the worker venv folder: {exc.strerror or exc}") from None


# -- what a venv holds, as built and now ---------------------------------------------


def venv_files(venv: Path) -> dict[str, list[Any]]:
    """Every file of ``venv`` but bytecode caches and its records: ``[size, mtime_ns]``, or ``["->", target]`` for a symlink."""
    found: dict[str, list[Any]] = {}

    def scan(folder: str, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = prefix + entry.name
                if entry.is_symlink():
                    found[rel] = ["->", os.readlink(entry.path)]
                elif entry.is_dir():
                    if entry.name not in _UNRECORDED_DIRS:
                        scan(entry.path, rel + "/")
                elif rel not in (ENV_RECORD, FILES_RECORD):
                    st = entry.stat()
                    found[rel] = [st.st_size, st.st_mtime_ns]

    scan(str(venv), "")
    return found


def hashed_subset(files: dict[str, list[Any]], recipe: WorkerRecipe) -> list[str]:
    """The files whose content is hashed, not just stat'ed: small, and the worker's own code.

    The wheels it was filled from, ``pyvenv.cfg``, ``.pth`` files (they run at
    start-up) and the installed files of the app's worker modules and of the
    distributions built from project folders (the kernel, the executor).
    """
    tops = {s.name.split("/")[0].removesuffix(".py") for s in recipe.sources}
    tops |= {d.name.replace("-", "_") for d in recipe.distributions if d.folder}
    subset = []
    for rel, facts in files.items():
        if facts[0] == "->":
            continue
        parts = rel.split("/")
        in_site = parts.index("site-packages") + 1 if "site-packages" in parts[:-1] else None
        top = parts[in_site].removesuffix(".py") if in_site is not None else None
        if parts[0] == "wheels" or rel == "pyvenv.cfg" or rel.endswith(".pth") or top in tops:
            subset.append(rel)
    return sorted(subset)


def venv_changes(venv: Path) -> str | None:
    """What changed in ``venv`` since it was built (the first difference found), or None."""
    try:
        built = json.loads((venv / FILES_RECORD).read_text(encoding="utf-8"))
        files, hashed = dict(built["files"]), dict(built["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"{FILES_RECORD} is missing or unreadable"
    python = venv_python(venv)
    if not python.exists():
        return f"its interpreter {os.path.realpath(python)} is gone"
    now = venv_files(venv)
    for rel, facts in files.items():
        current = now.pop(rel, None)
        if current is None:
            return f"{rel} was deleted"
        if current != facts:
            return f"{rel} was modified"
    if now:
        return f"{min(now)} was added"
    for rel, sha in hashed.items():
        if sha256_file(venv / rel) != sha:
            return f"{rel} was modified"
    return None


# -- building -------------------------------------------------------------------------


def _build(recipe: WorkerRecipe, digest: str, tmp: Path, final: Path) -> None:
    installer = Installer.find()
    with tempfile.TemporaryDirectory(dir=tmp.parent, prefix=f".{recipe.app}-build-") as work_text:
        work = Path(work_text)
        wheels = work / "wheels"
        app_wheel = build_worker_wheel(recipe, digest, work / "app", wheels)
        local = [build_project_wheel(d, work / "projects", wheels) for d in recipe.distributions if d.folder]
        installer.create(tmp)
        shutil.move(str(wheels), str(tmp / "wheels"))
    app_wheel = tmp / "wheels" / app_wheel.name
    local = [tmp / "wheels" / w.name for w in local]
    installer.install(tmp, recipe.requirements, deps=True, what=f"app {recipe.app}: cannot install the worker requirements")
    installer.install(
        tmp, [str(app_wheel), *map(str, local), *recipe.index_distributions], deps=False, what=f"app {recipe.app}: cannot install the worker packages"
    )
    _relocate_scripts(tmp, final)
    files = venv_files(tmp)
    subset = hashed_subset(files, recipe)
    write_json(tmp / FILES_RECORD, {"files": files, "sha256": {rel: sha256_file(tmp / rel) for rel in subset}})
    write_json(
        tmp / ENV_RECORD,
        {
            "hash": digest,
            "app": recipe.app,
            "runtime": recipe.runtime,
            "created": time.time(),
            "installer": installer.name,
            "wheel": {"name": app_wheel.name, "sha256": sha256_file(app_wheel)},
            "wheels": [w.name for w in (app_wheel, *local)],
            "requirements": list(recipe.requirements),
            "distributions": list(recipe.index_distributions),
            "identity": recipe.identity(),
        },
        indent=2,
    )


def _relocate_scripts(tmp: Path, final: Path) -> None:
    """Point console scripts and activate files at the venv's final path."""
    scripts = venv_python(tmp).parent
    old, new = str(tmp).encode(), str(final).encode()
    for path in [*scripts.iterdir(), tmp / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data and b"\0" not in data:
            path.write_bytes(data.replace(old, new))


@contextlib.contextmanager
def _lock(path: Path, report: Report | None) -> Iterator[None]:
    import fcntl  # POSIX; worker venvs are built on the manager's machine

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if report:
                report(f"waiting for another install of the same worker venv ({path.name})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@attrs.frozen
class Installer:
    """How venvs are created and filled: ``uv`` when available, ``venv`` + ``pip`` otherwise."""

    name: str
    executable: str

    @classmethod
    def find(cls) -> Installer:
        choice = os.environ.get("AGILAB_INSTALLER", "").strip().lower()
        if choice not in ("", "uv", "pip"):
            raise ConfigError(f"AGILAB_INSTALLER={choice!r}: expected uv or pip")
        if choice != "pip":
            uv = _uv_binary()
            if uv:
                return cls("uv", uv)
            if choice == "uv":
                raise ConfigError("AGILAB_INSTALLER=uv, but uv is not installed: pip install uv")
        return cls("pip", sys.executable)

    def create(self, folder: Path) -> None:
        if self.name == "uv":
            cmd = [self.executable, "venv", "--quiet", "--python", sys.executable, str(folder)]
        else:
            cmd = [sys.executable, "-m", "venv", "--without-pip", str(folder)]
        _run(cmd, f"{folder}: cannot create a venv")

    def install(self, folder: Path, specs: Sequence[str], deps: bool, what: str) -> None:
        """Install ``specs``, compiled to bytecode (as pip does by default): a worker venv is built once and
        started often, and its workers may be unable to write a bytecode cache (a shared, read-only venv)."""
        if not specs:
            return
        python = str(venv_python(folder))
        no_deps = [] if deps else ["--no-deps"]
        if self.name == "uv":
            # copies, not uv's default hard links into its cache: an edit in one venv would change the cache
            # and every venv sharing the file, and a rebuild would bring the edit back
            cmd = [self.executable, "pip", "install", "--quiet", "--compile-bytecode", "--link-mode", "copy", "--python", python, *no_deps, *specs]
            _run(cmd, what, certificate_retry=SYSTEM_CERTS)
        else:
            cmd = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-input", "--disable-pip-version-check", *no_deps, *specs]
            _run(cmd, what)


def _uv_binary() -> str | None:
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return shutil.which("uv")


#: uv trusts its own bundled certificates unless told otherwise; pip trusts what pip.conf says.
SYSTEM_CERTS = {"UV_SYSTEM_CERTS": "1", "UV_NATIVE_TLS": "1"}  # the variable's name since uv 0.9, and before


def _run(cmd: list[str], what: str, certificate_retry: dict[str, str] | None = None) -> None:
    """Run an installer; ``certificate_retry`` is the environment to try once more with when it refuses the network's certificate."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 and certificate_retry and _refused_certificate(proc.stdout + proc.stderr):
        # behind a proxy whose certificate only the system store has (pip works there, uv does not)
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **certificate_retry})
    if proc.returncode != 0:
        raise ConfigError(f"{what}: {install_failure(proc.stdout + proc.stderr)}")


def _refused_certificate(output: str) -> bool:
    return any(hint in output for hint in ("--system-certs", "--native-tls", "invalid peer certificate", "UnknownIssuer"))


def install_failure(output: str) -> str:
    """The line of an installer's output that explains the failure."""
    lines = [line.strip(" ×╰─▶│┃").strip().removeprefix("cause:").strip() for line in output.splitlines()]
    lines = [line for line in lines if line]
    for at, line in enumerate(lines):
        if "No solution found" in line and at + 1 < len(lines):
            continue  # uv's headline; the next line says why
        if line.startswith(("Because", "ERROR:", "error:")) or "No matching distribution" in line:
            return line
    return build_failure(output, {})
