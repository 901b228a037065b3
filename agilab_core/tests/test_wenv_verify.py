"""A worker venv changed since it was built is never reused under its identity hash.

Real venvs (uv, or venv + pip), real edits: a file deleted, added, edited in
place (even keeping its size and mtime), the venv's interpreter gone; and a
changed venv that cannot be rebuilt where it is, on a real read-only mount.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from agilab_core.atomic import write_json
from agilab_core.errors import ConfigError
from agilab_core.recipe import WorkerRecipe
from agilab_core.wenv import FILES_RECORD, WorkerVenv, install_venv, venv_changes, venv_files
from hypothesis import given, settings
from hypothesis import strategies as st

APP = '''
import attrs
from agilab_core import AppSpec, ItemOutput, Manager, Worker, WorkItem


@attrs.frozen
class Args:
    count: int = 1


class VManager(Manager):
    args_type = Args

    def work_items(self, args, env):
        return [WorkItem("only", 0)]


class VWorker(Worker):
    def work(self, item):
        return ItemOutput(rows=1)


SPEC = AppSpec(name="verify", manager=VManager, worker="{pkg}.app:VWorker", worker_modules=("{pkg}.app",))
'''


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[WorkerRecipe, WorkerVenv]:
    """A small app of this module's own, its recipe (computed once: the kernel's sources may change meanwhile), and its venv."""
    root = tmp_path_factory.mktemp("apps")
    pkg = f"wverify_{uuid.uuid4().hex[:10]}"
    (root / pkg).mkdir(parents=True)
    (root / pkg / "__init__.py").write_text("")
    (root / pkg / "app.py").write_text(APP.format(pkg=pkg))
    sys.path.insert(0, str(root))
    try:
        importlib.invalidate_caches()
        recipe = WorkerRecipe.of(importlib.import_module(f"{pkg}.app").SPEC, distributions=("agilab-executor-local",))
    finally:
        sys.path.remove(str(root))
    return recipe, install(recipe, tmp_path_factory.mktemp("wenv"))


@pytest.fixture
def app(built_once: tuple[WorkerRecipe, WorkerVenv]) -> WorkerRecipe:
    return built_once[0]


def copy_of(built_once: tuple[WorkerRecipe, WorkerVenv], wenv: Path) -> WorkerVenv:
    """The module's venv copied (files, symlinks, mtimes) into ``wenv``: a test may then change it at will."""
    recipe, venv = built_once
    shutil.copytree(venv.path, wenv / venv.path.name, symlinks=True)
    copied = install(recipe, wenv)
    assert copied.cached, "a faithful copy is the same venv"
    return copied


def install(recipe: WorkerRecipe, wenv: Path, heard: list[str] | None = None) -> WorkerVenv:
    return install_venv(recipe, wenv, report=heard.append if heard is not None else None, fix=f"agilab install {recipe.app} -e pool")


def site_packages(venv: WorkerVenv) -> Path:
    return next(venv.path.glob("lib/python*/site-packages"))


def worker_source(venv: WorkerVenv, recipe: WorkerRecipe) -> Path:
    return site_packages(venv) / next(s.name for s in recipe.sources if s.name.endswith("/app.py"))


def runs(venv: WorkerVenv, module: str) -> bool:
    return subprocess.run([venv.python, "-c", f"import {module}, agilab_core.task"], capture_output=True).returncode == 0


def test_an_unchanged_venv_is_reused_even_after_its_interpreter_wrote_bytecode(app, built_once, tmp_path) -> None:
    built = copy_of(built_once, tmp_path / "wenv")
    subprocess.run([str(built.python), "-c", "import json, email.mime.text, agilab_core.task"], check=True)  # writes __pycache__ where it may
    again = install(app, tmp_path / "wenv")
    assert again.cached and again.rebuilt is None and again.path == built.path
    assert venv_changes(built.path) is None


