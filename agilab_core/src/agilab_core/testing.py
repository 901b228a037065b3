"""pytest plugin for plugin authors: fixtures, a probe app, the executor conformance suite.

Installed as a ``pytest11`` entry point, so these fixtures exist in any test
session where ``agilab-core`` is installed; every one is named ``agilab_*``,
so they never shadow nor take the name of another project's fixtures:

* ``agilab_wenv`` (session): a folder for worker venvs shared by the session;
* ``agilab_home``: a fresh ``$AGILAB_HOME`` in ``tmp_path``;
* ``agilab_registry``: the installed plugins plus the ``probe`` app;
* ``agilab_agi``: an :class:`~agilab_core.Agi` bound to that registry.

The ``probe`` app is built for testing executors: each item writes one small
file and, with ``trace_dir``, appends a line per attempt to a file of its own
(so a test counts runs on the worker side); its args choose items that raise,
sleep, or kill their own worker process (once, or every time), and a worker
that refuses to start. Executor packages import and subclass
:class:`ExecutorConformance` to prove they honour the contract::

    from agilab_core.testing import ExecutorConformance

    class TestMyExecutor(ExecutorConformance):
        executor = "mine"
        workers = "2"

See ``docs/testing.md``.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from agilab_core.app import AppSpec, ItemResult
from agilab_core.atomic import sha256_file
from agilab_core.hookspecs import hookimpl
from agilab_core.probe import PROBE_START_ERROR, ProbeArgs, ProbeManager, ProbeWorker, probe_traces

__all__ = [
    "PROBE_APP",
    "PROBE_START_ERROR",
    "ExecutorConformance",
    "ProbeArgs",
    "ProbeManager",
    "ProbePlugin",
    "ProbeRun",
    "ProbeWorker",
    "probe_traces",
]

# -- the probe app (its worker side is agilab_core.probe) ----------------------------

PROBE_APP = AppSpec("probe", ProbeManager, "agilab_core.probe:ProbeWorker", description="executor test app")


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


def _kills_worker(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a conformance test that kills a worker process (deselected for ``in_process`` executors)."""
    test.kills_worker = True  # type: ignore[attr-defined]
    return test


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (never skip) the tests that kill a worker, for executors whose items run in the test's own process."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        cls = getattr(item, "cls", None)
        in_process = cls is not None and issubclass(cls, ExecutorConformance) and cls.in_process
        (dropped if in_process and getattr(getattr(item, "function", None), "kills_worker", False) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@attrs.frozen
class ProbeRun:
    """One run of the probe app as a conformance test sees it."""

    result: Any  # RunResult
    #: Results in the order ``on_result`` received them, and the thread of each call
    #: (the ``Thread`` itself: an ended thread's ident may be given to the next one).
    seen: list[ItemResult]
    threads: list[threading.Thread]
    #: Item id -> one line per attempt, written by the workers themselves.
    traces: dict[str, list[str]]

    def by_item(self) -> dict[str, ItemResult]:
        return {r.item_id: r for r in self.result.results}

    def manifest(self) -> dict[str, Any]:
        return json.loads(self.result.manifest.read_text(encoding="utf-8"))


def _described(process: Any) -> str:
    """``"pid 123: python -c ..."`` for a psutil process, whatever state it is in."""
    try:
        return f"pid {process.pid}: {' '.join(process.cmdline()[:3]) or process.status()}"
    except Exception:  # noqa: BLE001 - gone or a zombie: its pid says enough
        return f"pid {process.pid}"


#: How long what ``close()`` told to stop may take to be gone before the close test counts it as left behind.
STOP_GRACE_SECONDS = 3.0


def _ids(count: int) -> list[str]:
    return [f"item-{i:05d}" for i in range(count)]


class ExecutorConformance:
    """The behaviour every executor must show: subclass it with ``executor`` set (and ``workers``, ``options``).

    ``in_process = True`` declares an executor that runs items in the test's
    own process (``local``, a threads executor): the two tests that kill a
    worker would kill pytest, so they are deselected (reported as such, never
    skipped). An executor with worker processes of its own must not set it.

    Workers record attempts under the ``agilab_trace_root`` fixture
    (``tmp_path``); a subclass whose workers run as other users overrides it.
    """

    executor: ClassVar[str] = ""
    workers: ClassVar[str] = "2"
    options: ClassVar[dict[str, Any]] = {}
    in_process: ClassVar[bool] = False

    @pytest.fixture
    def agilab_trace_root(self, tmp_path: Path) -> Path:
        """Where the probe's workers record their attempts (a folder per run inside): ``tmp_path``.

        A subclass whose workers cannot write ``tmp_path`` (other users,
        remote hosts sharing this machine's files) overrides it.
        """
        return tmp_path

    def probe(self, agi: Any, trace_dir: Path, **args: Any) -> ProbeRun:
        """Run the probe app on this executor, counting every attempt at an item in ``trace_dir``.

        ``trace_dir`` is made with the mode of its parent (``agilab_trace_root``),
        so workers running as another user can write it when the root lets them.
        """
        trace_dir.mkdir(parents=True, exist_ok=True)
        trace_dir.chmod(stat.S_IMODE(trace_dir.parent.stat().st_mode))
        seen: list[ItemResult] = []
        threads: list[threading.Thread] = []

        def on_result(result: ItemResult) -> None:
            seen.append(result)
            threads.append(threading.current_thread())

        result = agi.run(
            "probe", executor=self.executor, workers=self.workers, executor_options=dict(self.options),
            args={"trace_dir": str(trace_dir), **args}, on_result=on_result,
        )
        return ProbeRun(result, seen, threads, probe_traces(trace_dir))

    def test_every_item_runs_exactly_once(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        """Counted by the workers, not only by results: an item run twice and reported once fails here."""
        run = self.probe(agilab_agi, agilab_trace_root / "trace", count=23)
        assert run.result.status == "ok", run.result.error
        assert run.traces, f"no worker wrote to {agilab_trace_root / 'trace'}: the suite needs workers that can write agilab_trace_root (override it for workers that cannot write tmp_path)"
        runs = {item: len(lines) for item, lines in run.traces.items()}
        assert runs == dict.fromkeys(_ids(23), 1), "items run other than once (by the workers' own count)"
        assert sorted(r.item_id for r in run.seen) == _ids(23), "on_result did not get exactly one result per item"
        files = sorted(p.name for p in (run.result.outputs / "probe").iterdir())
        assert files == [f"{i}.json" for i in _ids(23)]

    def test_results_reach_on_result_on_the_thread_that_called_run(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        run = self.probe(agilab_agi, agilab_trace_root / "trace", count=12)
        assert len(run.threads) == 12
        others = {t for t in run.threads if t is not threading.current_thread()}
        assert not others, f"on_result was called from {len(others)} other thread(s) than the one that called run()"

    def test_a_failing_item_fails_alone_with_its_message_and_traceback(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        run = self.probe(agilab_agi, agilab_trace_root / "trace", count=9, fail=[4])
        assert run.result.status == "failed"
        assert run.result.items == {"total": 9, "ok": 8, "failed": 1}
        failed = [r for r in run.manifest()["results"] if r["status"] == "failed"]
        assert [r["item_id"] for r in failed] == ["item-00004"]
        assert "probe item 4 fails on purpose" in failed[0]["error"]["message"]
        assert "ValueError" in failed[0]["error"]["traceback"]
        assert not (run.result.outputs / "probe" / "item-00004.json").exists()
        assert len(run.traces["item-00004"]) == 1, "an item that raises is a result, not a reason to run it again"

    def test_a_worker_that_cannot_start_the_app_surfaces_the_real_error(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        """The worker's own exception reaches the run's error or every item's error, not only "no result"."""
        run = self.probe(agilab_agi, agilab_trace_root / "trace", count=4, fail_start=True)
        assert run.result.status == "failed"
        assert not any(r.ok for r in run.result.results)
        items_say = all(r.error is not None and PROBE_START_ERROR in r.error.message for r in run.result.results)
        run_says = PROBE_START_ERROR in (run.result.error or "")
        shown = run.result.error or sorted({r.error.message for r in run.result.results if r.error})
        assert run_says or items_say, f"the worker's start-up error is lost; the run shows {shown}"

    def test_in_process_says_where_items_run(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        """``in_process = True`` exactly when items run in the test's own process: deselecting the tests that kill a worker is never a way out."""
        run = self.probe(agilab_agi, agilab_trace_root / "trace", count=4)
        here = [r.item_id for r in run.result.results if r.metrics.get("pid") == os.getpid()]
        if self.in_process:
            assert len(here) == 4, "in_process is declared, but items ran in other processes: remove it, and pass the tests that kill a worker"
        else:
            assert not here, "items ran in the test's own process: declare in_process = True"

    def _refuse_to_kill_this_process(self, agi: Any, root: Path) -> None:
        """Fail, rather than let an item kill pytest, when items run in the test's own process."""
        run = self.probe(agi, root / "where", count=1)
        if any(r.metrics.get("pid") == os.getpid() for r in run.result.results):
            pytest.fail("items run in the test's own process, where killing a worker kills pytest: declare in_process = True")

    @_kills_worker
    def test_a_worker_killed_mid_item_is_retried_with_its_attempts(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        """``die_once``: the item kills its worker on its first attempt; the executor runs it again and says how often."""
        self._refuse_to_kill_this_process(agilab_agi, agilab_trace_root)
        run = self.probe(agilab_agi, agilab_trace_root / "trace", count=8, die_once=[3])
        assert sorted(r.item_id for r in run.seen) == _ids(8), "on_result did not get exactly one result per item"
        killed = run.by_item()["item-00003"]
        tried = len(run.traces["item-00003"])
        assert tried >= 2, "the item that killed its worker was not run again"
        assert killed.ok, f"the item that killed its worker once failed: {killed.error}"
        assert killed.attempts == tried, f"result says {killed.attempts} attempt(s), the workers ran the item {tried} time(s)"
        assert run.result.status == "ok", run.result.error

    @_kills_worker
    def test_a_worker_killed_every_time_is_reported_with_its_attempts(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        """``die_always``: the run ends; the item fails, naming the death, with as many attempts as the workers made."""
        self._refuse_to_kill_this_process(agilab_agi, agilab_trace_root)
        run = self.probe(agilab_agi, agilab_trace_root / "trace", count=6, die_always=[2])
        assert run.result.items == {"total": 6, "ok": 5, "failed": 1}
        killer = run.by_item()["item-00002"]
        tried = len(run.traces["item-00002"])
        assert killer.error is not None and killer.error.message, "the item that kills its worker fails without a reason"
        assert killer.attempts == tried, f"result says {killer.attempts} attempt(s), the workers ran the item {tried} time(s)"

    def test_results_name_the_plans_slots(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        """``ItemResult.worker`` is a ``WorkerSlot.id`` of the plan, and the worker was started under that id."""
        run = self.probe(agilab_agi, agilab_trace_root / "trace", count=12)
        slots = {s["worker"] for s in run.manifest()["plan"]["slots"]}
        invented = sorted({r.worker for r in run.result.results} - slots)
        assert not invented, f"results name slots {invented}, not in the plan's {sorted(slots)}"
        for r in run.result.results:
            written = json.loads((run.result.outputs / "probe" / f"{r.item_id}.json").read_text(encoding="utf-8"))
            assert written["worker"] == r.worker, f"{r.item_id} ran in a worker started as {written['worker']!r}, its result says {r.worker!r}"

    def test_close_is_safe_twice_and_leaves_no_process_or_thread(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        """After a run (whose end closes the executor) a second ``close()`` raises nothing; no child process or thread is left.

        A first run warms up what a library starts once per process (thread
        pools, event loops); the count is taken around a second run.
        """
        try:
            import psutil  # type: ignore[import-untyped]
        except ImportError:
            pytest.fail("this test counts child processes with psutil: add psutil to the project's test dependencies")

        made: list[Any] = []
        spec = agilab_agi.registry.executor(self.executor)

        class Watched(spec.executor):  # type: ignore[name-defined]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                made.append(self)

        agilab_agi.registry.executors[self.executor] = attrs.evolve(spec, executor=Watched)
        self.probe(agilab_agi, agilab_trace_root / "warm-up", count=4)
        me = psutil.Process()
        children = {p.pid for p in me.children(recursive=True)}
        threads = set(threading.enumerate())
        run = self.probe(agilab_agi, agilab_trace_root / "trace", count=4)
        assert run.result.status == "ok", run.result.error
        made[-1].close()  # the run closed it once already
        # What was told to stop may take a moment to be gone (a noisy machine): a grace, not a timing.
        _, alive = psutil.wait_procs([p for p in me.children(recursive=True) if p.pid not in children], timeout=STOP_GRACE_SECONDS)
        left = [_described(p) for p in alive]
        assert not left, f"close() left child process(es) behind: {left}"
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for thread in [t for t in threading.enumerate() if t not in threads]:
            thread.join(max(0.0, deadline - time.monotonic()))
        new = [t.name for t in threading.enumerate() if t not in threads]
        assert not new, f"close() left thread(s) behind: {new}"

    def test_options_are_typed_and_bad_ones_refused_in_one_line(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        from agilab_core.errors import AgilabError

        config_type = agilab_agi.registry.executor(self.executor).config_type
        fields = attrs.fields(attrs.resolve_types(config_type))
        assert all(f.type is not None for f in fields), f"{config_type.__name__}: every option needs a type annotation"
        bad: list[tuple[dict[str, Any], str]] = [({"no_such_option": 1}, "no_such_option")]
        typed = next((f for f in fields if f.type in (int, float, bool)), None)
        if typed is not None:
            bad.append(({typed.name: "not-a-number"}, typed.name))
        for options, named in bad:
            with pytest.raises(AgilabError) as info:
                agilab_agi.run("probe", executor=self.executor, workers=self.workers, executor_options={**self.options, **options}, args={"count": 1})
            message = str(info.value)
            assert "\n" not in message.strip() and named in message, f"option {options} is refused with {message!r}"

    def test_outputs_are_hashed_in_the_manifest(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        run = self.probe(agilab_agi, agilab_trace_root / "trace", count=3)
        for r in run.manifest()["results"]:
            (out,) = r["outputs"]
            assert out["sha256"] == sha256_file(run.result.outputs / out["path"])

    def test_an_empty_plan_is_refused(self, agilab_agi: Any, agilab_trace_root: Path) -> None:
        from agilab_core.errors import InputError

        with pytest.raises(InputError, match="no work items"):
            self.probe(agilab_agi, agilab_trace_root / "trace", count=0)
