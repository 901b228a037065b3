"""`--resume`: a new run of only what the old one did not finish well, into the same outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from agilab_core.errors import UsageError
from agilab_core.evidence import RUN_INTERRUPTED
from agilab_core.runs import read_run

from agilab_core import AppSpec, WorkerPackage, hookimpl


def _manifest(result) -> dict:
    return json.loads(result.manifest.read_text())


def test_resume_runs_only_items_not_ok_and_carries_the_others(agi) -> None:
    first = agi.run("probe", args={"count": 5})
    outputs = first.outputs / "probe"
    (outputs / "item-00001.json").unlink()  # lost since
    (outputs / "item-00003.json").write_text("edited by hand")  # changed since
    seen: list[str] = []
    second = agi.run("probe", args={"count": 5}, resume=first.run_id, on_result=lambda r: seen.append(r.item_id))
    assert second.ok
    assert second.run_id != first.run_id
    assert second.outputs == first.outputs
    m = _manifest(second)
    assert m["resumed_from"] == first.run_id
    assert m["carried_over"] == ["item-00000", "item-00002", "item-00004"]
    assert sorted(seen) == ["item-00000", "item-00001", "item-00002", "item-00003", "item-00004"]
    assert sorted(r["item_id"] for r in m["results"]) == [f"item-{i:05d}" for i in range(5)]
    assert sorted(i for slot in m["plan"]["slots"] for i in slot["items"]) == ["item-00001", "item-00003"]
    assert second.items == {"total": 5, "ok": 5, "failed": 0}
    assert sorted(p.name for p in outputs.iterdir()) == [f"item-{i:05d}.json" for i in range(5)]
    assert json.loads((outputs / "item-00003.json").read_text())["item"] == "item-00003"


def test_resume_of_a_complete_run_runs_nothing_and_is_ok(agi) -> None:
    first = agi.run("probe", args={"count": 3})
    second = agi.run("probe", args={"count": 3}, resume=first.run_id)
    assert second.ok and second.items["total"] == 3
    assert sum(len(s["items"]) for s in _manifest(second)["plan"]["slots"]) == 0


def test_resume_completes_an_interrupted_run(agi, agilab_home: Path) -> None:
    def stop_after_two(result) -> None:
        if result.item_id == "item-00001":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        agi.run("probe", args={"count": 4}, on_result=stop_after_two)
    (run_dir,) = [p.parent for p in (agilab_home / "runs" / "probe").glob("*/manifest.json")]
    old = read_run(run_dir / "manifest.json")
    assert old["status"] == RUN_INTERRUPTED
    resumed = agi.run("probe", args={"count": 4}, resume=old["run_id"])
    assert resumed.ok
    assert _manifest(resumed)["carried_over"] == sorted(r["item_id"] for r in old["results"])


def test_resume_is_refused_when_the_arguments_changed(agi, agilab_home: Path) -> None:
    first = agi.run("probe", args={"count": 3})
    with pytest.raises(UsageError, match=rf"cannot resume run {first.run_id}: the app's arguments changed since \(count\)"):
        agi.run("probe", args={"count": 4}, resume=first.run_id)
    assert len(list((agilab_home / "runs" / "probe").iterdir())) == 1  # nothing half-made


class OtherEnvironment:
    @hookimpl
    def package_worker(self, app: AppSpec) -> WorkerPackage:
        return WorkerPackage(app=app.name, python=sys.executable, env_hash="0123456789abcdef", kind="custom")


def test_resume_is_refused_when_the_environment_changed(agi, agilab_registry) -> None:
    first = agi.run("probe", args={"count": 2})
    agilab_registry.register(OtherEnvironment(), name="other-environment")
    with pytest.raises(UsageError, match="its worker environment was .*, it is now 0123456789abcdef"):
        agi.run("probe", args={"count": 2}, resume=first.run_id)


def test_resume_of_an_unknown_run_is_a_usage_error(agi) -> None:
    with pytest.raises(UsageError, match="no run 'nope'"):
        agi.run("probe", resume="nope")
