"""WorkerTask/WorkerSession: the worker-side wrapper every executor ships."""

from __future__ import annotations

import pickle
import socket
from pathlib import Path

import pytest
from agilab_core.app import WorkItem
from agilab_core.atomic import sha256_file
from agilab_core.errors import EnvironmentMismatch, PluginError, one_line
from agilab_core.identity import environment_hash
from agilab_core.task import WorkerTask, import_object


@pytest.fixture
def task(tmp_path: Path, fixtures_on_path: Path) -> WorkerTask:
    return WorkerTask("fixture", "run-1", "plugin_fixtures.workers:FileWorker", {"a": 1}, tmp_path / "out")


def test_start_gives_the_worker_its_context(task: WorkerTask) -> None:
    session = task.start("h/3")
    ctx = session.worker.ctx
    assert (ctx.app, ctx.run_id, ctx.worker_id, ctx.output_dir) == ("fixture", "run-1", "h/3", task.output_dir)
    assert ctx.host == socket.gethostname()
    assert session.worker.args == {"a": 1}


def test_start_default_worker_id_names_host_and_process(task: WorkerTask) -> None:
    import os

    assert task.start().ctx.worker_id == f"{socket.gethostname()}/{os.getpid()}"


def test_start_and_stop_reach_the_worker(task: WorkerTask) -> None:
    from plugin_fixtures.workers import EVENTS

    EVENTS.clear()
    session = task.start("w/0")
    session.stop()
    assert EVENTS == ["start:w/0", "stop"]


def test_task_is_picklable(task: WorkerTask) -> None:
    assert pickle.loads(pickle.dumps(task)) == task


def test_exception_becomes_a_failed_result_with_type_message_traceback(task: WorkerTask) -> None:
    result = task.start("w/0").run(WorkItem("bad", {"raise": "missing column"}), attempts=2)
    assert result.status == "failed" and not result.ok
    assert result.item_id == "bad"
    assert result.worker == "w/0"
    assert result.attempts == 2
    assert result.error is not None
    assert result.error.type == "KeyError"
    assert result.error.message == "'missing column'"
    assert "Traceback" in result.error.traceback and "plugin_fixtures/workers.py" in result.error.traceback
    assert result.outputs == ()
    assert result.finished >= result.started


def test_a_failure_does_not_stop_the_next_item(task: WorkerTask) -> None:
    session = task.start("w/0")
    assert not session.run(WorkItem("bad", {"raise": "x"})).ok
    assert session.run(WorkItem("good", {})).ok


def test_outputs_are_hashed_with_relative_posix_paths(task: WorkerTask) -> None:
    session = task.start("w/0")
    result = session.run(WorkItem("i", {"files": {"sub/dir/a.txt": "hello", "b.txt": "bye!"}, "bytes": 42}))
    assert result.ok
    assert [o.path for o in result.outputs] == ["sub/dir/a.txt", "b.txt"]
    for out in result.outputs:
        full = task.output_dir / out.path
        assert out.sha256 == sha256_file(full)
        assert out.bytes == full.stat().st_size
    assert result.bytes_out == 5 + 4
    assert result.bytes_in == 42
    assert result.rows == 2
    assert result.metrics == {"n": 2}
    assert result.runtime == "python"


def test_relative_output_paths_are_taken_under_the_output_dir(task: WorkerTask) -> None:
    result = task.start("w/0").run(WorkItem("i", {"files": {"rel/x.txt": "x"}, "relative": True}))
    assert [o.path for o in result.outputs] == ["rel/x.txt"]


