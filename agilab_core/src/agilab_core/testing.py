"""pytest plugin for plugin authors: fixtures, a probe app, the executor conformance suite.

Installed as a ``pytest11`` entry point, so these fixtures exist in any test
session where ``agilab-core`` is installed:

* ``agilab_home``: a fresh ``$AGILAB_HOME`` in ``tmp_path``;
* ``agilab_registry``: the installed plugins plus the ``probe`` app;
* ``agilab_agi``: an :class:`~agilab_core.Agi` bound to that registry.

The ``probe`` app is built for testing executors: each item writes one small
file, and its args choose items that raise, sleep, or kill their own worker
process (once, or every time). Executor packages subclass
:class:`ExecutorConformance` to prove they honour the contract::

    class TestMyExecutor(ExecutorConformance):
        executor = "mine"
        workers = "2"
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import attrs
import pytest

from agilab_core.app import AppSpec, ItemOutput, Manager, Worker, WorkItem
from agilab_core.atomic import atomic_path, sha256_file
from agilab_core.hookspecs import hookimpl

# -- the probe app ------------------------------------------------------------------


@attrs.frozen
class ProbeArgs:
    """Args of the probe app: which items misbehave, and how."""

    count: int = 8
    fail: list[int] = attrs.field(factory=list)
    die_once: list[int] = attrs.field(factory=list)
    die_always: list[int] = attrs.field(factory=list)
    sleep: float = 0.0
    marker_dir: str = ""
    write: bool = True


class ProbeManager(Manager):
    args_type = ProbeArgs

    def work_items(self, args: ProbeArgs, env: Any) -> list[WorkItem]:
        return [WorkItem(f"item-{i:05d}", {"index": i}, weight=1.0 + (i % 3)) for i in range(args.count)]

    def reduce(self, results: list[Any], run: Any) -> dict[str, Any]:
        return {"ok": sum(1 for r in results if r.ok), "pids": len({r.metrics.get("pid") for r in results if r.ok})}


class ProbeWorker(Worker):
    def work(self, item: WorkItem) -> ItemOutput:
        args: ProbeArgs = self.args
        index = item.payload["index"]
        if args.sleep:
            time.sleep(args.sleep)
        if index in args.die_always:
            os.kill(os.getpid(), signal.SIGKILL)
        if index in args.die_once:
            marker = Path(args.marker_dir) / f"died-{index}"
            if not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)
        if index in args.fail:
            raise ValueError(f"probe item {index} fails on purpose")
        files: list[str | Path] = []
        if args.write:
            target = self.ctx.output_dir / "probe" / f"{item.id}.json"
            with atomic_path(target) as tmp:
                tmp.write_text(json.dumps({"item": item.id, "worker": self.ctx.worker_id}), encoding="utf-8")
            files.append(target)
        return ItemOutput(rows=1, bytes_in=index, files=files, metrics={"pid": os.getpid(), "threads": os.environ.get("OMP_NUM_THREADS")})


PROBE_APP = AppSpec("probe", ProbeManager, "agilab_core.testing:ProbeWorker", description="executor test app")


class ProbePlugin:
    """Registers the probe app (register it with ``Registry.register``)."""

    @hookimpl
    def register_apps(self) -> list[AppSpec]:
        return [PROBE_APP]


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def agilab_wenv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Worker venvs shared by the whole session (they are content-addressed, so sharing is safe)."""
    return Path(os.environ.get("AGILAB_WENV") or tmp_path_factory.mktemp("agilab-wenv"))


@pytest.fixture
def agilab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, agilab_wenv: Path) -> Path:
    """A fresh AGILab home for one test (``$AGILAB_HOME`` points at it).

    ``$AGILAB_WENV`` points at the session's shared worker venvs, so a test
    pays for building an app's worker venv once per session, not per test.
    """
    home = tmp_path / "agilab-home"
    home.mkdir()
    monkeypatch.setenv("AGILAB_HOME", str(home))
    monkeypatch.setenv("AGILAB_WENV", str(agilab_wenv))
    return home


@pytest.fixture
def agilab_registry(agilab_home: Path) -> Any:
    """Installed plugins plus the probe app."""
    from agilab_core.plugins import load_plugins

    registry = load_plugins()
    registry.register(ProbePlugin(), name="probe", distribution="agilab-core", version="test")
    return registry


@pytest.fixture
def agilab_agi(agilab_registry: Any) -> Any:
    """An ``Agi`` bound to ``agilab_registry``."""
    from agilab_core.runner import Agi

    return Agi(agilab_registry)


# -- executor conformance -----------------------------------------------------------------


class ExecutorConformance:
    """The behaviour every executor must show. Subclass with ``executor`` set."""

    executor: str = ""
    workers: str = "2"
    options: dict[str, Any] = {}

    def _run(self, agi: Any, **args: Any) -> Any:
        seen: list[Any] = []
        result = agi.run("probe", executor=self.executor, workers=self.workers, executor_options=dict(self.options), args=args, on_result=seen.append)
        return result, seen

    def test_every_item_runs_once(self, agilab_agi: Any) -> None:
        result, seen = self._run(agilab_agi, count=23)
        assert result.status == "ok"
        assert sorted(r.item_id for r in seen) == [f"item-{i:05d}" for i in range(23)]
        files = sorted(p.name for p in (result.outputs / "probe").iterdir())
        assert files == [f"item-{i:05d}.json" for i in range(23)]

    def test_failing_item_fails_alone_with_traceback(self, agilab_agi: Any) -> None:
        result, _ = self._run(agilab_agi, count=9, fail=[4])
        assert result.status == "failed"
        assert result.items == {"total": 9, "ok": 8, "failed": 1}
        manifest = json.loads(result.manifest.read_text())
        failed = [r for r in manifest["results"] if r["status"] == "failed"]
        assert [r["item_id"] for r in failed] == ["item-00004"]
        assert "probe item 4 fails on purpose" in failed[0]["error"]["message"]
        assert "ValueError" in failed[0]["error"]["traceback"]
        assert not (result.outputs / "probe" / "item-00004.json").exists()

    def test_outputs_are_hashed_in_the_manifest(self, agilab_agi: Any) -> None:
        result, _ = self._run(agilab_agi, count=3)
        manifest = json.loads(result.manifest.read_text())
        for r in manifest["results"]:
            (out,) = r["outputs"]
            assert out["sha256"] == sha256_file(result.outputs / out["path"])

    def test_empty_plan_is_refused(self, agilab_agi: Any) -> None:
        from agilab_core.errors import InputError

        with pytest.raises(InputError, match="no work items"):
            self._run(agilab_agi, count=0)
