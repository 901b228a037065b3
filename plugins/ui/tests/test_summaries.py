"""Evidence of any shape (older releases, hand edits) is shown, never a crash."""

from __future__ import annotations

from pathlib import Path

from agilab_core.views import PageSpec
from agilab_ui import summaries
from agilab_ui.app import RunsApp
from hypothesis import example, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
FIELDS = ("executor", "items", "started", "finished", "seconds", "workers", "environment", "outputs", "resumed_from", "error", "summary")


@settings(max_examples=200)
@given(extra=st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, json_values)), status=st.text(max_size=10))
def test_any_manifest_fields_make_a_row_a_header_and_a_listing(extra, status):
    manifest = {"run_id": "r", "status": status, "app": {"name": "a"}, **extra}
    row = summaries.RunRow.of("a", "r", manifest)
    data = row.to_dict()
    assert data["ok"] >= 0 and data["failed"] >= 0 and data["total"] >= data["ok"] + data["failed"]
    assert data["done"] == (status != "running")
    assert all(isinstance(v, str) for v in summaries.header(manifest).values())
    html = RunsApp(Path("/nonexistent"), {"p": PageSpec("p", lambda: "")}).html("runs.html", rows=[row], problems=[]).body
    assert b"<table" in html


@example(float("inf"))
@example(-float("inf"))
@example(float("nan"))
@example(1e308)
@example(10**400)
@given(st.one_of(json_values, st.floats(allow_nan=True, allow_infinity=True)))
def test_durations_sizes_and_times_are_text_for_any_value(value):
    for show in (summaries.duration, summaries.size, summaries.when):
        assert isinstance(show(value), str)
