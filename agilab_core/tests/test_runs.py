"""Reading runs back: dead managers shown as interrupted, damaged evidence named in one line, never a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from agilab_core.atomic import write_json
from agilab_core.errors import UsageError
from agilab_core.evidence import manager_identity
from agilab_core.runs import DamagedEvidence, find_run, list_runs, manager_alive, read_manifest, read_run
from hypothesis import given
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _running(root: Path, run_id: str, manager: dict, items: list[str]) -> Path:
    path = root / "app" / run_id / "manifest.json"
    write_json(path, {
        "run_id": run_id, "status": "running", "app": {"name": "app"}, "started": 1.0, "manager": manager,
        "plan": {"slots": [{"worker": "w", "items": items}]}, "journal": "items.jsonl",
    })
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_run_whose_manager_is_gone_reads_as_interrupted_with_its_journal(tmp_path: Path) -> None:
    manager = {**manager_identity(), "pid": _dead_pid()}
    manager["process_start"] = -1  # whatever now has that pid started at another time
    path = _running(tmp_path, "r1", manager, ["a", "b", "c"])
    (path.parent / "items.jsonl").write_text(json.dumps({"item_id": "a", "status": "ok"}) + "\n" + '{"item_id": "b", "stat')
    m = read_run(path)
    assert m["status"] == "interrupted"
    assert m["items"] == {"total": 3, "ok": 1, "failed": 0, "unfinished": 2}
    assert m["unfinished"] == ["b", "c"]
    assert "ended before the run finished" in m["error"]
    assert json.loads(path.read_text())["status"] == "running"  # reading rewrites nothing


def test_a_run_whose_manager_lives_stays_running(tmp_path: Path) -> None:
    path = _running(tmp_path, "r1", manager_identity(), ["a"])
    assert read_run(path)["status"] == "running"


def test_a_reused_pid_is_not_taken_for_the_manager() -> None:
    me = manager_identity()
    assert manager_alive(me) is True
    assert manager_alive({**me, "process_start": me["process_start"] + 1}) is False
    assert manager_alive({**me, "boot_id": "another-boot"}) is False
    assert manager_alive({**me, "host": "elsewhere.invalid"}) is None


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"run_id": "x", "status": "ok", "app": {"na', "truncated or not JSON"),
        (b"[1, 2]", "a JSON list, expected an object"),
        (b'{"run_id": 5, "status": "ok", "app": {"name": "a"}}', "run_id, status or app.name missing"),
        (b"\xff\xfe\x00binary", "truncated or not JSON"),
    ],
)
def test_a_damaged_manifest_is_named_in_one_line(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(content)
    with pytest.raises(DamagedEvidence) as caught:
        read_manifest(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and why in message and "\n" not in message


def test_list_runs_skips_damaged_runs_and_reports_each(tmp_path: Path) -> None:
    write_json(tmp_path / "a" / "good" / "manifest.json", {"run_id": "good", "status": "ok", "app": {"name": "a"}, "started": 2})
    bad = tmp_path / "a" / "bad" / "manifest.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    runs, problems = list_runs(tmp_path)
    assert [m["run_id"] for m in runs] == ["good"]
    assert len(problems) == 1 and problems[0].startswith(str(bad))


def test_find_run_takes_glob_characters_literally(tmp_path: Path) -> None:
    write_json(tmp_path / "a" / "r-1" / "manifest.json", {})
    with pytest.raises(UsageError, match="no run"):
        find_run(tmp_path, "*")
    with pytest.raises(UsageError, match="is not a run id"):
        find_run(tmp_path, "../a")


@given(json_values)
def test_any_json_manifest_either_reads_or_is_damaged_evidence(value) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "app" / "r" / "manifest.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(value))
        try:
            m = read_run(path)
        except DamagedEvidence as exc:
            assert "\n" not in str(exc)
        else:
            assert isinstance(m["run_id"], str) and isinstance(m["app"]["name"], str)
        list_runs(Path(folder))


@given(st.binary(max_size=200))
def test_any_bytes_as_a_manifest_never_crash_listing(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "app" / "r" / "manifest.json"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        runs, problems = list_runs(Path(folder))
        assert len(runs) + len(problems) == 1


def test_manager_identity_names_this_process() -> None:
    me = manager_identity()
    assert me["pid"] == os.getpid() and isinstance(me["process_start"], int)
