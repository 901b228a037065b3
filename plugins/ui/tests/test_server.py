"""``agilab ui`` as users start it: a real uvicorn server on 127.0.0.1, driven by Debian's Chromium.

The server runs in its own process (``agilab ui --port 0``: any free port,
printed on its first line) and is stopped after each test. The browser test
needs the repository's ``maps`` page plugin (``make install`` installs it).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agilab_core.evidence import manager_identity
from playwright.sync_api import expect

from .conftest import item, make_run

AGILAB = str(Path(sys.executable).with_name("agilab"))


def start(home: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "AGILAB_HOME": str(home)}
    env.pop("AGILAB_DISABLE_PLUGINS", None)
    proc = subprocess.Popen([AGILAB, "ui", "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("AGILab UI on http://"):
        proc.kill()
        pytest.fail(f"agilab ui did not start: {line!r} {proc.communicate()[1]!r}")
    return proc, line.split()[3]


def stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        return proc.communicate(timeout=20)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[1]


@pytest.fixture
def server(flight_home: tuple[Path, Any]) -> Iterator[str]:
    proc, url = start(flight_home[0])
    yield url
    stop(proc)


def run_ui(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGILAB, "ui", *args], capture_output=True, text=True, env={**os.environ, "AGILAB_HOME": str(home)}, timeout=60)


def test_a_host_other_machines_reach_needs_allow_remote(tmp_path: Path):
    proc = run_ui(tmp_path, "--host", "0.0.0.0")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "error: --host 0.0.0.0 is not a loopback address: add --allow-remote to let other machines read your runs\n"


def test_allow_remote_serves_with_a_warning(tmp_path: Path):
    proc, url = start(tmp_path, "--host", "0.0.0.0", "--allow-remote")
    try:
        port = url.rsplit(":", 1)[1].strip("/")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "lab-host.example"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200 and b"No run yet" in response.read()
    finally:
        err = stop(proc)
    assert err.startswith("warning: serving ") and "anyone who can reach this machine can read every run" in err


def test_a_port_in_use_is_one_line(tmp_path: Path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        proc = run_ui(tmp_path, "--port", str(port))
    finally:
        taken.close()
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ") and proc.stderr.count("\n") == 1


def test_the_server_answers_loopback_names_and_refuses_others(server: str):
    with urllib.request.urlopen(server + "api/runs", timeout=30) as response:
        assert response.status == 200
    port = server.rsplit(":", 1)[1].strip("/")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "rebound.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400


def test_the_browser_lists_a_run_opens_its_detail_and_its_map(server: str, flight_home, chromium_browser):
    _, result = flight_home
    context = chromium_browser.new_context(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server)
        link = page.get_by_role("link", name=result.run_id)
        assert link.count() == 1
        row = page.locator("tr", has=link).inner_text()
        assert "flight" in row and "local" in row and "ok" in row and "4/4" in row
        link.click()
        page.wait_for_url(f"**/runs/flight/{result.run_id}")
        assert page.locator("h1").inner_text() == f"flight run {result.run_id}"
        assert page.locator("section.items tbody tr").count() == 4
        frame = page.frame_locator("iframe.page")
        frame.locator("#map canvas, #map svg").first.wait_for(timeout=60_000)
        assert "Points shown" in frame.locator("#stats").inner_text()
        for url in (f"/runs/flight/{result.run_id}/..%2F..%2F..%2Fetc%2Fpasswd", "/runs/flight/nosuchrun", "/runs/..%2F..%2Fetc/passwd"):
            response = page.goto(server.rstrip("/") + url)
            assert response is not None and response.status == 404, url
        assert errors == []
        assert all(r.startswith(server) for r in requests), [r for r in requests if not r.startswith(server)]
    finally:
        context.close()


def test_a_live_run_s_page_follows_its_journal_and_reloads_when_it_ends(tmp_path: Path, chromium_browser):
    plan = {"slots": [{"worker": "localhost/0", "host": "localhost", "items": ["a.csv", "b.csv", "c.csv"]}]}
    run_dir = make_run(tmp_path / "runs", "alpha", "live", [item("a.csv")], status="running", manager=manager_identity(), plan=plan)
    proc, url = start(tmp_path)
    context = chromium_browser.new_context()
    try:
        page = context.new_page()
        page.goto(url + "runs/alpha/live")
        summary = page.locator("section.summary")
        assert summary.locator("[data-field=ok]").inner_text() == "1"
        assert summary.locator("[data-field=total]").inner_text() == "3"
        with (run_dir / "items.jsonl").open("a") as journal:
            journal.write(json.dumps(item("b.csv")) + "\n")
        expect(summary.locator("[data-field=ok]")).to_have_text("2", timeout=30_000)
        manifest = json.loads((run_dir / "manifest.json").read_text())
        manifest.update(status="ok", items={"total": 3, "ok": 3, "failed": 0}, results=[item("a.csv"), item("b.csv"), item("c.csv")])
        (run_dir / "manifest.json").write_text(json.dumps(manifest))
        expect(page.locator("section.summary .badge")).to_have_text("ok", timeout=30_000)
        assert page.locator("section.summary progress").count() == 0  # reloaded: a finished run has no progress bar
        assert page.locator("section.items tbody tr").count() == 3
    finally:
        context.close()
        stop(proc)