def test_outputs_outside_the_output_dir_keep_their_absolute_path(task: WorkerTask, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    result = task.start("w/0").run(WorkItem("i", {"files": {str(outside): "z"}}))
    assert [o.path for o in result.outputs] == [str(outside)]


def test_an_output_that_does_not_exist_fails_the_item(task: WorkerTask) -> None:
    result = task.start("w/0").run(WorkItem("i", {"claim": ["never-written.txt"]}))
    assert result.status == "failed"
    assert result.error is not None and result.error.type == "FileNotFoundError"


def _an_extension_module() -> str:
    """A standard module this interpreter loads from a compiled extension file.

    Which ones are files and which are built into the interpreter depends on
    the build (Debian's python3 has ``array`` built in, pyenv's loads it from
    ``lib-dynload``), so the test asks rather than assumes.
    """
    import importlib.machinery
    import importlib.util

    for name in ("array", "_ctypes", "_decimal", "_bz2", "_lzma", "_ssl", "select", "mmap", "_json", "math"):
        spec = importlib.util.find_spec(name)
        if spec and spec.origin and spec.origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return name
    raise AssertionError("this interpreter loads none of the usual standard extension modules from a file")


def test_runtime_is_what_the_worker_actually_loaded(tmp_path: Path, fixtures_on_path: Path) -> None:
    # an extension module counts as compiled; ``json`` is Python source.
    compiled = WorkerTask("f", "r", "plugin_fixtures.workers:FileWorker", None, tmp_path, cython_modules=("json", _an_extension_module()))
    assert compiled.start("w/0").run(WorkItem("i", {})).runtime == "cython"
    plain = WorkerTask("f", "r", "plugin_fixtures.workers:FileWorker", None, tmp_path, cython_modules=("json",))
    assert plain.start("w/0").run(WorkItem("i", {})).runtime == "python"


def test_a_worker_refuses_another_environment_naming_both_hashes(tmp_path: Path, fixtures_on_path: Path) -> None:
    task = WorkerTask("f", "r", "plugin_fixtures.workers:FileWorker", None, tmp_path, env_hash="0123456789abcdef")
    with pytest.raises(EnvironmentMismatch) as info:
        task.start("w/0")
    assert "0123456789abcdef" in str(info.value) and environment_hash() in str(info.value)


def test_a_worker_in_its_own_environment_starts(tmp_path: Path, fixtures_on_path: Path) -> None:
    task = WorkerTask("f", "r", "plugin_fixtures.workers:FileWorker", None, tmp_path, env_hash=environment_hash())
    assert task.start("w/0").run(WorkItem("i", {})).ok


# -- import_object ----------------------------------------------------------------------


def test_import_object_with_colon_and_dots() -> None:
    assert import_object("agilab_core.task:WorkerTask.start") is WorkerTask.start


def test_import_object_with_dots_only() -> None:
    assert import_object("agilab_core.task.WorkerTask") is WorkerTask


@pytest.mark.parametrize(
    "path",
    ["no_such_module_xyz:Thing", "agilab_core.task:Nope", "agilab_core.task:WorkerTask.nope", "nodots", "", "agilab_core.task:"],
)
def test_import_object_errors_are_plugin_errors_naming_the_path(path: str) -> None:
    with pytest.raises(PluginError) as info:
        import_object(path)
    assert str(info.value).startswith(f"cannot import {path!r}: ")


def test_start_with_a_bad_worker_path_is_a_plugin_error(tmp_path: Path) -> None:
    task = WorkerTask("f", "r", "plugin_fixtures_nowhere:Worker", None, tmp_path)
    with pytest.raises(PluginError, match="plugin_fixtures_nowhere:Worker"):
        task.start()


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(ValueError("first\nsecond"), "first"), (ValueError(""), "ValueError"), (RuntimeError("  padded  "), "padded")],
)
def test_one_line(exc: BaseException, expected: str) -> None:
    assert one_line(exc) == expected


@pytest.mark.parametrize(
    ("worker", "module"),
    [("pkg.sub.worker:FlightWorker", "pkg.sub.worker"), ("pkg.sub.worker.FlightWorker", "pkg.sub.worker"), ("pkg.worker:Outer.Inner", "pkg.worker")],
)
def test_the_worker_module_is_what_import_object_imports(worker, module, tmp_path):
    assert WorkerTask("a", "r", worker, None, tmp_path).worker_module == module


def test_cores_are_shared_between_worker_processes(monkeypatch):
    from agilab_core import threads_per_worker

    monkeypatch.setattr("agilab_core.executor.CORES", 8)
    assert [threads_per_worker(n) for n in (0, 1, 3, 8, 20)] == [8, 8, 2, 1, 1]
    monkeypatch.setattr("agilab_core.executor.CORES", 1)
    assert threads_per_worker(4) == 1
