"""The web app's routes through Starlette's TestClient: what a run shows, what no URL can reach, markup kept as text."""

from __future__ import annotations

import json
import os
import re
from html import unescape
from pathlib import Path

import pytest
from agilab_core.evidence import manager_identity
from agilab_core.views import PageSpec
from agilab_ui.app import make_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from .conftest import item, make_run

HOSTILE = '<script>alert("x")</script>'


def _summary(record) -> str:
    return f"<!doctype html><p>{len(record.results)} items of {record.run_id}</p>"


def _broken(record) -> str:
    raise ValueError("the page's own bug")


PAGES = {
    "summary": PageSpec("summary", _summary, apps=("alpha",)),
    "broken": PageSpec("broken", _broken, apps=("alpha",)),
    "picky": PageSpec("picky", _summary, can_show=lambda record: "needs <b>rows</b>" if not any(r.rows for r in record.results) else None),
}


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    outputs = [{"path": "part=1/a.parquet", "sha256": "ab" * 32, "bytes": 2048}]
    make_run(root, "alpha", "r-ok", [item("a.csv", rows=10, bytes_in=1000, outputs=outputs), item("b.csv", started=101.0, rows=5)])
    failure = {"type": "ValueError", "message": f"bad row {HOSTILE}", "traceback": "Traceback ...\nValueError: bad row"}
    make_run(root, "alpha", "r-failed", [item("a.csv"), item("c.csv", status="failed", attempts=2, error=failure)], status="failed", started=200.0)
    return root


@pytest.fixture
def client(runs: Path) -> TestClient:
    return TestClient(make_app(runs, PAGES), base_url="http://127.0.0.1")


def text(html: str) -> str:
    """What a reader sees: tags dropped, entities decoded, blanks squeezed."""
    inline = re.sub(r"</?(span|a|b|code|small)\b[^>]*>", "", html)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", inline))).strip()


def test_the_list_shows_each_run_from_its_evidence_newest_first(client):
    page = client.get("/")
    assert page.status_code == 200
    seen = text(page.text)
    assert re.search(r"r-failed alpha local failed 1/2 1 10\.00 s", seen), seen
    assert re.search(r"r-ok alpha local ok 2/2 0 10\.00 s", seen)
    assert seen.index("r-failed") < seen.index("r-ok")
    rows = client.get("/api/runs").json()["runs"]
    assert [(r["run_id"], r["status"], r["ok"], r["failed"], r["url"]) for r in rows] == [
        ("r-failed", "failed", 1, 1, "/runs/alpha/r-failed"), ("r-ok", "ok", 2, 0, "/runs/alpha/r-ok"),
    ]


def test_a_run_page_shows_items_hosts_outputs_and_its_pages(client):
    page = client.get("/runs/alpha/r-ok")
    assert page.status_code == 200
    seen = text(page.text)
    assert "2/2 items ok, 0 failed" in seen and "alpha 1.0" in seen
    assert re.search(r"localhost 2 2 0 15 1000 B 0 B 4\.00 s", seen), seen  # host: items ok failed rows read written busy
    assert re.search(r"a\.csv ok localhost/0 localhost 0\.00 s 2\.00 s 10 1", seen)
    assert "part=1/a.parquet 2.0 KB " + "ab" * 32 + " a.csv" in seen
    frames = re.findall(r'<iframe[^>]*sandbox="allow-scripts"[^>]*src="([^"]+)"', page.text)
    assert frames == ["/runs/alpha/r-ok/pages/broken"]  # the first page (by name) that can show the run
    chosen = client.get("/runs/alpha/r-ok?page=summary").text
    assert re.findall(r'<iframe[^>]*src="([^"]+)"', chosen) == ["/runs/alpha/r-ok/pages/summary"]
    assert "2 items of r-ok" in client.get("/runs/alpha/r-ok/pages/summary").text


def test_failures_show_their_messages_and_markup_stays_text(client):
    page = client.get("/runs/alpha/r-failed")
    assert page.status_code == 200
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
    seen = text(page.text)
    assert f"c.csv on localhost/0 (localhost), attempt 2: ValueError bad row {HOSTILE}" in seen
    assert "Traceback ... ValueError: bad row" in seen
    assert "picky: needs <b>rows</b>" in seen  # a page's reason is text too


