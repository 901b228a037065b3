"""The per-item journal: appended line by line, fsync'd within a second, read back whatever a crash left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from agilab_core.journal import JournalWriter, latest_by_item, read_journal
from hypothesis import given
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


def test_lines_are_on_disk_as_soon_as_append_returns(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "items.jsonl")
    writer.append({"item_id": "a", "status": "ok"})
    # another reader sees it at once: no user-space buffer holds it back
    assert [r["item_id"] for r in read_journal(tmp_path / "items.jsonl")] == ["a"]
    writer.close()
    writer.close()  # twice is fine


def test_a_line_survives_sigkill_of_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    code = (
        "import os, signal, sys\n"
        "from agilab_core.journal import JournalWriter\n"
        f"w = JournalWriter({str(path)!r})\n"
        "w.append({'item_id': 'done', 'status': 'ok'})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -9
    assert [r["item_id"] for r in read_journal(path)] == ["done"]


def test_the_background_timer_fsyncs_within_a_second(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "items.jsonl")
    writer.append({"item_id": "a"})
    deadline = time.monotonic() + 10
    assert not writer.synced
    while not writer.synced and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.synced, "the journal was not synced"
    writer.close()


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes(b'{"item_id": "a", "status": "ok"}\n{"item_id": "b", "sta')
    assert [r["item_id"] for r in read_journal(path)] == ["a"]


def test_the_last_line_of_an_item_wins_in_first_seen_order(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    lines = [{"item_id": "a", "status": "ok"}, {"item_id": "b", "status": "ok"}, {"item_id": "a", "status": "failed"}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    latest = latest_by_item(path)
    assert list(latest) == ["a", "b"]
    assert latest["a"]["status"] == "failed"


def test_a_missing_journal_reads_as_empty(tmp_path: Path) -> None:
    assert list(read_journal(tmp_path / "nothing.jsonl")) == []


@given(st.binary(max_size=300))
def test_any_bytes_never_raise(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "items.jsonl"
        path.write_bytes(data)
        for record in read_journal(path):
            assert isinstance(record, dict)
        latest_by_item(path)


@given(st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=4), max_size=6))
def test_what_is_appended_is_read_back(records: list[dict]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "items.jsonl"
        writer = JournalWriter(path)
        for r in records:
            writer.append(r)
        writer.close()
        assert list(read_journal(path)) == records
        assert os.path.getsize(path) == sum(len(json.dumps(r, separators=(",", ":")).encode("utf-8", "surrogateescape")) + 1 for r in records)
