"""``agilab view`` and ``agilab pages``: a page of a run written under its views/, every mistake one line, exit 2.

Pages come from a real fixture distribution (``plugin_fixtures.pages``) fed
through ``agilab_core.plugins._entry_points``; runs are run folders written
as the recorder writes them (manifest and journal).
"""

from __future__ import annotations

import json
import subprocess
import time
import webbrowser
from importlib import metadata
from pathlib import Path

import pytest
from agilab_core.atomic import write_json
from agilab_core.cli import main
from agilab_core.pages import latest_record
from agilab_core.plugins import load_plugins

from agilab_core import plugins


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, fixture_dist, tmp_path: Path) -> Path:
    monkeypatch.delenv("AGILAB_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("AGILAB_STRICT_PLUGINS", raising=False)
    eps = fixture_dist({"pages": "plugin_fixtures.pages"})
    installed = list(metadata.entry_points(group=plugins.GROUP))
    monkeypatch.setattr(plugins, "_entry_points", lambda: installed + eps)
    home = tmp_path / "home"
    monkeypatch.setenv("AGILAB_HOME", str(home))
    return home


def make_run(home: Path, app: str, run_id: str, started: float, rows: int = 5, status: str = "ok") -> Path:
    run_dir = home / "runs" / app / run_id
    result = {"item_id": "a.csv", "status": "ok", "worker": "localhost/0", "host": "localhost", "started": started, "finished": started + 1, "rows": rows}
    write_json(run_dir / "manifest.json", {
        "run_id": run_id, "status": status, "app": {"name": app}, "started": started, "outputs": str(run_dir / "outputs"),
        "journal": "items.jsonl", "items": {"total": 1, "ok": 1, "failed": 0}, "results": [result],
    })
    (run_dir / "items.jsonl").write_text(json.dumps(result) + "\n")
    return run_dir


def agilab(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = agilab(capsys, *args)
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    return err.strip()


def test_view_writes_the_newest_run_the_page_can_show_and_prints_its_path(home, capsys):
    old = make_run(home, "alpha", "r1", started=1.0)
    make_run(home, "alpha", "r2", started=2.0, rows=0)  # newer, but the page cannot show it
    make_run(home, "beta", "r3", started=3.0)  # newer, another app's
    code, out, err = agilab(capsys, "view", "fixture_summary")
    assert (code, err) == (0, "")
    assert out == f"{old / 'views' / 'fixture_summary.html'}\n"
    html = (old / "views" / "fixture_summary.html").read_text()
    assert "<h1>r1</h1>" in html and "alpha: 5 rows" in html
    assert [p.name for p in (old / "views").iterdir()] == ["fixture_summary.html"]  # no temporary file left


def test_view_of_a_given_run_and_its_json(home, capsys):
    run_dir = make_run(home, "beta", "20260101-beta", started=1.0, rows=7)
    code, out, _ = agilab(capsys, "view", "fixture_any", "20260101", "--json")
    data = json.loads(out)
    assert code == 0 and data["run_id"] == "20260101-beta" and data["app"] == "beta" and data["out"] is None
    assert data["path"] == data["view"] == str(run_dir / "views" / "fixture_any.html")
    assert "beta: 7 rows" in Path(data["path"]).read_text()


def test_out_gets_a_copy_and_is_the_path_printed(home, capsys, tmp_path):
    run_dir = make_run(home, "alpha", "r1", started=1.0)
    out_file = tmp_path / "page.html"
    code, out, _ = agilab(capsys, "view", "fixture_summary", "r1", "--out", str(out_file))
    assert (code, out) == (0, f"{out_file}\n")
    assert out_file.read_text() == (run_dir / "views" / "fixture_summary.html").read_text()


def test_a_page_that_cannot_show_the_run_says_why_in_one_line(home, capsys):
    make_run(home, "beta", "rb", started=1.0)
    make_run(home, "alpha", "ra", started=1.0, rows=0)
    assert error_line(capsys, "view", "fixture_summary", "rb") == (
        "error: page 'fixture_summary' cannot show run rb: it shows runs of alpha, and run rb is of app 'beta'"
    )
    assert error_line(capsys, "view", "fixture_summary", "ra") == "error: page 'fixture_summary' cannot show run ra: this run has no rows"
    assert not (home / "runs" / "beta" / "rb" / "views").exists()


def test_unknown_page_unknown_run_and_no_run_to_show_are_one_line(home, capsys):
    make_run(home, "beta", "rb", started=1.0)
    assert error_line(capsys, "view", "nosuchpage").startswith("error: unknown page 'nosuchpage'; installed: ")
    assert error_line(capsys, "view", "fixture_any", "nosuchrun").startswith("error: no run 'nosuchrun' under ")
    assert error_line(capsys, "view", "fixture_any", "../beta").startswith("error: '../beta' is not a run id")
    assert error_line(capsys, "view", "fixture_summary") == (
        f"error: no run under {home / 'runs'} that page 'fixture_summary' can show (it shows runs of alpha)"
    )


def test_a_damaged_run_is_named_and_passed_over_for_the_default(home, capsys):
    good = make_run(home, "alpha", "r1", started=1.0)
    damaged = make_run(home, "alpha", "r2", started=2.0)
    (damaged / "manifest.json").write_text('{"run_id": "r2", "sta')
    spec = load_plugins().page("fixture_summary")
    assert latest_record(spec, home / "runs").run_dir == good
    assert "not a readable manifest" in error_line(capsys, "view", "fixture_summary", "r2")


def test_an_out_path_that_cannot_take_the_page_is_one_line(home, capsys, tmp_path, mounted):
    make_run(home, "alpha", "r1", started=1.0)
    assert error_line(capsys, "view", "fixture_summary", "r1", "--out", str(tmp_path)) == f"error: --out {tmp_path}: is a folder; give a file name"
    missing = tmp_path / "nowhere" / "p.html"
    assert error_line(capsys, "view", "fixture_summary", "r1", "--out", str(missing)) == f"error: --out {missing}: folder {missing.parent} does not exist"
    read_only = mounted("ro", "ro,size=1m") / "p.html"
    assert error_line(capsys, "view", "fixture_summary", "r1", "--out", str(read_only)) == f"error: --out {read_only}: folder {read_only.parent} is not writable"
    full = mounted("full", "size=4k") / "p.html"
    (full.parent / "filler").write_bytes(b"x" * 4096)
    assert error_line(capsys, "view", "fixture_summary", "r1", "--out", str(full)).startswith(f"error: {full}: cannot write: ")


def test_a_read_only_run_folder_still_gives_the_out_copy_with_a_warning(home, capsys, tmp_path, mounted):
    runs = mounted("runs", "size=1m")
    run_dir = make_run(home, "alpha", "r1", started=1.0)
    subprocess.run(["cp", "-a", str(home / "runs" / "alpha"), str(runs)], check=True)
    subprocess.run(["mount", "-o", "remount,ro", str(runs)], check=True)
    out_file = tmp_path / "p.html"
    code, out, err = agilab(capsys, "view", "fixture_summary", "r1", "--out", str(out_file), "--home", str(runs.parent))
    assert (code, out) == (0, f"{out_file}\n")
    assert err.startswith("warning: ") and "cannot write" in err and err.count("\n") == 1
    assert "alpha: 5 rows" in out_file.read_text()
    without_out = error_line(capsys, "view", "fixture_summary", "r1", "--home", str(runs.parent))
    assert without_out.startswith(f"error: {runs / 'alpha' / 'r1' / 'views' / 'fixture_summary.html'}: cannot write: ")
    assert run_dir.exists()


def test_open_hands_the_written_file_to_the_browser(home, capsys, tmp_path, monkeypatch):
    run_dir = make_run(home, "alpha", "r1", started=1.0)
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(browser))
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # webbrowser reads $BROWSER once per process: make it read ours
    code, _, _ = agilab(capsys, "view", "fixture_summary", "--open")
    assert code == 0
    for _ in range(100):  # the browser command runs in the background
        if opened.exists() and opened.read_text().strip():
            break
        time.sleep(0.05)
    assert opened.read_text().strip() == (run_dir / "views" / "fixture_summary.html").as_uri()


def test_pages_lists_each_page_with_the_apps_it_shows(home, capsys):
    code, out, _ = agilab(capsys, "pages", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0
    assert rows["fixture_summary"]["apps"] == ["alpha"] and rows["fixture_summary"]["shows"] == []
    assert rows["fixture_summary"]["description"] == "rows of an alpha run"
    assert rows["fixture_any"]["apps"] is None and "flight" in rows["fixture_any"]["shows"]
    assert rows["fixture_any"]["distribution"] == "agilab-fixture-plugins"
    code, out, _ = agilab(capsys, "pages")
    assert code == 0 and "fixture_summary" in out and "alpha" in out and "any" in out


def test_page_options_reach_the_page_and_a_bad_one_is_one_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = make_run(home, "alpha", "20260101-000000-aaaa", time.time())
    code, out, err = agilab(capsys, "view", "fixture_summary", "-o", "title=<b>Flights</b>")
    assert code == 0, err
    html = (run_dir / "views" / "fixture_summary.html").read_text()
    assert "<h1>&lt;b&gt;Flights&lt;/b&gt;</h1>" in html
    assert "unknown page option(s): zoom" in error_line(capsys, "view", "fixture_summary", "-o", "zoom=3")
    # the message must survive the secret screen of error lines (KEY=... would be masked)
    assert "expected NAME=VALUE" in error_line(capsys, "view", "fixture_summary", "-o", "title")
