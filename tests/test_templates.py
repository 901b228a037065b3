"""Each template as an outside author meets it, on real installs.

One fresh venv per module gets the kernel, ``local``/``pool`` and the
templates installed from this repository as wheels (not editable: package
data must really be shipped), with ``uv``, the kernel's own installer. Then,
for each kind: ``agilab new`` from that venv, ``pip install`` of the rendered
project, its own test suite run by pytest in it (it passes as rendered), the
plugin ``loaded`` in ``agilab plugins --json``, and the plugin used through
the command line: an app run on ``local`` and ``pool`` in a fresh home (its
sample data seeded on first use), a run on the rendered executor, a page
written by ``agilab view``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from agilab_core.wenv import SYSTEM_CERTS

REPO = Path(__file__).resolve().parents[1]
#: What the venv gets from this repository, and the test tools the rendered projects' suites need.
FROM_REPO = ("agilab_core", "plugins/executor-local", "plugins/templates")
TEST_TOOLS = ("pytest>=8", "hypothesis>=6.100", "psutil>=5.9")


def _uv() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


@attrs.frozen
class Venv:
    """A venv of its own and the folders its commands work in."""

    path: Path
    work: Path
    wenv: Path

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def env(self, home: Path | None = None) -> dict[str, str]:
        """This process's environment without anything that points at the repository's venv or home."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGILAB_", "PYTHON")) and k not in ("VIRTUAL_ENV",)}
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["AGILAB_WENV"] = str(self.wenv)  # worker venvs are content-addressed: shared by every run here
        env["AGILAB_HOME"] = str(home or self.work / "home")
        env.update(SYSTEM_CERTS)  # uv trusts the system's certificates, as the kernel's installs do behind a proxy
        return env

    def run(self, *cmd: str | Path, home: Path | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=self.env(home), cwd=cwd or self.work, timeout=600)

    def agilab(self, *args: str | Path, home: Path | None = None) -> Any:
        """``agilab ARGS --json`` in this venv; its JSON output (the command must succeed)."""
        done = self.run(self.path / "bin" / "agilab", *args, "--json", home=home)
        assert done.returncode == 0, f"agilab {' '.join(map(str, args))}: {done.stderr.strip()}"
        return json.loads(done.stdout)

    def install(self, *specs: str | Path) -> None:
        done = self.run(_uv(), "pip", "install", "--quiet", "--python", self.python, *specs)
        assert done.returncode == 0, done.stderr

    def new(self, kind: str, name: str, *options: str) -> Path:
        """``agilab new``, then ``pip install`` of the project with its test extra; its folder."""
        created = self.agilab("new", kind, name, "--output-dir", self.work / "projects", *options)
        folder = Path(created["path"])
        self.install(f"{folder}[test]")
        return folder

    def project_tests(self, folder: Path) -> dict[str, str]:
        """Run a project's own tests as its author would (in its folder); each test's outcome by name."""
        report = folder / "report.xml"
        done = self.run(self.python, "-m", "pytest", "-q", f"--junitxml={report}", cwd=folder)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        outcomes = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            failed = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
            outcomes[f"{case.get('classname')}.{case.get('name')}"] = failed[0] if failed else "passed"
        return outcomes

    def plugin(self, kind: str, name: str) -> dict[str, Any]:
        rows = [p for p in self.agilab("plugins") if (p["kind"], p["name"]) == (kind, name)]
        assert len(rows) == 1, rows
        return rows[0]


def clean_copy(folder: Path, into: Path) -> Path:
    """A copy of a package folder without build leftovers: building in the tree would write into it
    and put files removed since the last build (still in its ``build/``) into the wheel."""
    leftovers = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis")
    return Path(shutil.copytree(folder, into / folder.name, ignore=leftovers))


