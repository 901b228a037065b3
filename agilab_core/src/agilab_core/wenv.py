"""Worker venvs: ``<wenv>/<app>-<hash>/``, built once per recipe, never used half-built.

A venv is built in a temporary sibling folder and renamed into place only when
complete, under a lock per recipe: a second install of the same recipe waits
for the first and reuses its venv, and an interrupted install leaves only a
temporary folder that the next one removes. ``uv`` creates and fills the venv
when it is installed (fast, with a shared cache); ``venv`` + ``pip`` otherwise
(``AGILAB_INSTALLER=pip`` forces it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

from agilab_core.errors import ConfigError
from agilab_core.atomic import sha256_file, write_json
from agilab_core.packaging import ENV_RECORD, Report, WorkerPackage, WorkerRecipe, require_writable
from agilab_core.wheels import build_failure, build_project_wheel, build_worker_wheel


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def install_venv(recipe: WorkerRecipe, wenv_dir: Path, report: Report | None = None, started: float | None = None) -> WorkerPackage:
    """The worker venv of ``recipe`` under ``wenv_dir``, built unless it already exists.

    ``started`` (a ``time.perf_counter()`` value) is when packaging began, so
    the package's ``seconds`` include computing the recipe.
    """
    started = time.perf_counter() if started is None else started
    digest = recipe.digest()
    venv = wenv_dir / f"{recipe.app}-{digest}"

    def package(cached: bool) -> WorkerPackage:
        return WorkerPackage(
            app=recipe.app,
            python=str(venv_python(venv)),
            env_hash=digest,
            kind="venv",
            runtime=recipe.runtime,
            venv=str(venv),
            cached=cached,
            seconds=time.perf_counter() - started,
        )

    if (venv / ENV_RECORD).is_file():
        return package(cached=True)
    require_writable(wenv_dir)
    stem = f".{recipe.app}-{digest}"
    try:
        with _lock(wenv_dir / f"{stem}.lock", report):
            if (venv / ENV_RECORD).is_file():
                return package(cached=True)  # built by the install we waited for
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
        raise ConfigError(f"{wenv_dir}: cannot build the worker venv of {recipe.app}: {exc.strerror or exc}") from None
    return package(cached=False)


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
    from_index = [f"{d.name}=={d.version}" for d in recipe.distributions if not d.folder]
    installer.install(tmp, recipe.requirements, deps=True, what=f"app {recipe.app}: cannot install the worker requirements")
    installer.install(tmp, [str(app_wheel), *map(str, local), *from_index], deps=False, what=f"app {recipe.app}: cannot install the worker packages")
    _relocate_scripts(tmp, final)
    write_json(
        tmp / ENV_RECORD,
        {
            "hash": digest,
            "app": recipe.app,
            "runtime": recipe.runtime,
            "created": time.time(),
            "installer": installer.name,
            "wheel": {"name": app_wheel.name, "sha256": sha256_file(app_wheel)},
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
            cmd = [self.executable, "pip", "install", "--quiet", "--compile-bytecode", "--python", python, *no_deps, *specs]
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
