"""Evidence: atomic files, run folders, finding runs (capacity and redaction have their own tests)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from agilab_core.atomic import atomic_path, sha256_file, write_json
from agilab_core.errors import UsageError
from agilab_core.evidence import new_run_dir
from agilab_core.runs import find_run, list_runs
from hypothesis import given
from hypothesis import strategies as st

# -- atomic files -------------------------------------------------------------------


def test_atomic_path_renames_into_place_on_success(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    assert list(target.parent.iterdir()) == [target]


def test_atomic_path_leaves_nothing_when_the_body_raises(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_previous_file_when_the_body_raises(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("new")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_path_body_that_writes_nothing_raises_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(FileNotFoundError), atomic_path(target):
        pass
    assert list(tmp_path.iterdir()) == []


def test_write_json_writes_indented_json_atomically(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    target.write_text("{}")
    write_json(target, {"a": [1, 2], "p": Path("/x")})
    assert json.loads(target.read_text()) == {"a": [1, 2], "p": "/x"}
    assert target.read_text().endswith("\n")
    assert list(tmp_path.iterdir()) == [target]


def test_write_json_failure_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    write_json(target, {"v": 1})
    with pytest.raises(ValueError):
        write_json(target, {"v": float("nan"), "loop": _circular()})
    assert json.loads(target.read_text()) == {"v": 1}
    assert list(tmp_path.iterdir()) == [target]


def _circular() -> list:
    loop: list = []
    loop.append(loop)
    return loop


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# -- run folders -------------------------------------------------------------------


def test_new_run_dir_creates_the_folder_and_logs(tmp_path: Path) -> None:
    run_id, run_dir = new_run_dir(tmp_path / "runs" / "app")
    assert run_dir == tmp_path / "runs" / "app" / run_id
    assert (run_dir / "logs").is_dir()


def test_new_run_dir_is_unique_under_concurrent_calls(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    results: list[tuple[str, Path]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def make() -> None:
        barrier.wait()
        for _ in range(25):
            made = new_run_dir(root)
            with lock:
                results.append(made)

    threads = [threading.Thread(target=make) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r[0] for r in results]
    assert len(ids) == 400
    assert len(set(ids)) == 400
    assert sorted(p.name for p in root.iterdir()) == sorted(ids)


def _fake_run(root: Path, app: str, run_id: str, started: float) -> Path:
    path = root / app / run_id / "manifest.json"
    write_json(path, {"run_id": run_id, "status": "ok", "app": {"name": app}, "started": started})
    return path


def test_find_run_by_exact_id(tmp_path: Path) -> None:
    path = _fake_run(tmp_path, "a", "20250101-000000-abc", 1)
    _fake_run(tmp_path, "a", "20250101-000000-abcdef", 2)  # the exact id is also a prefix of this one
    assert find_run(tmp_path, "20250101-000000-abc") == path


def test_find_run_by_unique_prefix_across_apps(tmp_path: Path) -> None:
    _fake_run(tmp_path, "a", "20250101-000000-aaaaaa", 1)
    path = _fake_run(tmp_path, "b", "20250202-000000-bbbbbb", 2)
    assert find_run(tmp_path, "20250202") == path


def test_find_run_ambiguous_prefix_lists_candidates(tmp_path: Path) -> None:
    _fake_run(tmp_path, "a", "20250101-000000-aaaaaa", 1)
    _fake_run(tmp_path, "b", "20250101-000000-bbbbbb", 2)
    with pytest.raises(UsageError) as info:
        find_run(tmp_path, "20250101")
    message = str(info.value)
    assert "ambiguous" in message
    assert "20250101-000000-aaaaaa" in message and "20250101-000000-bbbbbb" in message


def test_find_run_missing_names_id_and_folder(tmp_path: Path) -> None:
    _fake_run(tmp_path, "a", "20250101-000000-aaaaaa", 1)
    with pytest.raises(UsageError) as info:
        find_run(tmp_path, "1999")
    assert str(info.value) == f"no run '1999' under {tmp_path}"


def test_find_run_ignores_folders_without_manifest(tmp_path: Path) -> None:
    (tmp_path / "a" / "20250101-000000-unfinished").mkdir(parents=True)
    with pytest.raises(UsageError, match="no run"):
        find_run(tmp_path, "20250101")


def test_list_runs_oldest_first_and_filtered_by_app(tmp_path: Path) -> None:
    _fake_run(tmp_path, "a", "r3", 30)
    _fake_run(tmp_path, "b", "r1", 10)
    _fake_run(tmp_path, "a", "r2", 20)
    assert [m["run_id"] for m in list_runs(tmp_path)[0]] == ["r1", "r2", "r3"]
    assert [m["run_id"] for m in list_runs(tmp_path, "a")[0]] == ["r2", "r3"]
    assert list_runs(tmp_path, "zzz")[0] == []


def test_list_runs_skips_damaged_manifests(tmp_path: Path) -> None:
    _fake_run(tmp_path, "a", "good", 1)
    bad = tmp_path / "a" / "bad" / "manifest.json"
    bad.parent.mkdir()
    bad.write_text("{ not json")
    assert [m["run_id"] for m in list_runs(tmp_path)[0]] == ["good"]


def test_list_runs_of_a_missing_root_is_empty(tmp_path: Path) -> None:
    assert list_runs(tmp_path / "nothing")[0] == []


@given(st.text(alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=255))
def test_atomic_path_works_for_any_valid_file_name(name: str) -> None:
    # a name that fits the file system must never fail because of the temporary suffix
    if len(name.encode()) > 255 or name in (".", ".."):
        return
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / name
        with atomic_path(target) as tmp:
            assert len(tmp.name.encode()) <= 255
            tmp.write_text("x")
        assert target.read_text() == "x"
        assert [p.name for p in Path(folder).iterdir()] == [name]


def test_verify_outputs_checks_sizes_always_and_contents_when_asked(tmp_path: Path) -> None:
    from agilab_core.app import ItemResult, OutputFile
    from agilab_core.evidence import verify_outputs

    (tmp_path / "part.csv").write_text("abc")
    recorded = OutputFile("part.csv", sha256_file(tmp_path / "part.csv"), 3)
    result = ItemResult("i", "ok", "w", "h", 0.0, 1.0, outputs=(recorded,))
    assert verify_outputs(result, tmp_path) is result
    (tmp_path / "part.csv").write_text("abd")  # same size, other bytes
    assert verify_outputs(result, tmp_path, content=False) is result
    altered = verify_outputs(result, tmp_path)
    assert (altered.status, altered.error.message) == ("failed", "output part.csv: was altered after it was recorded (sha256 differs)")
    escaping = ItemResult("i", "ok", "w", "h", 0.0, 1.0, outputs=(OutputFile("../x", "0", 0),))
    assert verify_outputs(escaping, tmp_path).error.message == "output ../x: is not a path inside the output folder"
