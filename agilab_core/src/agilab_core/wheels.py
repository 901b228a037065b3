"""Wheels for worker venvs, built with the standard front-end (``python -m build``, setuptools).

Two kinds: the app's *worker wheel*, generated from the modules the app
declares (its Cython modules compiled when asked, so the wheel becomes a
platform wheel), and wheels of the distributions the manager installed from a
project folder (the kernel, an executor), built from a clean copy of that
folder so the user's tree is never written to. A failed build is reported as
the build's own words: Cython's ``file:line:col``, the C compiler's first
error, or the last error line — never a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from agilab_core.errors import ConfigError, PluginError
from agilab_core.recipe import SKIPPED_DIRS, LocalDistribution, WorkerRecipe

_CYTHON_ERROR = re.compile(r"^(?P<file>[^\s:]+\.(?:py|pyx|pxd)):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$", re.M)
_C_ERROR = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?:(?P<col>\d+):)? (?:fatal )?error: (?P<msg>.+)$", re.M)


def build_worker_wheel(recipe: WorkerRecipe, digest: str, workdir: Path, outdir: Path) -> Path:
    """Build the app's worker wheel (version ``0+<digest>``) into ``outdir``."""
    src = workdir / "src"
    for source in recipe.sources:
        target = src / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.path, target)
    packages = sorted({s.name.rpartition("/")[0].replace("/", ".") for s in recipe.sources if "/" in s.name})
    modules = sorted(s.name[:-3] for s in recipe.sources if "/" not in s.name and s.name.endswith(".py"))
    (src / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["setuptools>=70"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        f'name = "agilab-worker-{recipe.app}"\n'
        f'version = "0+{digest}"\n'
        f'description = "Worker side of the AGILab app {recipe.app}"\n'
        'requires-python = ">=3.11"\n\n'
        "[tool.setuptools]\n"
        f"packages = {_toml_list(packages)}\n"
        f"py-modules = {_toml_list(modules)}\n"
        "include-package-data = false\n\n"
        "[tool.setuptools.package-data]\n"
        '"*" = ["*.pxd"]\n',
        encoding="utf-8",
    )
    if recipe.cython_modules:
        check_cython_toolchain()
        paths = [m.replace(".", "/") + ".py" for m in recipe.cython_modules]
        (src / "setup.py").write_text(
            "from Cython.Build import cythonize\n"
            "from setuptools import setup\n\n"
            f"setup(ext_modules=cythonize({paths!r}, language_level=3, quiet=True))\n",
            encoding="utf-8",
        )
    originals = {s.name: s.path for s in recipe.sources}
    return _build(src, outdir, f"app {recipe.app}: the worker wheel does not build", originals)


def build_project_wheel(dist: LocalDistribution, workdir: Path, outdir: Path) -> Path:
    """Build ``dist`` from a copy of its project folder into ``outdir``."""
    assert dist.folder is not None
    copy = workdir / dist.name
    shutil.copytree(
        dist.folder,
        copy,
        ignore=lambda _d, names: [n for n in names if n in SKIPPED_DIRS or n.endswith(".egg-info") or n.startswith(".")],
    )
    return _build(copy, outdir, f"distribution {dist.name} ({dist.folder}) does not build", {})


def check_cython_toolchain() -> None:
    """Fail with what to install when Cython, a C compiler or the Python headers are missing."""
    if importlib.util.find_spec("Cython") is None:
        raise ConfigError("--cython needs Cython in this environment: pip install 'agilab-core[cython]'")
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    compiler = shlex.split(cc)[0] if cc.strip() else "cc"
    if shutil.which(compiler) is None:
        raise ConfigError(
            f"--cython needs a C compiler, and {compiler!r} is not on PATH: install one "
            "(Debian/Ubuntu: apt-get install gcc python3-dev; Fedora: dnf install gcc python3-devel; "
            "macOS: xcode-select --install) or set CC"
        )
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.exists():
        raise ConfigError(f"--cython needs the Python headers, and {headers} is missing: install python3-dev (or python3-devel)")


def _build(src: Path, outdir: Path, what: str, originals: dict[str, Path]) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    before = set(outdir.glob("*.whl"))
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(outdir), str(src)],
        capture_output=True,
        text=True,
        cwd=src,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if proc.returncode != 0:
        raise PluginError(f"{what}: {build_failure(proc.stdout + proc.stderr, originals)}")
    built = sorted(set(outdir.glob("*.whl")) - before)
    if not built:
        raise PluginError(f"{what}: the build reported success but produced no wheel")
    return built[-1]


def build_failure(output: str, originals: dict[str, Path]) -> str:
    """The one line of a failed build's output that says what is wrong, and where."""
    for errno_text in ("No space left on device", "Read-only file system"):
        if errno_text in output:
            return errno_text.lower()
    found = _CYTHON_ERROR.search(output)
    if found:
        where = originals.get(found["file"], Path(found["file"]))
        return f"Cython: {where}:{found['line']}:{found['col']}: {found['msg'].strip()}"
    found = _C_ERROR.search(output)
    if found:
        col = f":{found['col']}" if found["col"] else ""
        return f"C compiler: {found['file']}:{found['line']}{col}: {found['msg'].strip()}"
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if any("No module named build" in line for line in lines):
        return "the 'build' package is missing: pip install build"
    for line in reversed(lines):
        if re.search(r"\berror\b", line, re.I) and not line.startswith("ERROR Backend subprocess exited"):
            return line
    return lines[-1] if lines else "the build failed without a message"


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"
