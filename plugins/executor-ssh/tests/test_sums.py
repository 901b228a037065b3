"""Input hashes remembered between runs: trusted only while a file's size, times, inode and device stay the same."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from agilab_executor_ssh import sums
from agilab_executor_ssh.sums import InputSums
from hypothesis import given, settings
from hypothesis import strategies as st


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_bytes(b"a,b\n1,2\n")
    (root / "sub" / "b.csv").write_bytes(b"x\n")
    return root


def run(root: Path, store: Path, *rels: str, settled: float = 0.0) -> tuple[dict[str, str], int]:
    """One run's hashes of ``rels``, and how many files it had to read."""
    inputs = InputSums(root, store, settled=settled)
    got = {rel: inputs(rel)[2] for rel in rels}
    inputs.save()
    return got, inputs.hashed


def test_a_second_run_reads_no_input_whose_identity_is_unchanged(data: Path, tmp_path: Path) -> None:
    store = tmp_path / "home" / "ssh" / "sums"
    first, read = run(data, store, "a.csv", "sub/b.csv")
    assert first == {"a.csv": sha(b"a,b\n1,2\n"), "sub/b.csv": sha(b"x\n")} and read == 2
    again, read = run(data, store, "a.csv", "sub/b.csv")
    assert again == first and read == 0
    assert oct(store.stat().st_mode & 0o777) == "0o700" and len(list(store.iterdir())) == 1


def test_a_file_rewritten_with_its_old_size_and_modification_time_is_read_again(data: Path, tmp_path: Path) -> None:
    store = tmp_path / "sums"
    run(data, store, "a.csv")
    target = data / "a.csv"
    before = target.stat()
    time.sleep(0.05)  # file times follow a coarse clock (a tick of 1-10 ms): the rewrite comes a tick later, as a real edit would
    target.write_bytes(b"a,b\n9,9\n")  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # modification time put back: the change time moves on
    assert target.stat().st_size == before.st_size and target.stat().st_mtime_ns == before.st_mtime_ns
    assert target.stat().st_ctime_ns != before.st_ctime_ns
    got, read = run(data, store, "a.csv")
    assert got == {"a.csv": sha(b"a,b\n9,9\n")} and read == 1


def test_a_file_replaced_by_another_of_the_same_size_and_times_is_read_again(data: Path, tmp_path: Path) -> None:
    """A rename over the file (editors save this way) gives it another inode."""
    store = tmp_path / "sums"
    run(data, store, "a.csv")
    new = data / "new.tmp"
    new.write_bytes(b"a,b\n7,7\n")
    old = (data / "a.csv").stat()
    os.utime(new, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(new, data / "a.csv")
    assert run(data, store, "a.csv") == ({"a.csv": sha(b"a,b\n7,7\n")}, 1)


def test_a_file_changed_just_before_it_was_read_is_not_remembered(data: Path, tmp_path: Path) -> None:
    store = tmp_path / "sums"
    got, read = run(data, store, "a.csv", settled=3600.0)  # every file here changed within the hour
    assert read == 1 and not store.exists()
    assert run(data, store, "a.csv", settled=3600.0)[1] == 1


def test_a_record_of_another_folder_or_with_malformed_entries_is_not_trusted(data: Path, tmp_path: Path) -> None:
    store = tmp_path / "sums"
    run(data, store, "a.csv", "sub/b.csv")
    (record,) = store.iterdir()
    doc = json.loads(record.read_text())
    st_a = doc["files"]["a.csv"]
    doc["files"]["a.csv"] = [*st_a[:5], "0" * 64]  # a lie, well formed: still trusted (the record is the manager's own)
    doc["files"]["sub/b.csv"] = [*doc["files"]["sub/b.csv"][:4], "x", sha(b"x\n")]  # a device that is not a number
    doc["files"]["c.csv"] = "garbage"
    record.write_text(json.dumps(doc))
    got, read = run(data, store, "a.csv", "sub/b.csv")
    assert got["a.csv"] == "0" * 64 and got["sub/b.csv"] == sha(b"x\n") and read == 1
    doc["root"] = str(tmp_path / "elsewhere")
    record.write_text(json.dumps(doc))
    got, read = run(data, store, "a.csv", "sub/b.csv")
    assert got["a.csv"] == sha(b"a,b\n1,2\n") and read == 2


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\xff not json", b"[]", b'{"root": 1}', b'{"root": "x", "files": []}', b"[" * 100_000, b'{"files": {"a.csv": [1e999]}}'],
    ids=["empty", "bytes", "list", "root", "files", "deep", "inf"],
)
def test_a_record_that_cannot_be_read_is_ignored_and_written_again(data: Path, tmp_path: Path, content: bytes) -> None:
    store = tmp_path / "sums"
    run(data, store, "a.csv")
    (record,) = store.iterdir()
    record.write_bytes(content)
    assert run(data, store, "a.csv") == ({"a.csv": sha(b"a,b\n1,2\n")}, 1)
    assert run(data, store, "a.csv")[1] == 0  # the record was written whole again


def test_a_record_that_cannot_be_written_is_skipped(data: Path, tmp_path: Path) -> None:
    store = tmp_path / "sums"
    store.write_text("a file where the folder should be")
    assert run(data, store, "a.csv") == ({"a.csv": sha(b"a,b\n1,2\n")}, 1)
    assert store.read_text() == "a file where the folder should be"


def test_without_a_store_every_run_reads_every_input(data: Path) -> None:
    inputs = InputSums(data, None, settled=0.0)
    assert inputs("a.csv")[2] == sha(b"a,b\n1,2\n") and inputs("a.csv")[2] == sha(b"a,b\n1,2\n") and inputs.hashed == 1
    inputs.save()


def test_a_missing_input_is_an_error_not_a_hash(data: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        InputSums(data, tmp_path / "sums")("gone.csv")


def test_the_record_keeps_this_runs_inputs_first_within_its_bound(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "sums"
    run(data, store, "a.csv")
    monkeypatch.setattr(sums, "MAX_REMEMBERED", 1)
    run(data, store, "sub/b.csv")
    (record,) = store.iterdir()
    assert list(json.loads(record.read_text())["files"]) == ["sub/b.csv"]


names = st.text(st.characters(blacklist_characters="/\0"), min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))


@settings(max_examples=30, deadline=None)
@given(files=st.dictionaries(names, st.binary(max_size=32), min_size=1, max_size=5))
def test_any_name_survives_the_record(tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes]) -> None:
    """Names that are not UTF-8 (surrogates) are kept as \\u escapes in an ASCII record and read back."""
    root = tmp_path_factory.mktemp("data")
    written = {}
    for name, content in files.items():
        try:
            (root / name).write_bytes(content)
        except (OSError, UnicodeEncodeError):
            continue  # a name this file system refuses (too long, an invalid surrogate pair)
        written[name] = content
    if not written:
        return
    store = root.parent / f"{root.name}-sums"
    first, read = run(root, store, *written)
    assert first == {name: sha(content) for name, content in written.items()} and read == len(written)
    assert run(root, store, *written) == (first, 0)