def test_a_deleted_file_makes_the_venv_rebuilt_saying_which(app, built_once, tmp_path) -> None:
    built = copy_of(built_once, tmp_path / "wenv")
    victim = site_packages(built) / "attr" / "validators.py"
    victim.unlink()
    heard: list[str] = []
    again = install(app, tmp_path / "wenv", heard)
    rel = victim.relative_to(built.path).as_posix()
    assert not again.cached and again.rebuilt == f"{rel} was deleted" and again.path == built.path
    assert heard[0] == f"worker venv {built.path.name} changed since it was built ({rel} was deleted): rebuilding it"
    assert victim.exists() and runs(again, "attr.validators")
    assert install(app, tmp_path / "wenv").cached


def test_an_edit_that_keeps_size_and_mtime_of_the_worker_code_is_found_by_its_hash(app, built_once, tmp_path) -> None:
    built = copy_of(built_once, tmp_path / "wenv")
    source = worker_source(built, app)
    before = source.stat()
    text = source.read_text()
    source.write_text(text.replace("rows=1", "rows=7"))  # same length
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert source.stat().st_size == before.st_size and source.stat().st_mtime_ns == before.st_mtime_ns
    again = install(app, tmp_path / "wenv")
    assert again.rebuilt == f"{source.relative_to(built.path).as_posix()} was modified"
    assert "rows=1" in source.read_text()


def test_an_edited_third_party_file_is_found_by_its_size_or_mtime(app, built_once, tmp_path) -> None:
    built = copy_of(built_once, tmp_path / "wenv")
    target = site_packages(built) / "pluggy" / "__init__.py"
    with target.open("a") as fh:
        fh.write("\nraise SystemExit('tampered')\n")
    again = install(app, tmp_path / "wenv")
    assert again.rebuilt == f"{target.relative_to(built.path).as_posix()} was modified"
    assert runs(again, "pluggy")


def test_an_added_file_is_a_change(app, built_once, tmp_path) -> None:
    built = copy_of(built_once, tmp_path / "wenv")
    extra = site_packages(built) / "zz_extra.pth"  # .pth files run at every start-up
    extra.write_text("import sys\n")
    assert install(app, tmp_path / "wenv").rebuilt == f"{extra.relative_to(built.path).as_posix()} was added"
    assert not extra.exists()


def test_a_venv_whose_interpreter_is_gone_is_a_change(app, built_once, tmp_path) -> None:
    built = copy_of(built_once, tmp_path / "wenv")
    python = Path(str(built.python))
    python.unlink()
    python.symlink_to(tmp_path / "no-such-python")
    assert venv_changes(built.path) == f"its interpreter {tmp_path / 'no-such-python'} is gone"
    assert install(app, tmp_path / "wenv").rebuilt == f"its interpreter {tmp_path / 'no-such-python'} is gone"


def test_a_venv_without_a_record_of_its_files_is_rebuilt(app, built_once, tmp_path) -> None:
    built = copy_of(built_once, tmp_path / "wenv")
    (built.path / FILES_RECORD).unlink()  # as venvs built before files were recorded
    assert install(app, tmp_path / "wenv").rebuilt == f"{FILES_RECORD} is missing or unreadable"


def test_the_record_lists_every_file_but_bytecode_and_hashes_the_worker_code(app, built_once, tmp_path) -> None:
    built = copy_of(built_once, tmp_path / "wenv")
    record = json.loads((built.path / FILES_RECORD).read_text())
    assert record["files"] == venv_files(built.path)
    assert not [rel for rel in record["files"] if "__pycache__" in rel]
    hashed = record["sha256"]
    assert worker_source(built, app).relative_to(built.path).as_posix() in hashed
    assert any(rel.startswith("site-packages/agilab_core/") or "/site-packages/agilab_core/" in rel for rel in hashed)
    assert {f"wheels/{w.name}" for w in built.wheels} <= set(hashed)
    assert not [rel for rel in hashed if "/site-packages/attr/" in rel]  # third-party files: size and mtime only


