"""One item's result as the journal holds it: encoded directly, screened for secrets cheaply, never leaking one."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from agilab_core.app import ITEM_OK, ItemError, ItemResult, OutputFile
from agilab_core.evidence import Run, RunRecorder, result_json
from agilab_core.journal import json_line, read_journal
from agilab_core.redaction import MASK, may_need_redaction, redact
from agilab_core.settings import unstructure
from hypothesis import given, settings
from hypothesis import strategies as st

# Text with the shapes redaction looks for, and characters whose case folds to ASCII
# (Kelvin sign, long s, dotted and dotless i) or that JSON escapes.
SHAPES = (
    "://", "@", ":", "=", "'", '"', " ", "\n", "\\", "tcp", "u", "pw", "password", "Pass", "token", "KEY", "key", "Bearer ",
     "--password ", "-----BEGIN RSA PRIVATE KEY-----", "ghp_", "github_pat_", "glpat-", "xoxb-", "AKIA", "sk-", "eyJ", "a1B2c3D4e5F6g7H8j9K0",
     "flight", "\u212a", "\u017f", "\u0131", "\u0130", "\udcff", "é", "***",
     # whole secrets of each shape redaction knows, and names of each stem
     "ghp_" + "x1" * 18, "github_pat_" + "Y2" * 11, "glpat-" + "z3" * 10, "xoxb-12345678901", "AKIA" + "Q" * 16, "ASIA" + "W7" * 8,
     "sk-" + "v4" * 10, "eyJhbGciOi.eyJzdWIiOi.c2ln", "Bearer Zm9vYmFyYmF6", "tcp://u:pw@h", "-----BEGIN PRIVATE KEY-----\nMIIE\n",
     "cookie", "creds", "authorization", "passphrase", "pwd", "secret", "api_key", "--token x"
)
FRAGMENTS = st.sampled_from(SHAPES)
TEXT = st.lists(FRAGMENTS | st.text(max_size=3), max_size=10).map("".join)
LEAF = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
KEY = st.sampled_from(["password", "db_passwd", "apiKey", "client_keys", "auth_token", "cookie", "creds", "rows"]) | TEXT
METRICS = st.dictionaries(KEY, st.recursive(LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(KEY, c, max_size=3), max_leaves=6), max_size=4)
NUMBER = st.integers(min_value=0, max_value=2**70) | st.booleans()
TIME = st.floats() | st.integers(min_value=0, max_value=2**40)

RESULTS = st.builds(
    ItemResult,
    item_id=TEXT,
    status=st.sampled_from(["ok", "failed"]) | TEXT,
    worker=TEXT,
    host=TEXT,
    started=TIME,
    finished=TIME,
    rows=NUMBER,
    bytes_in=NUMBER,
    bytes_out=NUMBER,
    outputs=st.lists(st.builds(OutputFile, path=TEXT, sha256=st.from_regex(r"[0-9a-f]{64}", fullmatch=True) | TEXT, bytes=NUMBER), max_size=3).map(tuple),
    metrics=METRICS,
    error=st.none() | st.builds(ItemError, TEXT, TEXT, TEXT),
    attempts=st.integers(min_value=1, max_value=10),
    runtime=st.sampled_from(["python", "cython"]) | TEXT,
)


@given(RESULTS)
@settings(max_examples=400)
def test_the_direct_encoding_is_the_generic_one(result: ItemResult) -> None:
    line, _ = result_json(result)
    assert line == json_line(unstructure(result))


# Harmless text (no vowel but y, no ':' or '-'), so that one planted string decides what the screen must say.
HARMLESS = st.text(alphabet="bcdfghjmnqvxz_0123456789 ./", max_size=6)
PLANTED = (
    FRAGMENTS
    | st.builds("{} {} {}".format, HARMLESS, FRAGMENTS, HARMLESS)
    | st.lists(HARMLESS | FRAGMENTS, min_size=1, max_size=4).map("".join)
)


PLACES = ("item_id", "worker", "host", "status", "runtime", "path", "key", "value", "nested", "list", "message", "traceback")


def planted_result(text: str, where: str, filler: str = "bcd") -> ItemResult:
    """A harmless result with ``text`` as the string (or metrics key) at ``where``."""
    fields = {k: text if k == where else filler for k in ("item_id", "worker", "host", "status", "runtime")}
    metrics: dict[str, Any] = {
        "key": {text: filler or 1},
        "value": {"x": text},
        "nested": {"x": {"y": [1, {"z": text}]}},
        "list": {"x": [filler, text]},
    }.get(where, {filler: filler})
    error = ItemError("E", text if where == "message" else "m", text if where == "traceback" else "") if where in ("message", "traceback") else None
    path = text if where == "path" else filler
    return ItemResult(started=1.0, finished=2.0, outputs=(OutputFile(path, "0" * 64, 1),), metrics=metrics, error=error, **fields)


def _screen_holds(result: ItemResult, secrets: list[str]) -> None:
    _, strings = result_json(result)
    record = unstructure(result)
    if not may_need_redaction(strings, secrets):
        assert json.dumps(redact(record, secrets=secrets)) == json.dumps(record), strings


def test_every_shape_in_every_place_is_screened() -> None:
    for fragment in SHAPES:
        for text in (fragment, f"bc {fragment} dg"):
            for where in PLACES:
                _screen_holds(planted_result(text, where), [])
                if len(text) >= 4:
                    _screen_holds(planted_result(text, where), [text])


@given(PLANTED, st.sampled_from(PLACES), HARMLESS, st.booleans())
@settings(max_examples=500)
def test_a_result_the_screen_passes_needs_no_redaction(text: str, where: str, filler: str, known: bool) -> None:
    _screen_holds(planted_result(text, where, filler), [text] if known and len(text) >= 4 else [])


def test_the_screen_reads_neither_digests_nor_keys() -> None:
    result = ItemResult(item_id="a", status=ITEM_OK, worker="w", host="h", started=1.0, finished=2.0,
                        outputs=(OutputFile("x/flight.parquet", "ab" * 32, 3),))
    _, strings = result_json(result)
    assert "ab" * 32 not in strings and "item_id" not in strings and "flight" in strings
    assert not may_need_redaction(strings)  # "flight" holds "gh", no GitHub token


def _recorder(tmp_path: Path, secrets: frozenset[str] = frozenset()) -> RunRecorder:
    run = Run("r1", "probe", "local", {}, tmp_path, tmp_path / "out", time.time())
    (tmp_path / "logs").mkdir()
    return RunRecorder(run, {"app": "probe"}, planned=2, secrets=secrets)


def _journaled(tmp_path: Path, recorder: RunRecorder, *results: ItemResult) -> str:
    with recorder:
        for result in results:
            recorder.add(result)
        recorder.finish("ok")
    return (tmp_path / "items.jsonl").read_text() + (tmp_path / "manifest.json").read_text()


def test_a_token_that_only_its_shape_betrays_is_masked_in_journal_and_manifest(tmp_path: Path) -> None:
    token = "github_pat_" + "Z9" * 15
    result = ItemResult(item_id="i1", status=ITEM_OK, worker="w", host="h", started=1.0, finished=2.0, metrics={"note": f"cloned with {token}"})
    text = _journaled(tmp_path, _recorder(tmp_path), result)
    assert token not in text and MASK in text


def test_a_known_secret_that_json_escapes_is_still_masked(tmp_path: Path) -> None:
    secret = 'pa"ss\\w\u00f6rd'
    result = ItemResult(item_id="i1", status=ITEM_OK, worker="w", host="h", started=1.0, finished=2.0, metrics={"dsn": f"db at {secret}"})
    text = _journaled(tmp_path, _recorder(tmp_path, frozenset({secret})), result)
    assert json.dumps(secret)[1:-1] not in text and secret not in text and MASK in text


def test_the_manifest_as_written_has_every_result_the_journal_has(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    results = [ItemResult(item_id=f"i{n}", status=ITEM_OK, worker="w", host="h", started=1.0, finished=2.0, rows=n) for n in range(2)]
    _journaled(tmp_path, recorder, *results)
    written: dict[str, Any] = recorder.written()
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert written == on_disk
    assert written["results"] == list(read_journal(tmp_path / "items.jsonl"))
    assert "results" not in recorder.finished  # the head only: decoding every result is left to who asks