def test_hostile_names_on_disk_are_shown_as_text_and_reachable(tmp_path: Path):
    root = tmp_path / "runs"
    app, run_id = '<b onclick="x">app', '"><img src=x onerror=alert(1)>'
    make_run(root, app, run_id, [item("<i>item</i>", error=None)])
    client = TestClient(make_app(root, {}), base_url="http://127.0.0.1")
    listing = client.get("/")
    assert "<b onclick" not in listing.text and "<img src=x" not in listing.text
    assert "&lt;b onclick=&#34;x&#34;&gt;app" in listing.text
    (url,) = [r["url"] for r in client.get("/api/runs").json()["runs"]]
    assert url == "/runs/%3Cb%20onclick%3D%22x%22%3Eapp/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"
    detail = client.get(url)
    assert detail.status_code == 200 and "<i>item</i>" not in detail.text and "&lt;i&gt;item&lt;/i&gt;" in detail.text


@pytest.mark.parametrize(
    "url",
    [
        "/runs/alpha/nosuchrun", "/runs/nosuchapp/r-ok", "/runs/alpha/..", "/runs/../alpha", "/runs/%2e%2e/%2e%2e",
        "/runs/alpha/%2e%2e", "/runs/alpha/r-ok%2F..%2F..%2F..%2Fetc", "/runs/alpha/..%2F..%2F..%2Fetc%2Fpasswd",
        "/runs/%2Fetc/passwd", "/runs//etc/passwd", "/runs/alpha/r-ok/pages/..%2Fmanifest.json",
        "/runs/alpha/r-ok/pages/nosuchpage", "/api/runs/alpha/%2e%2e", "/api/runs/%2e%2e/%2e%2e", "/static/..%2Fapp.py",
        "/static/ui.js%00", "/runs/alpha/r-ok/manifest.json", "/runs/alpha/r-ok/items.jsonl", "/../../etc/passwd",
    ],
)
def test_no_url_reaches_a_file_outside_the_runs_it_listed(client, url):
    response = client.get(url)
    assert response.status_code == 404, url
    assert "root:" not in response.text and '"run_id"' not in response.text


def test_links_to_folders_outside_the_runs_folder_are_not_runs(tmp_path: Path, runs: Path):
    outside = tmp_path / "outside"
    make_run(outside, "alpha", "secret", [item("s.csv")])
    os.symlink(outside / "alpha" / "secret", runs / "alpha" / "linked")
    os.symlink(outside / "alpha", runs / "linked-app")
    make_run(runs, "alpha", "linked-manifest", [item("x.csv")])
    (runs / "alpha" / "linked-manifest" / "manifest.json").unlink()
    os.symlink(outside / "alpha" / "secret" / "manifest.json", runs / "alpha" / "linked-manifest" / "manifest.json")
    client = TestClient(make_app(runs, PAGES), base_url="http://127.0.0.1")
    for url in ("/runs/alpha/linked", "/runs/linked-app/secret", "/runs/alpha/linked-manifest", "/api/runs/alpha/linked"):
        assert client.get(url).status_code == 404, url
    assert {r["run_id"] for r in client.get("/api/runs").json()["runs"]} == {"r-ok", "r-failed"}


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(app=st.text(min_size=1, max_size=12), run_id=st.text(min_size=1, max_size=12))
def test_any_name_but_a_listed_run_is_404(client, app, run_id):
    from urllib.parse import quote

    response = client.get(f"/runs/{quote(app, safe='')}/{quote(run_id, safe='')}")
    listed = (app, run_id) in {("alpha", "r-ok"), ("alpha", "r-failed")}
    assert response.status_code == (200 if listed else 404)


def test_the_app_is_read_only(client):
    for method in ("post", "put", "delete", "patch"):
        assert getattr(client, method)("/runs/alpha/r-ok").status_code == 405
        assert getattr(client, method)("/").status_code == 405


def test_a_host_header_other_than_loopback_is_refused(runs: Path):
    rebinding = TestClient(make_app(runs, PAGES), base_url="http://attacker.example")
    assert rebinding.get("/").status_code == 400
    anywhere = TestClient(make_app(runs, PAGES, allowed_hosts=None), base_url="http://lab-host.example")
    assert anywhere.get("/").status_code == 200


