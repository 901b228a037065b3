"""Notes of run folders on the hosts: only those of a manager that is gone are swept, and only run folders."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
from agilab_core.evidence import boot_id, process_start
from agilab_executor_ssh.leftovers import Leftovers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RUN = "20261203-040000-abc123"
FOLDERS = {"alice@lab2": f"/home/alice/.agilab-ssh/runs/{RUN}", "bob@lab3": f"/scratch/bob/runs/{RUN}"}


@pytest.fixture(scope="module")
def dead_manager() -> dict:
    """What a manifest records of a manager process, for one that has ended since."""
    proc = subprocess.Popen(["sleep", "60"])
    identity = {"host": socket.gethostname(), "pid": proc.pid, "boot_id": boot_id(), "process_start": process_start(proc.pid)}
    proc.kill()
    proc.wait()
    return identity


def write_note(folder: Path, run_id: str, manager: dict, folders: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run_id}.json").write_text(json.dumps({"run_id": run_id, "manager": manager, "folders": folders}))


def test_a_live_managers_note_is_not_stale_and_goes_when_its_hosts_are_cleared(tmp_path: Path) -> None:
    notes = Leftovers(tmp_path / "runs")
    notes.note(RUN, FOLDERS)
    assert (tmp_path / "runs").stat().st_mode & 0o777 == 0o700
    assert notes.stale(set(FOLDERS)) == {}  # this process wrote it: a run going on
    notes.cleared(RUN, {"alice@lab2"})
    assert json.loads((tmp_path / "runs" / f"{RUN}.json").read_text())["folders"] == {"bob@lab3": FOLDERS["bob@lab3"]}
    notes.cleared(RUN, {"bob@lab3"})
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_dead_managers_folders_are_stale_on_the_hosts_asked_about(tmp_path: Path, dead_manager: dict) -> None:
    write_note(tmp_path, RUN, dead_manager, FOLDERS)
    notes = Leftovers(tmp_path)
    assert notes.stale({"alice@lab2", "carol@lab4"}) == {RUN: {"alice@lab2": FOLDERS["alice@lab2"]}}
    assert notes.stale({"carol@lab4"}) == {}


@pytest.mark.parametrize(
    "manager",
    [
        {"host": "another-machine", "pid": 1, "boot_id": None, "process_start": None},  # cannot tell: taken as alive
        "not a mapping",
        None,
    ],
)
def test_a_manager_that_cannot_be_told_gone_keeps_its_folders(tmp_path: Path, manager: object) -> None:
    write_note(tmp_path, RUN, manager, FOLDERS)  # type: ignore[arg-type]
    assert Leftovers(tmp_path).stale(set(FOLDERS)) == {}


@pytest.mark.parametrize(
    "folder",
    [
        "/etc",
        "/home/alice",
        "/home/alice/.agilab-ssh/runs",
        "/home/alice/.agilab-ssh/runs/another-run",
        f"/home/alice/.agilab-ssh/runs/x/../{RUN}",
        f"/home/alice/.agilab-ssh/runs//{RUN}",
        f"home/alice/runs/{RUN}",
        f"/home/alice/data/{RUN}",
        f"/home/alice/.agilab-ssh/runs/{RUN}/",
        7,
        None,
        ["/", "x"],
    ],
)
def test_a_note_is_trusted_to_name_its_own_run_folder_only(tmp_path: Path, dead_manager: dict, folder: object) -> None:
    write_note(tmp_path, RUN, dead_manager, {"alice@lab2": folder})
    assert Leftovers(tmp_path).stale({"alice@lab2"}) == {}


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[]", b"null", b"\xff\xfe not utf-8", b"[" * 100_000, json.dumps({"run_id": "another", "folders": {}}).encode(), b'{"run_id": "%s"}' % RUN.encode()],
    ids=["empty", "truncated", "array", "null", "not-utf8", "deep", "other-run-id", "no-folders"],
)
def test_damaged_notes_are_left_alone(tmp_path: Path, content: bytes) -> None:
    (tmp_path / f"{RUN}.json").write_bytes(content)
    (tmp_path / "..json").write_text("{}")
    (tmp_path / "not-a-note.txt").write_text("{}")
    notes = Leftovers(tmp_path)
    assert notes.stale({"alice@lab2"}) == {}
    notes.cleared(RUN, {"alice@lab2"})  # a damaged note of the run is removed with it, whatever it held
    assert not (tmp_path / f"{RUN}.json").exists()


def test_without_a_home_or_a_writable_one_nothing_is_noted_and_nothing_fails(tmp_path: Path) -> None:
    Leftovers(None).note(RUN, FOLDERS)
    assert Leftovers(None).stale(set(FOLDERS)) == {}
    blocked = tmp_path / "file"
    blocked.write_text("")
    Leftovers(blocked / "runs").note(RUN, FOLDERS)  # its parent is a file: no note, no error
    Leftovers(tmp_path / "runs").note("../escape", FOLDERS)
    assert not (tmp_path / "escape.json").exists() and not (tmp_path / "runs").exists()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manager=json_values, folders=st.dictionaries(st.sampled_from(["alice@lab2", "bob@lab3"]), json_values | st.just(FOLDERS["alice@lab2"])))
def test_whatever_a_note_holds_only_run_folders_of_its_run_come_out(tmp_path: Path, dead_manager: dict, manager: object, folders: dict) -> None:
    for candidate in (manager, dead_manager):
        write_note(tmp_path, RUN, candidate, folders)  # type: ignore[arg-type]
        for run_id, found in Leftovers(tmp_path).stale({"alice@lab2", "bob@lab3"}).items():
            assert run_id == RUN and all(f.startswith("/") and f.endswith(f"/runs/{RUN}") for f in found.values())