def conformance_tests(in_process: bool) -> set[str]:
    """The kernel's conformance tests an executor runs (those killing a worker are deselected in process)."""
    from agilab_core.testing import ExecutorConformance

    tests = {n for n in dir(ExecutorConformance) if n.startswith("test_")}
    return {n for n in tests if not (in_process and getattr(getattr(ExecutorConformance, n), "kills_worker", False))}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    work = tmp_path_factory.mktemp("authoring")
    made = Venv(work / "venv", work, work / "wenv")
    done = made.run(_uv(), "venv", "--quiet", "--python", sys.executable, made.path)
    assert done.returncode == 0, done.stderr
    made.install(*(clean_copy(REPO / p, work / "sources") for p in FROM_REPO), *TEST_TOOLS)
    yield made


@pytest.fixture(scope="module")
def polars_app(venv: Venv) -> Path:
    return venv.new("app", "Rows Polars", "--dataframe", "polars")


def test_an_executor_goes_from_agilab_new_to_a_passing_conformance_suite(venv: Venv) -> None:
    folder = venv.new("executor", "Thread Pool")
    outcomes = venv.project_tests(folder)
    assert set(outcomes.values()) == {"passed"}, outcomes
    ran = {k.rpartition(".")[2] for k in outcomes if ".TestThreadPoolConformance." in k}
    assert ran == conformance_tests(in_process=True)
    assert venv.plugin("executor", "thread-pool")["status"] == "loaded"
    assert venv.plugin("executor", "thread-pool")["distribution"] == "agilab-executor-thread-pool"


def test_an_app_goes_from_agilab_new_to_runs_on_local_and_pool(venv: Venv, polars_app: Path) -> None:
    outcomes = venv.project_tests(polars_app)
    assert set(outcomes.values()) == {"passed"} and any("[pool]" in k for k in outcomes), outcomes
    row = venv.plugin("app", "rows-polars")
    assert (row["status"], row["distribution"], row["error"]) == ("loaded", "agilab-app-rows-polars", None), row
    home = venv.work / "home-app"  # fresh: settings and sample data are seeded by the first run
    local = venv.agilab("run", "rows-polars", home=home)
    pool = venv.agilab("run", "rows-polars", "--executor", "pool", "--workers", "2", home=home)
    for run in (local, pool):
        assert run["status"] == "ok" and run["items"] == {"total": 4, "ok": 4, "failed": 0}, run
    assert (local["executor"], pool["executor"]) == ("local", "pool")
    assert local["summary"] == pool["summary"] and local["summary"]["rows_in"] == 200
    assert (home / "apps" / "rows-polars" / "app_settings.toml").is_file()


def test_a_pandas_app_passes_its_own_tests(venv: Venv) -> None:
    """The same app on pandas: its suite runs it on local and pool (the command line is the polars app's test)."""
    folder = venv.new("app", "rows-pandas", "--dataframe", "pandas")
    outcomes = venv.project_tests(folder)
    assert set(outcomes.values()) == {"passed"} and any("[pool]" in k for k in outcomes), outcomes
    assert venv.plugin("app", "rows-pandas")["status"] == "loaded"


def test_a_rendered_app_runs_on_a_rendered_executor(venv: Venv, polars_app: Path) -> None:
    venv.new("executor", "two-threads")
    run = venv.agilab("run", "rows-polars", "--executor", "two-threads", "--workers", "2", "-o", "batch_size=2", home=venv.work / "home-two")
    assert run["status"] == "ok" and run["items"]["ok"] == 4


def test_a_page_goes_from_agilab_new_to_a_view_of_a_run(venv: Venv, polars_app: Path) -> None:
    folder = venv.new("page", "Glance")
    outcomes = venv.project_tests(folder)
    assert set(outcomes.values()) == {"passed"} and len(outcomes) >= 4, outcomes
    assert venv.plugin("page", "glance")["status"] == "loaded"
    home = venv.work / "home-page"
    run = venv.agilab("run", "rows-polars", home=home)
    written = venv.agilab("view", "glance", run["run_id"], home=home)
    page = Path(written["path"]).read_text(encoding="utf-8")
    assert run["run_id"] in page and "4 of 4 items ok" in page
    assert page.count("<tr>") == 1 + 4 and "http" not in page
