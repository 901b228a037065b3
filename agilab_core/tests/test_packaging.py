"""Worker packaging: real wheels, real venvs (uv, or venv + pip), real Cython builds.

Each test builds a tiny app of its own in ``tmp_path`` (a worker module and a
pure-Python-mode kernel) so that editing its sources is part of the test; worker
venvs go to a per-test folder unless the test is about sharing them.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from agilab_core.errors import ConfigError, PluginError, UsageError
from agilab_core.identity import ENV_RECORD, digest
from agilab_core.recipe import WorkerRecipe, pinned
from agilab_core.wenv import install_failure
from agilab_core.wheels import build_failure
from hypothesis import given
from hypothesis import strategies as st

from agilab_core import AppSpec, WorkerPackage, environment_hash, hookimpl

WORKER = '''
import json, os, sys
from agilab_core import ItemOutput, Worker
from {pkg} import kernel


class FixWorker(Worker):
    def work(self, item):
        target = self.ctx.output_dir / f"{{item.id}}.json"
        target.write_text(json.dumps({{"prefix": sys.prefix, "kernel": kernel.__file__, "value": kernel.double(item.payload)}}))
        return ItemOutput(rows=1, files=[target], metrics={{"prefix": sys.prefix, "kernel": kernel.__file__}})
'''

KERNEL = '''
def double(x):
    return 2 * x
'''

KERNEL_PXD = '''
cpdef long double(long x)
'''

APP = '''
import attrs
from agilab_core import AppSpec, Manager, WorkItem


@attrs.frozen
class FixArgs:
    count: int = 3


class FixManager(Manager):
    args_type = FixArgs

    def work_items(self, args, env):
        return [WorkItem(f"item-{{i}}", i) for i in range(args.count)]


SPEC = AppSpec(
    name="{name}",
    manager=FixManager,
    worker="{pkg}.worker:FixWorker",
    worker_modules=("{pkg}.worker", "{pkg}.kernel"),
    cython_modules=("{pkg}.kernel",),
    worker_requirements={requirements!r},
)
'''


class FixtureApp:
    """A small app written to disk: edit its files, then package it again."""

    def __init__(self, root: Path, name: str, requirements: tuple[str, ...], pxd: str | None) -> None:
        self.root = root
        self.pkg = f"wfix_{uuid.uuid4().hex[:10]}"
        self.dir = root / self.pkg
        self.dir.mkdir()
        (self.dir / "__init__.py").write_text("")
        (self.dir / "worker.py").write_text(WORKER.format(pkg=self.pkg))
        (self.dir / "kernel.py").write_text(KERNEL)
        if pxd is not None:
            (self.dir / "kernel.pxd").write_text(pxd)
        (self.dir / "app.py").write_text(APP.format(pkg=self.pkg, name=name, requirements=requirements))
        importlib.invalidate_caches()
        self.spec: AppSpec = importlib.import_module(f"{self.pkg}.app").SPEC

    def script(self, code: str) -> list[str]:
        """A command running ``code`` in a fresh interpreter that can import this app."""
        prelude = f"import sys; sys.path.insert(0, {str(self.root)!r})\nfrom {self.pkg}.app import SPEC\nfrom agilab_core import AGI\n"
        return [sys.executable, "-c", prelude + textwrap.dedent(code)]


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "apps"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))

    def make(name: str = "fix", requirements: tuple[str, ...] = (), pxd: str | None = KERNEL_PXD) -> FixtureApp:
        return FixtureApp(root, name, requirements, pxd)

    return make


@pytest.fixture
def wenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, agilab_home: Path) -> Path:
    folder = tmp_path / "wenv"
    monkeypatch.setenv("AGILAB_WENV", str(folder))
    return folder


def _venvs(wenv: Path) -> list[str]:
    return sorted(p.name for p in wenv.iterdir() if not p.name.startswith(".")) if wenv.exists() else []


def _leftovers(wenv: Path) -> list[str]:
    return sorted(p.name for p in wenv.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")) if wenv.exists() else []


# -- the recipe: what the hash covers ---------------------------------------------------


def test_the_hash_covers_worker_sources_and_nothing_else_of_the_app(make_app) -> None:
    app = make_app()
    first = WorkerRecipe.of(app.spec, distributions=["agilab-executor-local"])
    assert WorkerRecipe.of(app.spec, distributions=["agilab-executor-local"]).digest() == first.digest()
    (app.dir / "manager_only.py").write_text("# not a worker module\n")
    assert WorkerRecipe.of(app.spec, distributions=["agilab-executor-local"]).digest() == first.digest()
    (app.dir / "kernel.py").write_text(KERNEL + "\n# changed\n")
    assert WorkerRecipe.of(app.spec, distributions=["agilab-executor-local"]).digest() != first.digest()


def test_the_hash_covers_cython_requirements_and_executor_side(make_app) -> None:
    app = make_app()
    base = WorkerRecipe.of(app.spec).digest()
    assert WorkerRecipe.of(app.spec, cython=True).digest() != base
    assert WorkerRecipe.of(app.spec, requirements=["polars"]).digest() != base
    assert WorkerRecipe.of(app.spec, distributions=["agilab-executor-local"]).digest() != base


def test_sources_are_the_declared_modules_their_types_and_parent_packages(make_app) -> None:
    app = make_app()
    names = [s.name for s in WorkerRecipe.of(app.spec).sources]
    # app.py holds the args type, which workers unpickle
    assert names == [f"{app.pkg}/__init__.py", f"{app.pkg}/app.py", f"{app.pkg}/kernel.pxd", f"{app.pkg}/kernel.py", f"{app.pkg}/worker.py"]


def test_a_worker_module_that_does_not_exist_is_named(make_app) -> None:
    app = make_app()
    spec = AppSpec(name="fix", manager=app.spec.manager, worker=app.spec.worker, worker_modules=(f"{app.pkg}.nowhere",))
    with pytest.raises(PluginError, match=rf"app fix: worker module '{app.pkg}.nowhere'"):
        WorkerRecipe.of(spec)


def test_cython_without_cython_modules_is_a_usage_error(make_app) -> None:
    app = make_app()
    spec = AppSpec(name="fix", manager=app.spec.manager, worker=app.spec.worker, worker_modules=app.spec.worker_modules)
    with pytest.raises(UsageError, match="declares no cython_modules"):
        WorkerRecipe.of(spec, cython=True)


@given(st.lists(st.sampled_from(["attrs", "pluggy", "no-such-dist-xyz", "polars>=1", "numpy<9"]), max_size=6))
def test_pinning_is_idempotent_and_only_pins_installed_bare_names(reqs: list[str]) -> None:
    once = pinned(reqs)
    assert pinned(once) == once
    assert set(once) >= {r for r in reqs if not r.isidentifier() and "-" not in r and r not in ("attrs", "pluggy")}
    for r in once:
        if r.startswith(("attrs==", "pluggy==")):
            assert r.split("==")[1]


# -- installing: cold, warm, changed ---------------------------------------------------------


def test_cold_then_warm_install_and_a_source_change_rebuilds_only_that_app(agi, make_app, wenv) -> None:
    app, other = make_app("fix"), make_app("other")
    cold = agi.install(app.spec, executor="pool")
    assert cold.kind == "venv" and not cold.cached and cold.runtime == "python"
    assert Path(cold.venv) == wenv / f"fix-{cold.env_hash}"
    record = json.loads((Path(cold.venv) / ENV_RECORD).read_text())
    assert record["hash"] == cold.env_hash and record["wheel"]["name"].startswith("agilab_worker_fix-0+")
    other_pkg = agi.install(other.spec, executor="pool")

    warm = agi.install(app.spec, executor="pool")
    assert warm.cached and warm.env_hash == cold.env_hash
    assert (Path(cold.venv) / ENV_RECORD).stat().st_mtime_ns == (Path(warm.venv) / ENV_RECORD).stat().st_mtime_ns

    (app.dir / "kernel.py").write_text(KERNEL + "\n# one change\n")
    changed = agi.install(app.spec, executor="pool")
    assert not changed.cached and changed.env_hash != cold.env_hash
    assert agi.install(other.spec, executor="pool").cached  # the other app is untouched
    assert _venvs(wenv) == sorted([f"fix-{cold.env_hash}", f"fix-{changed.env_hash}", f"other-{other_pkg.env_hash}"])
    assert _leftovers(wenv) == []


def test_the_worker_venv_holds_the_worker_side_only(agi, make_app, wenv) -> None:
    package = agi.install(make_app().spec, executor="pool")
    probe = "import importlib.util as u, json; print(json.dumps({m: bool(u.find_spec(m)) for m in ['click', 'rich', 'agilab_core', 'agilab_executor_local', 'attrs']}))"
    found = json.loads(subprocess.run([package.python, "-c", probe], capture_output=True, text=True, check=True).stdout)
    assert found == {"click": False, "rich": False, "agilab_core": True, "agilab_executor_local": True, "attrs": True}
    identity = subprocess.run([package.python, "-c", "import agilab_core; print(agilab_core.environment_hash())"], capture_output=True, text=True, check=True)
    assert identity.stdout.strip() == package.env_hash


def test_the_worker_venv_is_compiled_to_bytecode_when_built(agi, make_app, wenv) -> None:
    # workers then import at full speed even where they cannot write a bytecode cache (a shared, read-only venv)
    app = make_app()
    package = agi.install(app.spec, executor="pool")
    probe = (
        "import importlib.util as u, json, os, sys; "
        "print(json.dumps({m: os.path.exists(u.cache_from_source(u.find_spec(m).origin)) for m in sys.argv[1:]}))"
    )
    modules = [f"{app.pkg}.worker", "agilab_core.task", "attrs"]
    found = json.loads(subprocess.run([package.python, "-B", "-c", probe, *modules], capture_output=True, text=True, check=True).stdout)
    assert found == dict.fromkeys(modules, True)


def test_pool_runs_items_with_the_worker_venv_interpreter(agi, make_app, wenv) -> None:
    app = make_app()
    result = agi.run(app.spec, executor="pool", workers=2)
    assert result.ok, result.error
    manifest = json.loads(result.manifest.read_text())
    venv = manifest["environment"]["venv"]
    assert manifest["environment"]["kind"] == "venv" and manifest["executor"]["info"]["python"].startswith(venv)
    for r in manifest["results"]:
        assert r["metrics"]["prefix"] == venv
        assert r["metrics"]["kernel"].startswith(venv)  # the venv's copy, not the source tree's
        assert r["runtime"] == "python"


def test_run_installs_when_missing_and_never_when_current(agi, make_app, wenv) -> None:
    app = make_app()
    heard: list[str] = []
    agi.run(app.spec, executor="pool", workers=1, report=heard.append)
    packaging = [m for m in heard if "worker venv" in m]  # the executor reports too
    assert len(packaging) == 1 and packaging[0].startswith("building worker venv fix-")
    agi.run(app.spec, executor="pool", workers=1, report=heard.append)
    assert [m for m in heard if "worker venv" in m] == packaging


def test_local_executor_runs_in_the_manager_environment(agi, make_app, wenv) -> None:
    package = agi.install(make_app().spec, executor="local")
    assert package.kind == "inplace" and package.python == sys.executable and package.env_hash == environment_hash()
    assert not wenv.exists()


def test_venv_and_pip_when_asked(agi, make_app, wenv, monkeypatch) -> None:
    monkeypatch.setenv("AGILAB_INSTALLER", "pip")
    package = agi.install(make_app().spec, executor="pool")
    assert json.loads((Path(package.venv) / ENV_RECORD).read_text())["installer"] == "pip"
    done = subprocess.run([package.python, "-c", "import agilab_core.task, attrs"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_an_unknown_installer_is_named(agi, make_app, wenv, monkeypatch) -> None:
    monkeypatch.setenv("AGILAB_INSTALLER", "conda")
    with pytest.raises(ConfigError, match="AGILAB_INSTALLER='conda'"):
        agi.install(make_app().spec, executor="pool")


# -- faults -------------------------------------------------------------------------------


def test_a_broken_dependency_pin_fails_with_the_installer_reason_and_leaves_nothing(agi, make_app, wenv) -> None:
    app = make_app(requirements=("agilab-no-such-package-anywhere==1.0",))
    with pytest.raises(ConfigError) as info:
        agi.install(app.spec, executor="pool")
    message = str(info.value)
    assert "app fix: cannot install the worker requirements" in message and "agilab-no-such-package-anywhere" in message
    assert "\n" not in message
    assert _venvs(wenv) == [] and _leftovers(wenv) == []


def test_a_cython_compile_error_names_the_source_file_and_line(agi, make_app, wenv) -> None:
    app = make_app(pxd="cpdef long double(long x, undeclared_type y)\n")
    with pytest.raises(PluginError) as info:
        agi.install(app.spec, executor="pool", cython=True)
    message = str(info.value)
    assert message.startswith("app fix: the worker wheel does not build: Cython: ")
    assert str(app.dir / "kernel.pxd") + ":1:" in message
    assert _venvs(wenv) == [] and _leftovers(wenv) == []


def test_a_missing_c_compiler_says_so_and_how_to_get_one(agi, make_app, wenv, monkeypatch) -> None:
    monkeypatch.setenv("CC", "/nonexistent/bin/cc")
    with pytest.raises(ConfigError, match=r"needs a C compiler, and '/nonexistent/bin/cc' is not on PATH: install one \(Debian/Ubuntu: apt-get install gcc"):
        agi.install(make_app().spec, executor="pool", cython=True)


def test_cython_with_an_in_process_executor_is_refused(agi, make_app, wenv) -> None:
    with pytest.raises(UsageError, match="executor local runs items in this process"):
        agi.install(make_app().spec, executor="local", cython=True)


def test_an_unwritable_venv_folder_is_named(agi, make_app, tmp_path, monkeypatch, agilab_home) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("AGILAB_WENV", str(blocker / "wenv"))
    with pytest.raises(ConfigError, match=rf"{blocker / 'wenv'}: cannot create the worker venv folder: Not a directory"):
        agi.install(make_app().spec, executor="pool")


def test_a_read_only_home_is_named(agi, make_app, mounted, monkeypatch, agilab_home) -> None:
    folder = mounted("ro", "ro,size=1m")
    monkeypatch.setenv("AGILAB_WENV", str(folder / "wenv"))
    with pytest.raises(ConfigError, match=rf"{folder / 'wenv'}: cannot create the worker venv folder: Read-only file system"):
        agi.install(make_app().spec, executor="pool")


def test_a_full_disk_fails_the_install_and_leaves_no_venv(agi, make_app, mounted, monkeypatch, agilab_home) -> None:
    folder = mounted("full", "size=256k")
    monkeypatch.setenv("AGILAB_WENV", str(folder))
    with pytest.raises((ConfigError, PluginError)) as info:
        agi.install(make_app().spec, executor="pool")
    assert "no space left on device" in str(info.value).lower()
    assert "\n" not in str(info.value)
    assert _venvs(folder) == [] and _leftovers(folder) == []


def test_two_installs_at_once_build_once(make_app, wenv) -> None:
    app = make_app()
    code = """
        import json
        p = AGI.install(SPEC, executor="pool", report=lambda m: print("REPORT", m, flush=True))
        print(json.dumps(p.to_dict()))
    """
    procs = [subprocess.Popen(app.script(code), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert results[0]["env_hash"] == results[1]["env_hash"]
    assert sorted(r["cached"] for r in results) == [False, True]  # one built, the other waited and reused
    assert any("waiting for another install" in out for out, _ in outs)
    assert len(_venvs(wenv)) == 1 and _leftovers(wenv) == []


def test_an_interrupted_install_is_never_used_and_is_cleaned_up(agi, make_app, wenv) -> None:
    app = make_app()
    proc = subprocess.Popen(app.script('AGI.install(SPEC, executor="pool")'), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while not any(".tmp-" in n for n in _leftovers(wenv)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any(".tmp-" in n for n in _leftovers(wenv)), "the install never started building"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert _venvs(wenv) == []  # nothing that looks complete
    package = agi.install(app.spec, executor="pool")
    assert not package.cached and _venvs(wenv) == [f"fix-{package.env_hash}"]
    assert [n for n in _leftovers(wenv) if ".tmp-" in n] == []


# -- remote executors: a package that can be rebuilt elsewhere ------------------------------


def _package(app: AppSpec, home: Path, **options: object) -> WorkerPackage:
    """The default packager's answer, as the runner asks it (``remote`` is the executor's ``remote``)."""
    from agilab_core.env import AgiEnv
    from agilab_core.packaging import package_worker

    return package_worker(app=app, env=AgiEnv(app=app.name, home=home), options={"executor": "ssh", **options})


def test_a_remote_executor_always_gets_a_venv_carrying_what_rebuilds_it(make_app, wenv, tmp_path) -> None:
    app = make_app(requirements=("attrs",))
    package = _package(app.spec, tmp_path / "home", remote=True, isolated=False, worker_distributions=("agilab-executor-local",))
    assert package.kind == "venv" and package.python != sys.executable
    names = [Path(w).name for w in package.wheels]
    assert names[0].startswith("agilab_worker_fix-0+") and {n.split("-")[0] for n in names[1:]} == {"agilab_core", "agilab_executor_local"}
    assert all(Path(w).is_file() and Path(w).parent == Path(package.venv) / "wheels" for w in package.wheels)
    assert package.requirements and all("==" in r for r in package.requirements)
    assert package.distributions == ()  # both built from their project folders here
    assert digest(package.identity) == package.env_hash
    facts = package.to_dict()
    assert {"app", "env_hash", "kind", "runtime", "python", "venv", "cached", "seconds"} <= set(facts)
    assert facts["wheels"] == list(package.wheels) and facts["identity"] == package.identity
    json.dumps(facts)  # goes into the manifest as is


def test_the_remote_package_rebuilds_a_working_worker_environment_elsewhere(make_app, wenv, tmp_path) -> None:
    from agilab_core.wenv import Installer, venv_python

    app = make_app()
    package = _package(app.spec, tmp_path / "home", remote=True, isolated=True)
    elsewhere = tmp_path / "elsewhere"
    installer = Installer.find()
    installer.create(elsewhere)
    installer.install(elsewhere, package.requirements, deps=True, what="requirements")
    installer.install(elsewhere, [*package.wheels, *package.distributions], deps=False, what="wheels")
    probe = f"import {app.pkg}.worker, {app.pkg}.kernel, agilab_core.task; print({app.pkg}.kernel.double(21))"
    done = subprocess.run([str(venv_python(elsewhere)), "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "42", done.stderr


def test_an_app_without_a_worker_side_is_refused_by_a_remote_executor(make_app, wenv, tmp_path) -> None:
    app = make_app()
    bare = AppSpec(name="fix", manager=app.spec.manager, worker=app.spec.worker)
    with pytest.raises(UsageError) as info:
        _package(bare, tmp_path / "home", remote=True, isolated=True)
    assert str(info.value) == (
        "app fix: executor ssh runs workers on other machines, which need its worker side packaged; "
        "declare worker_modules (and worker_requirements) in its AppSpec"
    )
    assert not wenv.exists()


def test_the_manager_environment_package_carries_its_identity(make_app, wenv, tmp_path) -> None:
    package = _package(make_app().spec, tmp_path / "home", isolated=False)
    assert package.kind == "inplace" and package.wheels == () and digest(package.identity) == package.env_hash == environment_hash()
    assert package.identity["prefix"] == sys.prefix


# -- a plugin can take packaging over ----------------------------------------------------------


class FakePackager:
    """Answers ``package_worker`` first, like a container or conda packager would."""

    def __init__(self, env_hash: str | None = None) -> None:
        self.env_hash = env_hash
        self.calls: list[dict[str, object]] = []

    @hookimpl
    def package_worker(self, app, env, options):
        self.calls.append(dict(options))
        return WorkerPackage(app=app.name, python=sys.executable, env_hash=self.env_hash or environment_hash(), kind="fake")


def test_a_plugin_can_take_packaging_over(agi, agilab_registry, make_app, wenv) -> None:
    fake = FakePackager()
    agilab_registry.register(fake, name="fake-packager")
    result = agi.run(make_app().spec, executor="pool", workers=2, cython=True)
    assert result.ok
    assert json.loads(result.manifest.read_text())["environment"]["kind"] == "fake"
    assert fake.calls[0]["cython"] is True and fake.calls[0]["isolated"] is True and fake.calls[0]["executor"] == "pool"
    assert not wenv.exists()  # the default packager never ran


def test_workers_refuse_an_environment_the_run_was_not_packaged_for(agi, agilab_registry, make_app, wenv) -> None:
    agilab_registry.register(FakePackager(env_hash="feedfacefeedface"), name="lying-packager")
    result = agi.run(make_app().spec, executor="pool", workers=2)
    assert result.status == "failed"
    assert "feedfacefeedface" in result.error and environment_hash() in result.error


# -- one-line reasons from tools' output -------------------------------------------------------


def test_reasons_are_one_line_from_the_tools_output() -> None:
    uv = "  × No solution found when resolving dependencies:\n  ╰─▶ Because there is no version of foo==9 and you require foo==9, we can conclude that your requirements are unsatisfiable.\n"
    assert install_failure(uv).startswith("Because there is no version of foo==9")
    uv_newer = "error: No solution found when resolving dependencies\n  cause: Because foo was not found in the package registry, we can conclude that your requirements are unsatisfiable.\n"
    assert install_failure(uv_newer).startswith("Because foo was not found in the package registry")
    pip = "ERROR: Could not find a version that satisfies the requirement foo==9\nERROR: No matching distribution found for foo==9\n"
    assert install_failure(pip) == "ERROR: Could not find a version that satisfies the requirement foo==9"
    gcc = "building 'x' extension\nx.c:12:5: error: unknown type name 'flot'\n"
    assert build_failure(gcc, {}) == "C compiler: x.c:12:5: unknown type name 'flot'"
    disk = "Traceback (most recent call last):\nOSError: [Errno 28] No space left on device: '/x/y'\n"
    assert build_failure(disk, {}) == "no space left on device"


FAKE_UV = """#!/bin/sh
# an installer whose bundled certificates do not know this network's proxy (as uv's may not)
if [ -z "$UV_SYSTEM_CERTS" ]; then
  echo "error: Failed to fetch: https://pypi.org/simple/cattrs/" >&2
  echo "  hint: Consider enabling use of system TLS certificates with the --system-certs command-line flag" >&2
  exit 2
fi
echo "$@" > "$(dirname "$0")/installed"
"""


def test_uv_refusing_the_network_certificate_is_retried_with_the_system_store(tmp_path) -> None:
    from agilab_core.wenv import Installer

    uv = tmp_path / "uv"
    uv.write_text(FAKE_UV)
    uv.chmod(0o755)
    Installer("uv", str(uv)).install(tmp_path / "venv", ["attrs"], deps=True, what="app fix: cannot install the worker requirements")
    assert "attrs" in (tmp_path / "installed").read_text()


def test_uv_failing_otherwise_is_not_retried_and_says_why(tmp_path) -> None:
    from agilab_core.wenv import Installer

    uv = tmp_path / "uv"
    uv.write_text('#!/bin/sh\necho run >> "$(dirname "$0")/runs"\necho "error: No solution found: nothing provides attrs==99" >&2\nexit 1\n')
    uv.chmod(0o755)
    with pytest.raises(ConfigError, match=r"^app fix: cannot install the worker requirements: error: No solution found: nothing provides attrs==99$"):
        Installer("uv", str(uv)).install(tmp_path / "venv", ["attrs==99"], deps=True, what="app fix: cannot install the worker requirements")
    assert (tmp_path / "runs").read_text() == "run\n"
