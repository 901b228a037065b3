"""capacity.json: measured, smoothed, robust to damage, concurrency, read-only homes and full disks."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agilab_core.app import ItemResult
from agilab_core.capacity import MAX_BYTES_PER_S, Capacities, read_capacities, update_capacities
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _result(worker: str, host: str, nbytes: int, seconds: float, status: str = "ok") -> ItemResult:
    return ItemResult(f"{worker}-{nbytes}-{seconds}", status, worker, host, 100.0, 100.0 + seconds, bytes_in=nbytes)


SLOTS = {"a/0": "a", "a/1": "a", "b/0": "b"}


def _strict(path: Path) -> Any:
    """The file parsed as strict JSON: NaN or Infinity in it fails the test."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{path} holds {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


# -- measuring ----------------------------------------------------------------------


def test_update_records_bytes_per_second_per_host(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    results = [
        _result("a/0", "a", 100, 1.0),
        _result("a/0", "a", 300, 1.0),  # slot a/0: 400 B in 2 s = 200 B/s
        _result("a/1", "a", 400, 1.0),  # slot a/1: 400 B/s; host a: mean 300
        _result("b/0", "b", 50, 2.0),
    ]
    assert update_capacities(path, results, SLOTS) is None
    assert read_capacities(path) == Capacities({"a": pytest.approx(300.0), "b": pytest.approx(25.0)}, None)


def test_update_counts_only_ok_items_of_plan_slots(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    results = [
        _result("a/0", "a", 100, 1.0),
        _result("a/0", "a", 10_000, 1.0, status="failed"),
        _result("stray/9", "stray", 100, 1.0),
    ]
    update_capacities(path, results, SLOTS)
    assert read_capacities(path).hosts == {"a": pytest.approx(100.0)}


def test_update_with_nothing_measured_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    assert update_capacities(path, [_result("a/0", "a", 0, 1.0), _result("b/0", "b", 99, 1.0, status="failed")], SLOTS) is None
    assert not path.exists()


def test_update_smooths_with_the_previous_value(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    update_capacities(path, [_result("a/0", "a", 100, 1.0), _result("b/0", "b", 10, 1.0)], SLOTS)
    update_capacities(path, [_result("a/0", "a", 300, 1.0)], SLOTS, smoothing=0.25)
    # a: 0.25 * 100 + 0.75 * 300; b untouched
    assert read_capacities(path).hosts == {"a": pytest.approx(250.0), "b": pytest.approx(10.0)}


def test_unusable_measurements_are_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    clock_went_wrong = ItemResult("x", "ok", "b/0", "b", 100.0, math.nan, bytes_in=100)
    absurd = _result("a/0", "a", 10**400, 1.0)
    assert update_capacities(path, [clock_went_wrong, absurd], SLOTS) is None
    assert not path.exists()


def test_smoothing_outside_0_1_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="smoothing"):
        update_capacities(tmp_path / "c.json", [_result("a/0", "a", 1, 1.0)], SLOTS, smoothing=1.5)


# -- reading damaged files -------------------------------------------------------------


def test_a_missing_file_is_empty_without_problem(tmp_path: Path) -> None:
    assert read_capacities(tmp_path / "absent.json") == Capacities({}, None)


@pytest.mark.parametrize(
    ("content", "usable", "problem"),
    [
        (b'{"hosts": {"a": {"bytes_per_s": 10', {}, "not valid JSON (Expecting ',' delimiter at line 1"),
        (b"", {}, "empty file"),
        (b"[]", {}, 'expected an object {"hosts": {...}}, found a list'),
        (b'"hosts"', {}, "found a string"),
        (b'{"hosts": 3}', {}, '"hosts" is a number, expected an object'),
        (b'{"hosts": {"a": {"bytes_per_s": "fast"}}}', {}, "ignored 1 of 1 hosts ('a': bytes_per_s is str, not a number)"),
        (b'{"hosts": {"a": {"bytes_per_s": NaN}, "b": {"bytes_per_s": 5}}}', {"b": 5.0}, "'a': bytes_per_s is nan"),
        (b'{"hosts": {"a": {"bytes_per_s": Infinity}}}', {}, "'a': bytes_per_s is inf"),
        (b'{"hosts": {"a": {"bytes_per_s": 1e400}}}', {}, "'a': bytes_per_s is inf"),
        (b'{"hosts": {"a": {"bytes_per_s": -3}, "b": {"bytes_per_s": 0}}}', {}, "'a': bytes_per_s is -3, not positive; 'b': bytes_per_s is 0"),
        (b'{"hosts": {"a": {"bytes_per_s": 1' + b"0" * 400 + b"}}}", {}, "'a': bytes_per_s is too large"),
        (b'{"hosts": {"a": {"bytes_per_s": 1e300}}}', {}, "'a': bytes_per_s is 1e+300, above 1e+15"),
        (b'{"hosts": {"a": {"bytes_per_s": true}, "b": [1]}}', {}, "'a': bytes_per_s is bool, not a number; 'b': entry is a list"),
        (b'{"hosts": {"a": {"bytes_per_s": 1' + b"0" * 5000 + b"}}}", {}, "not valid JSON (ValueError"),
        (b"[" * 100_000, {}, "not valid JSON"),
        (b'{"hosts": {"\xff": {"bytes_per_s": 1}}}', {}, "not UTF-8 text (byte 12)"),
    ],
)
def test_a_damaged_file_keeps_usable_entries_and_says_what_is_wrong_in_one_line(
    tmp_path: Path, content: bytes, usable: dict[str, float], problem: str
) -> None:
    path = tmp_path / "capacity.json"
    path.write_bytes(content)
    found = read_capacities(path)
    assert found.hosts == usable
    assert found.problem is not None and found.problem.startswith(f"{path}: ")
    assert problem in found.problem and "\n" not in found.problem


def test_many_bad_hosts_are_summarised(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    hosts = {f"h{i}": {"bytes_per_s": -1} for i in range(6)} | {"ok\nhost": {"bytes_per_s": 2.5}}
    path.write_text(json.dumps({"hosts": hosts}))
    found = read_capacities(path)
    assert found.hosts == {"ok\nhost": 2.5}
    assert "ignored 6 of 7 hosts" in found.problem and found.problem.endswith("and 3 more)")


def test_a_folder_in_place_of_the_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    path.mkdir()
    assert read_capacities(path).problem == f"{path}: cannot read: [Errno 21] Is a directory: '{path}'"
    problem = update_capacities(path, [_result("a/0", "a", 100, 1.0)], SLOTS)
    assert problem is not None and problem.startswith(f"{path}: capacity not updated: ")


# -- repairing ------------------------------------------------------------------------


def test_update_rewrites_a_damaged_file_clean_keeping_usable_entries(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    path.write_text('{"hosts": {"a": {"bytes_per_s": NaN}, "b": {"bytes_per_s": 40, "updated": 1.5}, "c": "x"}}')
    problem = update_capacities(path, [_result("a/0", "a", 100, 1.0)], SLOTS)
    assert problem is not None and "ignored 2 of 3 hosts" in problem and problem.endswith("rewritten with the usable entries")
    assert read_capacities(path) == Capacities({"a": pytest.approx(100.0), "b": 40.0}, None)
    assert _strict(path)["hosts"]["b"] == {"bytes_per_s": 40.0, "updated": 1.5}


def test_update_replaces_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    path.write_text("{ damaged")
    assert "not valid JSON" in update_capacities(path, [_result("a/0", "a", 100, 1.0)], SLOTS)
    assert read_capacities(path) == Capacities({"a": pytest.approx(100.0)}, None)


# -- unwritable homes -----------------------------------------------------------------


def test_a_read_only_home_is_a_problem_line_not_an_exception(mounted) -> None:
    home = mounted("ro", "size=1m")
    path = home / "capacity.json"
    update_capacities(path, [_result("a/0", "a", 100, 1.0)], SLOTS)
    subprocess.run(["mount", "-o", "remount,ro", str(home)], check=True)
    problem = update_capacities(path, [_result("b/0", "b", 100, 1.0)], SLOTS)
    assert problem is not None and problem.startswith(f"{path}: capacity not updated: ") and "Read-only file system" in problem
    assert read_capacities(path) == Capacities({"a": pytest.approx(100.0)}, None)


def test_a_full_disk_is_a_problem_line_and_keeps_the_previous_file(mounted) -> None:
    home = mounted("full", "size=64k")
    path = home / "capacity.json"
    update_capacities(path, [_result("a/0", "a", 100, 1.0)], SLOTS)
    with open(home / "filler", "wb", buffering=0) as filler, pytest.raises(OSError, match="No space left"):
        while True:
            filler.write(b"\0" * 4096)
    problem = update_capacities(path, [_result("b/0", "b", 100, 1.0)], SLOTS)
    assert problem is not None and "No space left on device" in problem and "\n" not in problem
    assert read_capacities(path) == Capacities({"a": pytest.approx(100.0)}, None)
    assert sorted(p.name for p in home.iterdir()) == ["capacity.json", "capacity.json.lock", "filler"]


def test_a_file_in_place_of_the_home_folder_is_a_problem_line(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("not a folder")
    problem = update_capacities(blocker / "capacity.json", [_result("a/0", "a", 100, 1.0)], SLOTS)
    assert problem == f"{blocker / 'capacity.json'}: capacity not updated: {blocker} is not a folder"


# -- concurrent runs --------------------------------------------------------------------

_UPDATER = """
import sys
from agilab_core.app import ItemResult
from agilab_core.capacity import update_capacities
path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(count):
    host = f"{name}{i}"
    problem = update_capacities(path, [ItemResult("x", "ok", "w", host, 0.0, 1.0, bytes_in=i + 1)], {"w": host})
    assert problem is None, problem
"""

_READER = """
import sys, time
from agilab_core.capacity import read_capacities
path, stop = sys.argv[1], sys.argv[2]
import os
seen = 0
while not os.path.exists(stop):
    found = read_capacities(path)
    assert found.problem is None, found.problem
    seen += 1
print(seen)
"""


def test_concurrent_updaters_lose_no_host_and_readers_never_see_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(path), str(stop)], stdout=subprocess.PIPE, text=True)
    writers = [subprocess.Popen([sys.executable, "-c", _UPDATER, str(path), name, "60"]) for name in ("p", "q")]
    try:
        assert [w.wait(timeout=300) for w in writers] == [0, 0]
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    assert reader.returncode == 0
    found = read_capacities(path)
    assert found.problem is None
    assert set(found.hosts) == {f"{name}{i}" for name in ("p", "q") for i in range(60)}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# -- invariants ---------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
HOSTS = st.text(max_size=6)
CONTENT = st.one_of(
    JSON,
    st.fixed_dictionaries({"hosts": JSON}),
    st.fixed_dictionaries({"hosts": st.dictionaries(HOSTS, JSON, max_size=4)}),
    st.fixed_dictionaries(
        {"hosts": st.dictionaries(HOSTS, st.fixed_dictionaries({"bytes_per_s": JSON, "updated": JSON}), max_size=4)}
    ),
)


def _usable(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and 0 < value <= MAX_BYTES_PER_S


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=CONTENT | st.binary())
def test_any_content_reads_without_error_to_usable_capacities(tmp_path: Path, content: Any) -> None:
    path = tmp_path / "capacity.json"
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    found = read_capacities(path)
    assert all(_usable(v) for v in found.hosts.values())
    assert found.problem is None or (found.problem.startswith(f"{path}: ") and "\n" not in found.problem)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=CONTENT | st.binary(),
    nbytes=st.integers(min_value=1, max_value=10**9),
    seconds=st.floats(min_value=1e-9, max_value=1e6),
    smoothing=st.floats(min_value=0.0, max_value=1.0),
)
def test_update_then_read_gives_a_clean_file_of_usable_values(
    tmp_path: Path, content: Any, nbytes: int, seconds: float, smoothing: float
) -> None:
    path = tmp_path / "capacity.json"
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    update_capacities(path, [_result("a/0", "a", nbytes, seconds)], SLOTS, smoothing=smoothing)
    found = read_capacities(path)
    assert found.problem is None
    assert "a" in found.hosts and all(_usable(v) for v in found.hosts.values())
    _strict(path)
