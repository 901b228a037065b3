"""The page contract: RunRecord read from a real run folder, render_page's argument matching."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agilab_core.errors import InputError, PluginError, UsageError
from agilab_core.evidence import manager_identity
from agilab_core.runs import DamagedEvidence
from agilab_core.settings import unstructure
from agilab_core.views import PAGE_ARGUMENTS, RunRecord, render_page
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agilab_core import ItemResult, PageSpec


def _result(item_id: str, rows: int = 1, status: str = "ok") -> ItemResult:
    return ItemResult(item_id, status, "localhost/0", "localhost", 1.0, 2.0, rows=rows, metrics={"m": [1, 2]})


def _run_dir(tmp_path: Path, results: list[ItemResult] = (), journal: list[str] | None = None, **manifest: Any) -> Path:
    run_dir = tmp_path / "runs" / "flight" / "20260101-000000-abcdef"
    run_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "run_id": run_dir.name,
        "status": "ok",
        "app": {"name": "flight", "distribution": "agilab-app-flight", "version": "1"},
        "outputs": str(run_dir / "outputs"),
        "results": [unstructure(r) for r in results],
        **manifest,
    }
    if data.pop("journal_name", "items.jsonl") is not None:
        data["journal"] = manifest.get("journal_name", "items.jsonl")
    (run_dir / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    if journal is not None:
        (run_dir / "items.jsonl").write_text("".join(line + "\n" for line in journal), encoding="utf-8")
    return run_dir


def test_a_run_record_is_read_from_the_manifest(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, [_result("a"), _result("b", rows=5)])
    record = RunRecord.from_run_dir(run_dir)
    assert (record.run_id, record.app, record.status) == ("20260101-000000-abcdef", "flight", "ok")
    assert record.results == (_result("a"), _result("b", rows=5))
    assert (record.run_dir, record.output_dir, record.journal) == (run_dir, run_dir / "outputs", run_dir / "items.jsonl")
    assert record.view_path("maps") == run_dir / "views" / "maps.html"


def test_the_manifest_of_a_record_is_read_only_at_every_depth(tmp_path: Path) -> None:
    record = RunRecord.from_run_dir(_run_dir(tmp_path, [_result("a")], extra={"nested": {"list": [1, {"x": 2}]}}))
    with pytest.raises(TypeError):
        record.manifest["status"] = "failed"  # type: ignore[index]
    with pytest.raises(TypeError):
        record.manifest["extra"]["nested"]["k"] = 1  # type: ignore[index]
    assert record.manifest["extra"]["nested"]["list"] == (1, {"x": 2})
    plain = record.manifest_dict()
    plain["extra"]["nested"]["list"].append(3)  # a copy: the record does not change
    assert json.loads(json.dumps(plain))["extra"]["nested"]["list"] == [1, {"x": 2}, 3]
    assert record.manifest["extra"]["nested"]["list"] == (1, {"x": 2})


def test_the_journal_gives_the_results_and_the_last_line_of_an_item_wins(tmp_path: Path) -> None:
    lines = [json.dumps(unstructure(r)) for r in (_result("a"), _result("b"), _result("a", rows=9))]
    run_dir = _run_dir(tmp_path, [_result("a", rows=0)], journal=lines, status="running")
    record = RunRecord.from_run_dir(run_dir)
    assert [(r.item_id, r.rows) for r in record.results] == [("a", 9), ("b", 1)]


def test_a_truncated_last_journal_line_is_ignored(tmp_path: Path) -> None:
    whole = json.dumps(unstructure(_result("a")))
    cut = json.dumps(unstructure(_result("b")))[:-7]
    run_dir = _run_dir(tmp_path, journal=[whole])
    (run_dir / "items.jsonl").write_text(whole + "\n" + cut, encoding="utf-8")
    assert [r.item_id for r in RunRecord.from_run_dir(run_dir).results] == ["a"]


def test_a_journal_line_that_is_not_a_result_names_the_file_and_line(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, journal=[json.dumps(unstructure(_result("a"))), json.dumps({"item_id": "b"})])
    with pytest.raises(InputError) as info:
        RunRecord.from_run_dir(run_dir)
    message = str(info.value)
    assert message.startswith(f"{run_dir / 'items.jsonl'}:2: ") and "required field missing" in message
    assert "\n" not in message


def test_a_folder_without_a_manifest_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"not a run folder \(no manifest.json\)$"):
        RunRecord.from_run_dir(tmp_path)


@pytest.mark.parametrize("content", [b"\xff\xfe\x00binary", b"{not json", b"[1, 2]", b'{"run_id": "r", "status": "ok"}'])
def test_a_damaged_manifest_is_one_line_naming_it(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "manifest.json").write_bytes(content)
    with pytest.raises(DamagedEvidence) as info:
        RunRecord.from_run_dir(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'manifest.json'}: not a readable manifest")
    assert "\n" not in str(info.value)


def test_a_run_whose_manager_died_is_interrupted_with_its_journal_results(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    manager = {**manager_identity(), "pid": int(done.stdout), "process_start": -1}
    plan = {"slots": [{"worker": "w", "items": ["a", "b"]}]}
    lines = [json.dumps(unstructure(_result("a")))]
    run_dir = _run_dir(tmp_path, journal=lines, status="running", manager=manager, plan=plan, journal_name=None)
    record = RunRecord.from_run_dir(run_dir)
    assert record.status == "interrupted" and record.manifest["status"] == "interrupted"
    assert record.manifest["unfinished"] == ("b",)
    assert [r.item_id for r in record.results] == ["a"]


def test_a_run_whose_manager_lives_is_running(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, journal=[], status="running", manager=manager_identity())
    assert RunRecord.from_run_dir(run_dir).status == "running"


@pytest.mark.parametrize("name", ["../../elsewhere.jsonl", "/etc/passwd", "..", ""])
def test_a_journal_name_leaving_the_run_folder_is_not_followed(tmp_path: Path, name: str) -> None:
    run_dir = _run_dir(tmp_path, journal=[json.dumps(unstructure(_result("a")))], journal_name=name)
    assert RunRecord.from_run_dir(run_dir).journal == run_dir / "items.jsonl"


def test_a_relative_outputs_entry_is_under_the_run_folder(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, outputs="outputs")
    assert RunRecord.from_run_dir(run_dir).output_dir == run_dir / "outputs"


# -- render_page ----------------------------------------------------------------


@pytest.fixture
def record(tmp_path: Path) -> RunRecord:
    return RunRecord.from_run_dir(_run_dir(tmp_path, [_result("a"), _result("b")]))


def test_render_gets_only_the_arguments_it_declares(record: RunRecord) -> None:
    seen: dict[str, Any] = {}

    def render(results, output_dir):
        seen.update(results=results, output_dir=output_dir)
        return f"<p>{len(results)}</p>"

    assert render_page(PageSpec("count", render), record) == "<p>2</p>"
    assert seen == {"results": record.results, "output_dir": record.output_dir}


def test_render_with_kwargs_gets_every_argument(record: RunRecord) -> None:
    def render(**kwargs):
        return ",".join(sorted(kwargs))

    assert render_page(PageSpec("all", render), record, zoom=3).split(",") == sorted({*PAGE_ARGUMENTS, "zoom"})


def test_options_reach_the_page_read_only(record: RunRecord) -> None:
    def render(options):
        with pytest.raises(TypeError):
            options["zoom"] = 1
        return str(dict(options))

    assert render_page(PageSpec("opts", render), record, options={"zoom": 4}) == "{'zoom': 4}"
    assert render_page(PageSpec("opts", render), record) == "{}"


def test_extra_arguments_never_replace_the_record(record: RunRecord) -> None:
    assert render_page(PageSpec("id", lambda record: record.run_id), record, record="forged", manifest={}) == record.run_id


def test_a_page_for_other_apps_refuses_the_run_in_one_line(record: RunRecord) -> None:
    spec = PageSpec("radar", lambda record: "", apps=("radar", "sonar"))
    with pytest.raises(UsageError, match=r"^page 'radar' cannot show run 20260101-000000-abcdef: it shows runs of radar, sonar, and run 20260101-000000-abcdef is of app 'flight'$"):
        render_page(spec, record)
    assert render_page(PageSpec("mine", lambda: "ok", apps="flight"), record) == "ok"


def test_can_show_gives_the_reason_a_page_refuses_a_run(record: RunRecord) -> None:
    spec = PageSpec("maps", lambda: "<html/>", can_show=lambda r: None if r.status == "failed" else "the run has no positions\nsecond line")
    with pytest.raises(UsageError, match=r"^page 'maps' cannot show run \S+: the run has no positions$"):
        render_page(spec, record)
    assert render_page(PageSpec("maps", lambda: "<html/>", can_show=lambda r: None), record) == "<html/>"


def test_a_render_that_returns_no_text_is_the_pages_fault(record: RunRecord) -> None:
    with pytest.raises(PluginError, match=r"^page 'bytes': render returned bytes, expected HTML text \(str\)$"):
        render_page(PageSpec("bytes", lambda: b"<html/>"), record)


def test_a_render_that_raises_is_one_line_naming_the_page_and_run(record: RunRecord) -> None:
    def render(manifest):
        return manifest["no such key"]

    with pytest.raises(PluginError, match=r"^page 'broken' failed on run 20260101-000000-abcdef: KeyError: 'no such key'$"):
        render_page(PageSpec("broken", render), record)


def test_a_render_that_needs_an_unknown_argument_is_refused(record: RunRecord) -> None:
    with pytest.raises(PluginError, match=r"^page 'old': render needs argument\(s\) out; a page gets only record, "):
        render_page(PageSpec("old", lambda manifest, run_dir, out: None), record)


def _old_renders() -> list:
    def positional(manifest, results):
        return f"{manifest['run_id']}/{len(results)}"

    def keyword_only(*, record, run_dir):
        return f"{record.run_id}/{run_dir.name}"

    def defaults(record, title="t"):
        return f"{record.run_id}/{title}"

    def nothing():
        return "static"

    return [positional, keyword_only, defaults, nothing]


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
    lambda n: n not in PAGE_ARGUMENTS and n.isidentifier() and n != "title"
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(extra=st.dictionaries(_names, st.one_of(st.none(), st.integers(), st.text()), max_size=6))
def test_unknown_extra_arguments_never_break_an_old_render(record: RunRecord, extra: dict[str, Any]) -> None:
    for render in _old_renders():
        spec = PageSpec("old", render)
        assert render_page(spec, record, **extra) == render_page(spec, record)