@pytest.fixture
def remountable(tmp_path: Path):
    """A real tmpfs that can be switched to read-only; needs root (CAP_SYS_ADMIN), as the packaging tests' mounts do."""
    target = tmp_path / "mnt"
    target.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"this test mounts a tmpfs and needs root (CAP_SYS_ADMIN): mount said {done.stderr.strip()!r}")

    def read_only() -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True, capture_output=True)

    yield target, read_only
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_a_changed_venv_that_cannot_be_rebuilt_is_refused_with_the_command_that_fixes_it(app, built_once, remountable) -> None:
    folder, read_only = remountable
    wenv = folder / "wenv"
    built = copy_of(built_once, wenv)
    victim = site_packages(built) / "attr" / "validators.py"
    victim.unlink()
    read_only()
    with pytest.raises(ConfigError) as info:
        install(app, wenv)
    message = str(info.value)
    rel = victim.relative_to(built.path).as_posix()
    assert message.startswith(f"{built.path}: worker venv changed since it was built ({rel} was deleted) and cannot be rebuilt: Read-only file system")
    assert message.endswith(f"rebuild it: rm -rf {built.path} && agilab install {app.app} -e pool")
    assert "\n" not in message


def test_an_unchanged_venv_on_a_read_only_mount_is_used(app, built_once, remountable) -> None:
    folder, read_only = remountable
    built = copy_of(built_once, folder / "wenv")
    read_only()
    again = install(app, folder / "wenv")
    assert again.cached and again.path == built.path
    assert runs(again, f"{worker_source(built, app).parent.name}.app")


def test_the_check_reads_no_more_than_it_must(app, built_once, tmp_path) -> None:
    # a big third-party file is stat'ed, not read: the check stays cheap on venvs of hundreds of MB
    built = copy_of(built_once, tmp_path / "wenv")
    record = json.loads((built.path / FILES_RECORD).read_text())
    hashed_bytes = sum(record["files"][rel][0] for rel in record["sha256"])
    all_bytes = sum(facts[0] for facts in record["files"].values() if facts[0] != "->")
    assert hashed_bytes < all_bytes / 2, (hashed_bytes, all_bytes)


# -- any single change to any tree is found ---------------------------------------------------

names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
trees = st.dictionaries(st.lists(names, min_size=1, max_size=3).map(tuple), st.binary(max_size=40), min_size=1, max_size=8)


def _layout(root: Path, tree: dict[tuple[str, ...], bytes]) -> dict[str, bytes]:
    """Write ``tree`` under ``root`` (skipping paths that collide with a file), with a venv interpreter; return what was written."""
    written: dict[str, bytes] = {}
    for parts, data in sorted(tree.items()):
        path = root.joinpath("lib", *parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                continue
            path.write_bytes(data)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue
        written[path.relative_to(root).as_posix()] = data
    (root / "bin").mkdir()
    (root / "bin" / "python").symlink_to(sys.executable)
    return written


@settings(max_examples=40, deadline=None)
@given(trees, st.sampled_from(["none", "delete", "grow", "add", "cache"]), st.integers(min_value=0))
def test_any_deletion_addition_or_resize_is_found_and_bytecode_is_not(tree, change, pick) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        written = _layout(root, tree)
        write_json(root / FILES_RECORD, {"files": venv_files(root), "sha256": {}})
        assert venv_changes(root) is None
        target = sorted(written)[pick % len(written)]
        if change == "delete":
            (root / target).unlink()
            assert venv_changes(root) == f"{target} was deleted"
        elif change == "grow":
            with (root / target).open("ab") as fh:
                fh.write(b"+")
            assert venv_changes(root) == f"{target} was modified"
        elif change == "add":
            (root / "lib" / "added.pth").write_text("")
            assert venv_changes(root) == "lib/added.pth was added"
        else:
            cache = (root / target).parent / "__pycache__"
            cache.mkdir(exist_ok=True)
            (cache / "x.cpython-311.pyc").write_bytes(b"\0")
            assert venv_changes(root) is None
