"""AGI.run / get_distrib end to end, through the ``agi`` fixture and the probe app."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from agilab_core.capacity import read_capacities
from agilab_core.errors import AgilabError, ConfigError, InputError, UsageError
from agilab_core.journal import latest_by_item
from agilab_core.plan import WorkersSpec
from agilab_core.runner import PlanResult, RunResult
from agilab_core.runs import read_manifest, read_run
from agilab_core.testing import ProbeArgs, ProbeManager
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agilab_core import (
    AppSpec,
    Executor,
    ExecutorSpec,
    ItemResult,
    Manager,
    WorkerPackage,
    WorkItem,
    balance,
    hookimpl,
    sha256_file,
)


def _manifest(result: RunResult) -> dict[str, Any]:
    return json.loads(result.manifest.read_text(encoding="utf-8"))


def _ids(n: int) -> list[str]:
    return [f"item-{i:05d}" for i in range(n)]


def _run_dirs(home: Path, app: str = "probe") -> list[Path]:
    root = home / "runs" / app
    return sorted(root.iterdir()) if root.exists() else []


# -- the result --------------------------------------------------------------------


def test_run_returns_a_typed_result(agi, agilab_home: Path) -> None:
    result = agi.run("probe", args={"count": 5})
    assert isinstance(result, RunResult)
    assert result.ok and result.status == "ok" and result.error is None
    assert (result.app, result.executor) == ("probe", "local")
    assert result.items == {"total": 5, "ok": 5, "failed": 0}
    assert result.manifest == agilab_home / "runs" / "probe" / result.run_id / "manifest.json"
    assert result.run_dir == result.manifest.parent
    assert result.outputs == result.run_dir / "outputs"
    assert sorted(r.item_id for r in result.results) == _ids(5)
    assert result.seconds >= 0
    assert result.summary == {"ok": 5, "pids": 1}
    assert result.failed() == []


def test_to_dict_is_the_json_object_of_run(agi) -> None:
    result = agi.run("probe", args={"count": 2, "fail": [1]})
    data = result.to_dict()
    assert set(data) >= {"run_id", "app", "executor", "status", "items", "manifest", "outputs", "seconds"}
    assert data["run_id"] == result.run_id
    assert (data["app"], data["executor"], data["status"]) == ("probe", "local", "failed")
    assert data["items"] == {"total": 2, "ok": 1, "failed": 1}
    assert data["manifest"] == str(result.manifest)
    assert data["outputs"] == str(result.outputs)
    assert data["failed"] == [{"item": "item-00001", "error": "probe item 1 fails on purpose"}]
    json.dumps(data)  # JSON-able as is


def test_manifest_holds_everything_to_audit_the_run(agi) -> None:
    result = agi.run("probe", args={"count": 4}, workers=1)
    m = _manifest(result)
    assert m["schema"] == 1
    assert m["run_id"] == result.run_id
    assert m["status"] == "ok"
    assert m["app"] == {"name": "probe", "distribution": "agilab-core", "version": "test"}
    assert m["args"]["count"] == 4 and m["args"]["fail"] == []
    assert m["executor"]["name"] == "local"
    assert m["workers"] == "1"
    placed = [i for slot in m["plan"]["slots"] for i in slot["items"]]
    assert sorted(placed) == _ids(4)
    assert len(m["environment"]["hash"]) == 16
    assert m["environment"]["python"] == sys.executable
    assert m["items"] == {"total": 4, "ok": 4, "failed": 0}
    assert m["finished"] >= m["started"] and m["seconds"] >= 0
    assert m["outputs"] == str(result.outputs)
    assert m["summary"] == {"ok": 4, "pids": 1}
    assert sorted(r["item_id"] for r in m["results"]) == _ids(4)
    for r in m["results"]:
        (out,) = r["outputs"]
        assert out["path"] == f"probe/{r['item_id']}.json"
        assert out["sha256"] == sha256_file(result.outputs / out["path"])
        assert r["status"] == "ok" and r["error"] is None


def test_failing_items_fail_the_run_but_not_the_others(agi) -> None:
    result = agi.run("probe", args={"count": 6, "fail": [1, 4]})
    assert result.status == "failed" and not result.ok
    assert result.items == {"total": 6, "ok": 4, "failed": 2}
    assert result.error is None  # items failed; the run itself did not break
    assert sorted(r.item_id for r in result.failed()) == ["item-00001", "item-00004"]
    for r in result.failed():
        assert r.error.type == "ValueError" and "fails on purpose" in r.error.message
    written = sorted(p.stem for p in (result.outputs / "probe").iterdir())
    assert written == ["item-00000", "item-00002", "item-00003", "item-00005"]
    log = (result.run_dir / "logs" / "run.log").read_text()
    assert "item item-00001 failed: ValueError: probe item 1 fails on purpose" in log
    assert f"run {result.run_id} failed" in log


def test_command_line_strings_are_typed_by_the_args_fields(agi) -> None:
    result = agi.run("probe", args={"count": "3", "fail": "[0]", "write": "false"})
    assert result.items == {"total": 3, "ok": 2, "failed": 1}
    assert not (result.outputs / "probe").exists()


def test_out_directs_outputs(agi, tmp_path: Path) -> None:
    out = tmp_path / "my" / "outputs"
    result = agi.run("probe", args={"count": 2}, out=out)
    assert result.outputs == out.resolve()
    assert sorted(p.name for p in (out / "probe").iterdir()) == [f"{i}.json" for i in _ids(2)]
    assert not (result.run_dir / "outputs").exists()
    assert _manifest(result)["outputs"] == str(out.resolve())


def test_home_argument_overrides_agilab_home(agi, tmp_path: Path, agilab_home: Path) -> None:
    other = tmp_path / "other-home"
    result = agi.run("probe", args={"count": 1}, home=other)
    assert result.manifest.is_relative_to(other / "runs" / "probe")
    assert _run_dirs(agilab_home) == []


def test_capacity_telemetry_is_recorded_after_a_run(agi, agilab_home: Path) -> None:
    agi.run("probe", args={"count": 4})  # probe items report bytes_in = index
    capacities = read_capacities(agilab_home / "capacity.json").hosts
    assert len(capacities) == 1 and all(v > 0 for v in capacities.values())


def test_each_run_gets_its_own_folder(agi, agilab_home: Path) -> None:
    first = agi.run("probe", args={"count": 1})
    second = agi.run("probe", args={"count": 1})
    assert first.run_id != second.run_id
    assert _run_dirs(agilab_home) == sorted([first.run_dir, second.run_dir])


def test_concurrent_runs_get_separate_folders_and_nothing_is_clobbered(agi, agilab_home: Path) -> None:
    results: list[RunResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def go(n: int) -> None:
        try:
            barrier.wait()
            results.append(agi.run("probe", args={"count": n}))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(n,)) for n in (3, 4, 5, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.run_id for r in results}) == 4
    assert len(_run_dirs(agilab_home)) == 4
    for r in results:
        m = _manifest(r)
        n = r.items["total"]
        assert m["run_id"] == r.run_id and m["status"] == "ok"
        assert sorted(x["item_id"] for x in m["results"]) == _ids(n)
        assert sorted(p.stem for p in (r.outputs / "probe").iterdir()) == _ids(n)


# -- planning only ------------------------------------------------------------------


def test_get_distrib_plans_every_item_once_and_runs_nothing(agi, agilab_home: Path) -> None:
    plan = agi.get_distrib("probe", executor="pool", workers=3, args={"count": 10})
    assert isinstance(plan, PlanResult)
    assert (plan.app, plan.executor, plan.workers) == ("probe", "pool", "3")
    assert [i.id for i in plan.items] == _ids(10)
    placed = [i for ids in plan.plan.assignments for i in ids]
    assert sorted(placed) == _ids(10)
    assert len(plan.plan.slots) == 3
    assert not (agilab_home / "runs").exists()
    assert not (agilab_home / "capacity.json").exists()


def test_plan_to_dict_adds_weights_per_slot(agi) -> None:
    data = agi.get_distrib("probe", executor="pool", workers=2, args={"count": 6}).to_dict()
    assert data["items"] == 6
    weights = {f"item-{i:05d}": 1.0 + (i % 3) for i in range(6)}
    for slot in data["slots"]:
        assert slot["weight"] == sum(weights[i] for i in slot["items"])
    assert sum(s["weight"] for s in data["slots"]) == sum(weights.values())


def test_async_twins_give_the_same_kind_of_result(agi) -> None:
    async def both() -> tuple[PlanResult, RunResult]:
        return await agi.aget_distrib("probe", args={"count": 3}), await agi.arun("probe", args={"count": 3})

    plan, result = asyncio.run(both())
    assert isinstance(plan, PlanResult) and plan.plan.item_count == 3
    assert isinstance(result, RunResult) and result.items == {"total": 3, "ok": 3, "failed": 0}
    assert result.manifest.exists()


# -- refused requests leave nothing behind ----------------------------------------------


def test_unknown_app_lists_installed_apps(agi, agilab_home: Path) -> None:
    with pytest.raises(UsageError) as info:
        agi.run("nope")
    assert str(info.value).startswith("unknown app 'nope'")
    assert "probe" in str(info.value)


def test_unknown_executor_lists_installed_executors(agi, agilab_home: Path) -> None:
    with pytest.raises(UsageError) as info:
        agi.run("probe", executor="slurm", args={"count": 1})
    assert "unknown executor 'slurm'" in str(info.value)
    assert "local" in str(info.value) and "pool" in str(info.value)
    assert not (agilab_home / "runs").exists()


def test_bad_executor_option_is_a_config_error_naming_the_field(agi, agilab_home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        agi.run("probe", executor="pool", workers=1, executor_options={"retries": "-1"}, args={"count": 1})
    message = str(info.value)
    assert message.startswith("executor pool options (-o): ")
    assert "retries" in message
    assert "\n" not in message
    assert not (agilab_home / "runs").exists()


def test_unknown_executor_option_is_named(agi) -> None:
    with pytest.raises(ConfigError, match="unknown field.*retriez"):
        agi.get_distrib("probe", executor="pool", executor_options={"retriez": "2"}, args={"count": 1})


def test_local_executor_option_is_refused(agi) -> None:
    with pytest.raises(ConfigError, match="executor local options"):
        agi.get_distrib("probe", executor="local", executor_options={"anything": "1"}, args={"count": 1})


def test_bad_set_value_is_a_config_error_naming_set(agi, agilab_home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        agi.run("probe", args={"count": "many"})
    assert str(info.value).startswith("--set: invalid value for int")
    assert str(info.value).endswith("@ args.count")
    assert not (agilab_home / "runs").exists()


def test_unknown_set_field_lists_known_fields(agi) -> None:
    with pytest.raises(ConfigError, match=r"--set: unknown field\(s\) counts \(known: count, die_always"):
        agi.run("probe", args={"counts": 3})


def test_bad_workers_is_a_usage_error(agi, agilab_home: Path) -> None:
    with pytest.raises(UsageError, match="--workers 'x=0'"):
        agi.run("probe", executor="pool", workers="x=0", args={"count": 1})


def test_local_executor_refuses_remote_hosts(agi) -> None:
    with pytest.raises(UsageError, match="names other hosts"):
        agi.get_distrib("probe", executor="local", workers="remote=2", args={"count": 1})


def test_empty_plan_is_an_input_error(agi, agilab_home: Path) -> None:
    with pytest.raises(InputError, match="planned no work items"):
        agi.run("probe", args={"count": 0})
    assert not (agilab_home / "runs").exists()


class _TwiceManager(Manager):
    args_type = attrs.make_class("NoArgs", {}, frozen=True)

    def work_items(self, args: Any, env: Any) -> list[WorkItem]:
        return [WorkItem("same"), WorkItem("same")]


def test_duplicate_item_ids_are_an_input_error(agi, agilab_home: Path) -> None:
    spec = AppSpec("twice", _TwiceManager, "agilab_core.testing:ProbeWorker")
    with pytest.raises(InputError, match="planned item id 'same' twice"):
        agi.run(spec)
    assert not (agilab_home / "runs").exists()


# -- settings files -------------------------------------------------------------------


def test_settings_file_supplies_args_and_cluster_defaults(
    agi, agilab_registry, agilab_home: Path, fixtures_on_path: Path
) -> None:
    import plugin_fixtures.good as good

    agilab_registry.register(good, name="good", distribution="agilab-fixture-plugins", version="1")
    settings = agilab_home / "apps" / "fixture_good" / "app_settings.toml"
    plan = agi.get_distrib("fixture_good")
    assert settings.exists()  # seeded from the package: count = 3
    assert plan.plan.item_count == 3 and plan.executor == "local"
    settings.write_text('[args]\ncount = 5\n[cluster]\nexecutor = "fixture_inline"\nworkers = 2\n', encoding="utf-8")
    result = agi.run("fixture_good")
    assert result.executor == "fixture_inline"
    assert result.items["total"] == 5
    assert _manifest(result)["workers"] == "2"
    # --set and explicit arguments win over the file
    assert agi.run("fixture_good", executor="local", args={"count": "1"}).items["total"] == 1


def test_bad_value_in_settings_file_names_the_file(agi, agilab_home: Path) -> None:
    path = agilab_home / "apps" / "probe" / "app_settings.toml"
    path.parent.mkdir(parents=True)
    path.write_text("[args]\ncount = 1.5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        agi.run("probe")
    assert str(info.value).startswith(f"{path}: invalid value for int")


# -- hooks -------------------------------------------------------------------------------


class Observer:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    def run_started(self, run: Any) -> None:
        assert run.run_dir.is_dir() and run.manifest_path.exists()
        self.events.append(("started", run.run_id))

    @hookimpl
    def item_finished(self, run: Any, result: ItemResult) -> None:
        self.events.append(("item", result.item_id))

    @hookimpl
    def run_finished(self, run: Any, manifest: dict[str, Any]) -> None:
        assert read_manifest(run.manifest_path) == json.loads(json.dumps(manifest, default=str))
        self.events.append(("finished", manifest["status"]))


def test_observer_hooks_see_the_run_in_order(agi, agilab_registry) -> None:
    observer = Observer()
    agilab_registry.register(observer, name="observer")
    result = agi.run("probe", args={"count": 3, "fail": [2]})
    kinds = [e[0] for e in observer.events]
    assert kinds == ["started", "item", "item", "item", "finished"]
    assert observer.events[0] == ("started", result.run_id)
    assert sorted(e[1] for e in observer.events if e[0] == "item") == _ids(3)
    assert observer.events[-1] == ("finished", "failed")


def test_on_start_and_on_result_callbacks(agi) -> None:
    started: list[int] = []
    seen: list[str] = []
    agi.run(
        "probe", args={"count": 4}, on_start=lambda run, total: started.append(total), on_result=lambda r: seen.append(r.item_id)
    )
    assert started == [4]
    assert sorted(seen) == _ids(4)


class BrokenObserver:
    @hookimpl
    def item_finished(self, result: ItemResult) -> None:
        raise RuntimeError("telemetry backend down")

    @hookimpl
    def run_finished(self) -> None:
        raise RuntimeError("telemetry backend still down")


def test_an_observer_that_raises_does_not_break_the_run(agi, agilab_registry) -> None:
    agilab_registry.register(BrokenObserver(), name="broken-observer")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = agi.run("probe", args={"count": 2})
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert messages.count("agilab: item_finished hook failed: RuntimeError: telemetry backend down") == 2
    assert "agilab: run_finished hook failed: RuntimeError: telemetry backend still down" in messages
    assert result.ok
    assert result.items == {"total": 2, "ok": 2, "failed": 0}
    assert _manifest(result)["status"] == "ok"


class ReversePlanner:
    """Answers plan_work with the items in reverse order on one slot (a subset of the args)."""

    @hookimpl
    def plan_work(self, items: list[WorkItem], workers: list[Any]) -> Any:
        from agilab_core.plan import WorkPlan

        ids = tuple(i.id for i in reversed(items))
        return WorkPlan((workers[0],), (ids,), (float(len(ids)),))


class FirstPlanner:
    @hookimpl(tryfirst=True)
    def plan_work(self, items: list[WorkItem], workers: list[Any]) -> Any:
        return balance([WorkItem(i.id, weight=1.0) for i in items], workers[:1])


class PassingPlanner:
    @hookimpl(tryfirst=True)
    def plan_work(self) -> None:
        return None


def test_a_plugin_answering_plan_work_takes_over_the_plan(agi, agilab_registry) -> None:
    agilab_registry.register(ReversePlanner(), name="reverse-planner")
    result = agi.run("probe", args={"count": 4})
    m = _manifest(result)
    assert m["plan"]["slots"][0]["items"] == list(reversed(_ids(4)))
    assert [r.item_id for r in result.results] == list(reversed(_ids(4)))  # local runs in plan order


def test_a_tryfirst_plan_work_wins_over_a_plain_one(agi, agilab_registry) -> None:
    agilab_registry.register(ReversePlanner(), name="reverse-planner")
    agilab_registry.register(FirstPlanner(), name="first-planner")
    plan = agi.get_distrib("probe", executor="pool", workers=3, args={"count": 4})
    assert plan.plan.assignments[0] == tuple(_ids(4))  # equal weights keep input order


def test_a_plugin_returning_none_passes_to_the_default(agi, agilab_registry) -> None:
    agilab_registry.register(PassingPlanner(), name="passing-planner")
    plan = agi.get_distrib("probe", executor="pool", workers=2, args={"count": 4})
    assert [len(a) for a in plan.plan.assignments] == [2, 2]


class LosingPlanner:
    @hookimpl
    def plan_work(self, items: list[WorkItem], workers: list[Any]) -> Any:
        return balance(items[1:], workers)


def test_a_plan_that_loses_items_is_refused_naming_the_plugin(agi, agilab_registry, agilab_home: Path) -> None:
    agilab_registry.register(LosingPlanner(), name="losing-planner")
    with pytest.raises(ConfigError, match="plan_work of plugin 'losing-planner' placed 2 of 3 items"):
        agi.run("probe", args={"count": 3})
    assert not (agilab_home / "runs").exists()


class DuplicatingPlanner:
    """Runs the first item twice and drops the last: the count is right, the plan is not."""

    @hookimpl
    def plan_work(self, items: list[WorkItem], workers: list[Any]) -> Any:
        from agilab_core.plan import WorkPlan

        ids = tuple(i.id for i in items[:-1]) + (items[0].id,)
        return WorkPlan((workers[0],), (ids,), (float(len(ids)),))


def test_a_plan_that_runs_an_item_twice_is_refused_naming_the_plugin(agi, agilab_registry, agilab_home: Path) -> None:
    agilab_registry.register(DuplicatingPlanner(), name="twice-planner")
    with pytest.raises(ConfigError, match="plan_work of plugin 'twice-planner' placed item 'item-00000' more than once"):
        agi.run("probe", args={"count": 3})
    assert not (agilab_home / "runs").exists()


class FixedPackager:
    @hookimpl
    def package_worker(self, app: AppSpec) -> WorkerPackage:
        return WorkerPackage(app=app.name, python=sys.executable, env_hash="feedfacecafebeef", kind="custom")


def test_a_plugin_answering_package_worker_changes_the_environment_hash(agi, agilab_registry) -> None:
    default_hash = _manifest(agi.run("probe", args={"count": 1}))["environment"]["hash"]
    agilab_registry.register(FixedPackager(), name="fixed-packager")
    env = _manifest(agi.run("probe", args={"count": 1}))["environment"]
    assert env["hash"] == "feedfacecafebeef" != default_hash
    assert env["kind"] == "custom"


def test_the_default_environment_hash_is_stable(agi) -> None:
    first = _manifest(agi.run("probe", args={"count": 1}))["environment"]["hash"]
    second = _manifest(agi.run("probe", args={"count": 2}))["environment"]["hash"]
    assert first == second


# -- executors that misbehave ------------------------------------------------------------


@attrs.frozen
class ScriptOptions:
    mode: str = "ok"
    api_token: str = ""
    endpoint: str = ""
    plain_word: str = attrs.field(default="", metadata={"secret": True})


class ScriptedExecutor(Executor):
    """In-process executor whose ``mode`` option chooses how it misbehaves."""

    closed = 0

    def run(self, plan: Any, items: Mapping[str, WorkItem], task: Any, on_result: Any) -> None:
        session = task.start(plan.slots[0].id)
        first: Any = None
        mode = self.config.mode
        ids = sorted((i for a in plan.assignments for i in a), reverse=mode == "reverse")
        for n, item_id in enumerate(ids):
            if mode == "leak" and n == 1:
                raise ConnectionError(f"cannot reach {self.config.endpoint} with {self.config.plain_word}")
            if mode == "crash" and n == 2:
                raise RuntimeError("cluster vanished\nwith details")
            if mode == "interrupt" and n == 1:
                raise KeyboardInterrupt
            if mode == "drop" and n % 2:
                continue
            result = session.run(items[item_id])
            if mode == "collide" and n == 3:
                continue  # reported already, under the collision
            if mode == "collide" and n == 2:
                result = attrs.evolve(result, outputs=first.outputs)
            if mode == "alter" and n == 1:
                (task.output_dir / result.outputs[0].path).write_bytes(b"x" * (result.outputs[0].bytes + 1))
            if mode == "remove" and n == 1:
                (task.output_dir / result.outputs[0].path).unlink()
            on_result(result)
            if mode == "twice":
                on_result(attrs.evolve(result, status="failed"))
            if mode == "unknown" and n == 0:
                on_result(attrs.evolve(result, item_id="item-not-planned"))
            if n == 0:
                first = result
        session.stop()

    def info(self) -> dict[str, Any]:
        return {"dashboard": "http://scripted"}

    def close(self) -> None:
        type(self).closed += 1


class ScriptedPlugin:
    @hookimpl
    def register_executors(self) -> list[ExecutorSpec]:
        return [ExecutorSpec("scripted", ScriptedExecutor, ScriptOptions)]


@pytest.fixture
def scripted(agi, agilab_registry) -> Any:
    agilab_registry.register(ScriptedPlugin(), name="scripted-plugin")
    ScriptedExecutor.closed = 0
    return agi


def test_executor_info_and_redacted_options_are_in_the_manifest(scripted) -> None:
    result = scripted.run("probe", executor="scripted", executor_options={"api_token": "s3cret"}, args={"count": 2})
    m = _manifest(result)
    assert m["executor"]["options"] == {"mode": "ok", "api_token": "***", "endpoint": "", "plain_word": ""}
    assert "s3cret" not in result.manifest.read_text()
    assert m["executor"]["info"] == {"dashboard": "http://scripted"}
    assert ScriptedExecutor.closed == 1


class _OrderManager(ProbeManager):
    def reduce(self, results: list[Any], run: Any) -> dict[str, Any]:
        return {"order": [r.item_id for r in results]}


def test_reduce_sees_results_by_item_id_whatever_order_they_arrived_in(scripted) -> None:
    """Pool and dask finish items in an order of their own; a float total summed in it would change from run to run."""
    spec = AppSpec("ordered", _OrderManager, "agilab_core.testing:ProbeWorker")
    result = scripted.run(spec, executor="scripted", executor_options={"mode": "reverse"}, args={"count": 4})
    assert [r.item_id for r in result.results] == _ids(4)[::-1]  # as they arrived
    assert result.summary == {"order": _ids(4)}


def test_executor_that_breaks_mid_run_gives_a_failed_run_with_the_reason(scripted) -> None:
    result = scripted.run("probe", executor="scripted", executor_options={"mode": "crash"}, args={"count": 5})
    assert result.status == "failed"
    assert result.error == "RuntimeError: cluster vanished"
    assert result.items == {"total": 5, "ok": 2, "failed": 0, "unfinished": 3}
    m = _manifest(result)
    assert m["status"] == "failed"
    assert m["error"] == "RuntimeError: cluster vanished"
    done = {r.item_id for r in result.results}
    assert len(done) == 2
    assert m["unfinished"] == sorted(set(_ids(5)) - done)
    assert ScriptedExecutor.closed == 1
    assert "run failed: RuntimeError: cluster vanished" in (result.run_dir / "logs" / "run.log").read_text()


def test_items_the_executor_never_reports_are_recorded_as_lost(scripted) -> None:
    result = scripted.run("probe", executor="scripted", executor_options={"mode": "drop"}, args={"count": 4})
    assert result.status == "failed"
    lost = {r.item_id: r for r in result.failed()}
    assert sorted(lost) == ["item-00001", "item-00003"]
    assert all(r.error.type == "LostItem" for r in lost.values())
    assert result.items == {"total": 4, "ok": 2, "failed": 2}


def test_an_item_reported_twice_is_a_recorded_contract_violation(scripted) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = scripted.run("probe", executor="scripted", executor_options={"mode": "twice"}, args={"count": 3})
    assert [str(w.message) for w in caught] == [f"agilab: executor scripted reported item 'item-0000{i}' twice" for i in range(3)]
    assert result.status == "failed"
    assert result.items == {"total": 3, "ok": 3, "failed": 0}  # the first report is the one recorded
    m = _manifest(result)
    assert len(m["results"]) == 3
    assert m["error"] == "contract violation: executor scripted reported item 'item-00000' twice (and 2 more)"
    assert len(m["contract_violations"]) == 3
    assert "contract violation" in (result.run_dir / "logs" / "run.log").read_text()


def test_an_unknown_item_reported_is_a_recorded_contract_violation(scripted) -> None:
    with pytest.warns(UserWarning, match="not part of this run"):
        result = scripted.run("probe", executor="scripted", executor_options={"mode": "unknown"}, args={"count": 2})
    assert result.status == "failed"
    assert [r.item_id for r in result.results] == _ids(2)
    assert _manifest(result)["contract_violations"] == ["executor scripted reported item 'item-not-planned', which is not part of this run"]


@pytest.mark.parametrize(("mode", "why"), [("alter", "has {size} bytes, {recorded} were recorded"), ("remove", "is missing")])
def test_an_output_not_as_recorded_fails_its_item_naming_the_file(scripted, mode: str, why: str) -> None:
    result = scripted.run("probe", executor="scripted", executor_options={"mode": mode}, args={"count": 3})
    assert result.status == "failed"
    (bad,) = result.failed()
    assert bad.item_id == "item-00001"
    assert bad.error.type == "OutputMismatch"
    recorded = len(json.dumps({"item": "item-00001", "worker": "localhost/0"}))
    assert bad.error.message == "output probe/item-00001.json: " + why.format(size=recorded + 1, recorded=recorded)
    assert bad.outputs == ()


def test_two_items_claiming_one_output_both_fail_and_name_each_other(scripted) -> None:
    # item 2 reports item 0's file (which it did not write): the later item fails naming
    # both; item 0 keeps its ok result, its file being untouched.
    result = scripted.run("probe", executor="scripted", executor_options={"mode": "collide"}, args={"count": 4})
    failed = {r.item_id: r for r in result.failed()}
    assert failed["item-00002"].error.type == "OutputCollision"
    assert failed["item-00002"].error.message == "output probe/item-00000.json is also written by item item-00000; two items may not share an output"
    assert "item-00000" not in failed
    assert failed["item-00003"].error.type == "LostItem"


def test_an_on_start_callback_that_raises_still_finishes_the_record(agi, agilab_home: Path) -> None:
    def boom(run: Any, total: int) -> None:
        raise RuntimeError("progress bar broke")

    result = agi.run("probe", args={"count": 2}, on_start=boom)
    assert result.status == "failed"
    assert result.error == "RuntimeError: progress bar broke"
    (run_dir,) = _run_dirs(agilab_home)
    m = read_manifest(run_dir / "manifest.json")
    assert m["status"] == "failed"
    assert m["error"] == "RuntimeError: progress bar broke"
    assert m["unfinished"] == _ids(2)
    log = (run_dir / "logs" / "run.log").read_text()
    assert log.rstrip().endswith("failed")


def test_an_on_result_callback_that_raises_still_finishes_the_record(agi, agilab_home: Path) -> None:
    def boom(result: Any) -> None:
        raise ValueError("consumer gone")

    result = agi.run("probe", args={"count": 2}, on_result=boom)
    assert (result.status, result.error) == ("failed", "ValueError: consumer gone")
    (run_dir,) = _run_dirs(agilab_home)
    assert read_manifest(run_dir / "manifest.json")["status"] == "failed"


def test_interrupted_run_records_an_interrupted_manifest_and_re_raises(scripted, agilab_home: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        scripted.run("probe", executor="scripted", executor_options={"mode": "interrupt"}, args={"count": 3})
    (run_dir,) = _run_dirs(agilab_home)
    m = read_manifest(run_dir / "manifest.json")
    assert m["status"] == "interrupted"
    done = {r["item_id"] for r in m["results"]}
    assert len(done) == 1
    assert m["unfinished"] == sorted(set(_ids(3)) - done)
    assert ScriptedExecutor.closed == 1


def test_measured_capacity_is_keyed_by_the_planned_host(scripted, agilab_home: Path) -> None:
    # The balancer looks capacities up by slot host (the --workers name); the
    # telemetry a run records must use the same names or it is never applied.
    result = scripted.run("probe", executor="scripted", workers="alpha=1", args={"count": 4})
    assert result.ok
    slot_hosts = {s.host for s in WorkersSpec.parse("alpha=1").slots()}
    assert set(read_capacities(agilab_home / "capacity.json").hosts) <= slot_hosts


# -- the pool executor ---------------------------------------------------------------------


def test_pool_run_with_typed_options(agi) -> None:
    result = agi.run("probe", executor="pool", workers=2, executor_options={"retries": "2"}, args={"count": 6, "fail": [3]})
    assert result.items == {"total": 6, "ok": 5, "failed": 1}
    m = _manifest(result)
    assert m["executor"]["name"] == "pool"
    assert m["executor"]["options"]["retries"] == 2
    assert m["workers"] == "2"
    assert len(m["plan"]["slots"]) == 2


def test_secrets_never_reach_the_evidence_or_the_result(scripted) -> None:
    # a password inside a URL, and a field marked secret whose value looks like any word
    options = {"mode": "leak", "endpoint": "tcp://ops:hunter2-pw@127.0.0.1:8786", "plain_word": "swordfish-42"}
    result = scripted.run("probe", executor="scripted", executor_options=options, args={"count": 3})
    assert result.status == "failed"
    assert "ops:***@127.0.0.1:8786" in result.error
    m = _manifest(result)
    assert m["executor"]["options"]["endpoint"] == "tcp://ops:***@127.0.0.1:8786"
    assert m["executor"]["options"]["plain_word"] == "***"
    for path in result.run_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "hunter2-pw" not in text and "swordfish-42" not in text, path
    assert "hunter2-pw" not in repr(result) and "swordfish-42" not in repr(result)


# -- any item id -------------------------------------------------------------------------

_ID_TEXT = st.lists(st.text(st.characters(), min_size=1, max_size=8) | st.sampled_from(["\x1b[31m", "\x00", "\udcff", "[/x]", "\n"]), min_size=1, max_size=5).map("".join)


@attrs.frozen
class IdsArgs(ProbeArgs):
    ids: list[str] = attrs.field(factory=list)


class _IdsManager(Manager):
    args_type = IdsArgs

    def work_items(self, args: IdsArgs, env: Any) -> list[WorkItem]:
        return [WorkItem(i, {"index": n}) for n, i in enumerate(args.ids)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(_ID_TEXT, min_size=1, max_size=5, unique=True))
def test_any_item_id_round_trips_through_journal_manifest_and_reading(agi, ids: list[str]) -> None:
    # ids come from file names: markup, escapes, control and undecodable bytes (surrogates) included
    spec = AppSpec("ids", _IdsManager, "agilab_core.testing:ProbeWorker")
    result = agi.run(spec, args={"ids": ids, "write": False})  # the probe names its outputs after ids
    assert sorted(r.item_id for r in result.results) == sorted(ids)
    assert result.ok
    read_back = read_run(result.manifest)
    assert sorted(r["item_id"] for r in read_back["results"]) == sorted(ids)
    assert sorted(latest_by_item(result.run_dir / "items.jsonl")) == sorted(ids)


class RemoteScripted(ScriptedExecutor):
    remote = True


class RemotePlugin:
    @hookimpl
    def register_executors(self) -> list[ExecutorSpec]:
        return [ExecutorSpec("far", RemoteScripted, ScriptOptions)]


def test_a_remote_executor_refuses_an_app_without_worker_modules(agi, agilab_registry, agilab_home: Path) -> None:
    agilab_registry.register(RemotePlugin(), name="remote-plugin")
    with pytest.raises(AgilabError) as info:
        agi.run("probe", executor="far", args={"count": 2})
    message = str(info.value)
    assert "probe" in message and "worker_modules" in message and "\n" not in message
    assert not (agilab_home / "runs").exists()


def test_a_run_leaves_no_open_evidence_file_and_no_thread(agi) -> None:
    import os

    result = agi.run("probe", args={"count": 3})
    run_dir = str(result.run_dir)
    open_files = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")]
    assert [f for f in open_files if f.startswith(run_dir)] == []
    assert [t.name for t in threading.enumerate() if t.name == "agilab-journal-sync"] == []
