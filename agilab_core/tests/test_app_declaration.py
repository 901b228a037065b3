"""One place to declare an app: the worker and its modules are derived from the sources, typos fail at load.

Each test writes a real app package into ``tmp_path`` and puts it on
``sys.path``; its worker module imports a library that is not installed, so
any attempt of the kernel to import it at registration would show.
"""

from __future__ import annotations

import importlib
import sys
import uuid
from pathlib import Path

import pytest
from agilab_core.app import AppSpec
from agilab_core.hookspecs import hookimpl
from agilab_core.plugins import STATUS_FAILED, STATUS_LOADED, load_plugins

from agilab_core import app_source

MANAGER = """
import attrs
from agilab_core import Manager, WorkItem

@attrs.frozen
class Args:
    count: int = 2
    files: str = "*.csv"

class AppManager(Manager):
    args_type = Args

    def work_items(self, args, env):
        return [WorkItem(str(i)) for i in range(args.count)]
"""

WORKER = """
import not_an_installed_library
from {pkg} import helpers
from .maths import double
from agilab_core import ItemOutput, Worker

class AppWorker(Worker):
    def work(self, item):
        return ItemOutput(rows=double(helpers.one()))
"""


@pytest.fixture
def app_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``make(worker=WORKER, **more_files) -> package name``: an app package on ``sys.path``, nothing imported."""

    def make(worker: str | None = WORKER, **files: str) -> str:
        pkg = f"declared_{uuid.uuid4().hex[:8]}"
        root = tmp_path / pkg
        root.mkdir()
        sources = {
            "__init__": "",
            "manager": MANAGER,
            "helpers": "import attrs\nimport json\n\ndef one():\n    try:\n        import not_installed_either\n    except ImportError:\n        pass\n    return 1\n",
            "maths": "def double(x):\n    return 2 * x\n",
            "ui": "import not_an_installed_library\nfrom . import manager\n",  # manager-only
            **({"worker": worker.format(pkg=pkg)} if worker is not None else {}),
            **files,
        }
        for name, text in sources.items():
            (root / f"{name}.py").write_text(text, encoding="utf-8")
        monkeypatch.syspath_prepend(str(tmp_path))
        importlib.invalidate_caches()
        return pkg

    return make


def _manager(pkg: str) -> type:
    return importlib.import_module(f"{pkg}.manager").AppManager


def _load(spec: AppSpec):
    class Plugin:
        @hookimpl
        def register_apps(self):
            return [spec]

    registry = load_plugins(entry_points=False)
    registry.register(Plugin(), name="declared", distribution="agilab-app-declared", version="1.0")
    (info,) = [p for p in registry.plugins if p.entry_point == "declared" or p.name == "declared"]
    return registry, info


def test_the_short_form_derives_the_worker_and_the_modules_it_imports(app_package) -> None:
    pkg = app_package()
    spec = AppSpec("declared", _manager(pkg))
    assert spec.worker == f"{pkg}.worker:AppWorker"
    assert spec.worker_modules == (f"{pkg}.helpers", f"{pkg}.maths", f"{pkg}.worker")  # not ui, not manager
    assert spec.worker_requirements == ("attrs",)  # not json (stdlib), not the kernel, not what is not installed
    registry, info = _load(spec)
    assert info.status == STATUS_LOADED and registry.app("declared") is spec
    assert f"{pkg}.worker" not in sys.modules and "not_an_installed_library" not in sys.modules


def test_the_worker_class_itself_is_turned_into_its_path_and_its_modules_derived(app_package) -> None:
    pkg = app_package(worker="from agilab_core import Worker\nfrom . import helpers\n\nclass AppWorker(Worker):\n    pass\n")
    worker = importlib.import_module(f"{pkg}.worker").AppWorker
    spec = AppSpec("declared", _manager(pkg), worker)
    assert spec.worker == f"{pkg}.worker:AppWorker"
    assert spec.worker_modules == (f"{pkg}.helpers", f"{pkg}.worker")


def test_the_string_form_keeps_its_explicit_modules(app_package) -> None:
    pkg = app_package()
    explicit = AppSpec("declared", _manager(pkg), f"{pkg}.worker:AppWorker")
    assert explicit.worker_modules == () and explicit.worker_requirements == ()
    listed = AppSpec("declared", _manager(pkg), f"{pkg}.worker:AppWorker", worker_modules=[f"{pkg}.worker"])
    assert listed.worker_modules == (f"{pkg}.worker",)


def test_a_worker_next_to_the_manager_is_found_in_its_module(app_package) -> None:
    pkg = app_package(worker=None, manager=MANAGER + "\nfrom agilab_core import Worker\n\nclass InlineWorker(Worker):\n    pass\n")
    assert AppSpec("declared", _manager(pkg)).worker == f"{pkg}.manager:InlineWorker"


@pytest.mark.parametrize(
    ("worker", "message"),
    [
        ("{pkg}.worker:AppWorkr", "app 'declared': worker class 'AppWorkr' not found in module '{pkg}.worker'"),
        ("{pkg}.wroker:AppWorker", "app 'declared': worker module '{pkg}.wroker' not found"),
        ("{pkg}x.worker:AppWorker", "app 'declared': worker module '{pkg}x.worker' not found"),
    ],
)
def test_a_typo_in_the_worker_path_fails_the_plugin_at_load_in_one_line(app_package, worker: str, message: str) -> None:
    pkg = app_package()
    registry, info = _load(AppSpec("declared", _manager(pkg), worker.format(pkg=pkg)))
    assert info.status == STATUS_FAILED and info.error == message.format(pkg=pkg)
    assert "declared" not in registry.apps
    assert f"{pkg}.worker" not in sys.modules


def test_no_worker_to_derive_fails_the_plugin_saying_where_it_looked(app_package) -> None:
    pkg = app_package(worker=None)
    _, info = _load(AppSpec("declared", _manager(pkg)))
    assert info.status == STATUS_FAILED
    assert info.error == (
        f"app 'declared': no worker given and no Worker subclass found in {pkg}.worker or {pkg}.manager; "
        "name it with worker='module:Class'"
    )


def test_two_worker_classes_must_be_told_apart(app_package) -> None:
    pkg = app_package(worker="from agilab_core import Worker\nclass A(Worker): ...\nclass B(Worker): ...\n")
    _, info = _load(AppSpec("declared", _manager(pkg)))
    assert info.status == STATUS_FAILED and f"{pkg}.worker defines several worker classes (A, B)" in info.error


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"renamed": {"nfile": "nfiles"}}, "app 'declared': renamed 'nfile' -> 'nfiles': the new name must be an argument of Args, the old one not"),
        ({"renamed": {"count": "files"}}, "app 'declared': renamed 'count' -> 'files': the new name must be an argument of Args, the old one not"),
        ({"sample_data": "{pkg}.helpers:seed"}, "app 'declared': sample_data function 'seed' not found in module '{pkg}.helpers'"),
        ({"sample_data": "{pkg}.nowhere:seed"}, "app 'declared': sample_data module '{pkg}.nowhere' not found"),
        ({"sample_data": "seed"}, "app 'declared': sample_data 'seed' is not 'module:function', 'package:archive' or a callable"),
    ],
)
def test_bad_renames_and_sample_data_fail_at_load(app_package, fields: dict, message: str) -> None:
    pkg = app_package()
    fields = {k: v.format(pkg=pkg) if isinstance(v, str) else v for k, v in fields.items()}
    _, info = _load(AppSpec("declared", _manager(pkg), **fields))
    assert info.status == STATUS_FAILED and info.error == message.format(pkg=pkg)


def test_relative_imports_resolve_against_the_package(app_package) -> None:
    pkg = app_package(
        worker="from agilab_core import Worker\nfrom .sub.deep import x\n\nclass W(Worker): ...\n",
    )
    root = Path(sys.path[0]) / pkg
    (root / "sub").mkdir()
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "deep.py").write_text("from ..helpers import one\nx = one()\n")
    assert app_source.worker_side(f"{pkg}.worker") == (f"{pkg}.helpers", f"{pkg}.sub.deep", f"{pkg}.worker")


def test_the_kernel_is_never_part_of_an_app_worker_side() -> None:
    assert app_source.worker_side("agilab_core.testing") == ()


NESTED = """
import a
class K:
    def f(self):
        with open(x) as fh:
            for i in y:
                while z:
                    try:
                        import b
                    except ImportError:
                        from c import d
                    else:
                        import e
                    finally:
                        import f
async def g():
    async with h:
        async for i in j:
            if k:
                import l
            else:
                import m
match n:
    case 1:
        import o
x = lambda: __import__("not_a_statement")
"""


@pytest.mark.parametrize("source", ["nested", *sorted(p.name for p in Path(app_source.__file__).parent.glob("*.py"))])
def test_every_import_statement_is_found_wherever_it_is_nested(source: str) -> None:
    import ast

    text = NESTED if source == "nested" else (Path(app_source.__file__).parent / source).read_text(encoding="utf-8")
    tree = ast.parse(text)
    walked = {id(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))}
    found = {id(n) for n in app_source._statements(tree.body) if isinstance(n, (ast.Import, ast.ImportFrom))}
    assert found == walked and walked
    if source == "nested":
        assert app_source._imports(tree, "pkg.mod") == {"a", "b", "c", "c.d", "e", "f", "l", "m", "o"}