def test_pages_are_sandboxed_and_may_load_nothing(client):
    page = client.get("/runs/alpha/r-ok/pages/summary")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox allow-scripts" in policy and "connect-src" not in policy
    assert "script-src 'self'" in client.get("/").headers["content-security-policy"]
    assert client.get("/static/ui.js").headers["content-type"].startswith("text/javascript")


def test_a_page_that_cannot_show_a_run_or_fails_is_one_line(client):
    refused = client.get("/runs/alpha/r-ok/pages/picky")
    assert refused.status_code == 200  # r-ok has rows: picky shows it
    refused = client.get("/runs/alpha/r-failed/pages/picky")
    assert refused.status_code == 404 and "needs &lt;b&gt;rows&lt;/b&gt;" in refused.text
    broken = client.get("/runs/alpha/r-ok/pages/broken")
    assert broken.status_code == 500
    assert "page &#39;broken&#39; failed on run r-ok: ValueError: the page&#39;s own bug" in broken.text


def _plan(*items: str) -> dict:
    return {"slots": [{"worker": "localhost/0", "host": "localhost", "items": list(items)}]}


def test_a_live_run_s_progress_comes_from_its_journal(tmp_path: Path):
    root = tmp_path / "runs"
    run_dir = make_run(root, "alpha", "live", [item("a.csv")], status="running", manager=manager_identity(), plan=_plan("a.csv", "b.csv", "c.csv"))
    client = TestClient(make_app(root, PAGES), base_url="http://127.0.0.1")
    assert 'data-progress="/api/runs/alpha/live"' in client.get("/runs/alpha/live").text
    first = client.get("/api/runs/alpha/live").json()
    assert (first["status"], first["ok"], first["failed"], first["total"], first["done"]) == ("running", 1, 0, 3, False)
    with (run_dir / "items.jsonl").open("a") as journal:
        journal.write(json.dumps(item("b.csv", status="failed", error={"type": "E", "message": "m"})) + "\n")
    second = client.get("/api/runs/alpha/live").json()
    assert (second["ok"], second["failed"], second["unfinished"], second["done"]) == (1, 1, 1, False)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest.update(status="failed", items={"total": 3, "ok": 2, "failed": 1})
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    third = client.get("/api/runs/alpha/live").json()
    assert (third["status"], third["ok"], third["done"]) == ("failed", 2, True)


def test_a_run_whose_manager_died_is_listed_interrupted(tmp_path: Path):
    root = tmp_path / "runs"
    dead = {**manager_identity(), "pid": 2**22 + 12345, "process_start": -1}
    make_run(root, "alpha", "killed", [item("a.csv")], status="running", manager=dead, plan=_plan("a.csv", "b.csv"))
    client = TestClient(make_app(root, PAGES), base_url="http://127.0.0.1")
    (row,) = client.get("/api/runs").json()["runs"]
    assert (row["status"], row["ok"], row["unfinished"], row["done"]) == ("interrupted", 1, 1, True)


def test_damaged_evidence_is_named_and_never_hides_the_other_runs(client, runs: Path):
    make_run(runs, "alpha", "damaged", [item("a.csv")])
    (runs / "alpha" / "damaged" / "manifest.json").write_text('{"run_id": "dam')
    listing = client.get("/api/runs").json()
    assert {r["run_id"] for r in listing["runs"]} == {"r-ok", "r-failed"}
    (problem,) = listing["problems"]
    assert "damaged" in problem and "not a readable manifest" in problem
    detail = client.get("/runs/alpha/damaged")
    assert detail.status_code == 500 and "not a readable manifest" in detail.text and "Traceback" not in detail.text


def test_a_real_flight_run_lists_and_shows_its_outputs(flight_home):
    home, result = flight_home
    client = TestClient(make_app(home / "runs", {}), base_url="http://127.0.0.1")
    (row,) = client.get("/api/runs").json()["runs"]
    assert (row["app"], row["run_id"], row["status"], row["ok"], row["total"]) == ("flight", result.run_id, "ok", 4, 4)
    detail = client.get(row["url"]).text
    for r in result.results:
        assert r.item_id in detail
        for output in r.outputs:
            assert output.path in detail
