"""Runs to map: a real flight run (the app run by the ``agilab`` command) and hand-written hostile ones."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from agilab_app_flight.sample import generate

from agilab_core import RunRecord

PAGE_URL = "http://maps.invalid/page.html"
EPOCH = dt.datetime(2021, 1, 1)


@pytest.fixture(scope="session")
def flight_run(tmp_path_factory: pytest.TempPathFactory) -> RunRecord:
    """A finished run of the flight app over 8 generated flights, made by ``agilab run`` in a fresh home."""
    home = tmp_path_factory.mktemp("maps-home")
    generate(home / "data" / "flight", files=8, rows=2500, seed=3)
    env = {**os.environ, "AGILAB_HOME": str(home)}
    done = subprocess.run([str(Path(sys.executable).with_name("agilab")), "run", "flight", "--executor", "local"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (home / "runs" / "flight").iterdir()
    return RunRecord.from_run_dir(run_dir)


def write_run(run_dir: Path, app: str, outputs: dict[str, pl.DataFrame | str], item: str = "item") -> RunRecord:
    """A run folder as the kernel leaves it: a manifest whose one ok item wrote ``outputs``.

    An output is a frame (written as Parquet, or CSV for a ``.csv`` name) or raw text.
    """
    files = []
    for relative, content in outputs.items():
        path = run_dir / "outputs" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        elif path.suffix == ".csv":
            content.write_csv(path)
        else:
            content.write_parquet(path)
        files.append({"path": relative, "sha256": "0" * 64, "bytes": path.stat().st_size})
    result = {"item_id": item, "status": "ok", "worker": "w0", "host": "localhost", "started": 1.0, "finished": 2.0, "outputs": files}
    manifest: dict[str, Any] = {"schema": 1, "run_id": run_dir.name, "status": "ok", "app": {"name": app}, "results": [result]}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return RunRecord.from_run_dir(run_dir)


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., RunRecord]:
    """``make_run(name, outputs, app="flight")``: a hand-written run folder (see :func:`write_run`)."""

    def make(name: str, outputs: dict[str, pl.DataFrame | str], app: str = "flight", item: str = "item") -> RunRecord:
        return write_run(tmp_path / name, app, outputs, item)

    return make


def flight_frame(aircraft: str | None, lat: list[float], lon: list[float], speed: list[float] | None = None, start_s: int = 0) -> pl.DataFrame:
    """A flight output frame: one fix per second from ``start_s``, with speed and altitude."""
    n = len(lat)
    return pl.DataFrame(
        {
            "date": [EPOCH + dt.timedelta(seconds=start_s + i) for i in range(n)],
            "aircraft": [aircraft] * n,
            "long": lon,
            "lat": lat,
            "alt": [1000.0 + i for i in range(n)],
            "speed_mps": speed if speed is not None else [100.0 + i for i in range(n)],
        },
        schema_overrides={"aircraft": pl.String},
    )


@pytest.fixture
def fixes() -> Callable[..., pl.DataFrame]:
    """``fixes(aircraft, lat, lon, speed=None, start_s=0)``: a flight output frame (see :func:`flight_frame`)."""
    return flight_frame


@pytest.fixture
def browser_page(chromium_browser: Any) -> Iterator[Callable[[str], Any]]:
    """``open(html)``: a fresh browser page showing ``html`` as if served from :data:`PAGE_URL`.

    Every request the page makes goes through a route: the page's own URL is
    answered with ``html``, any other is recorded in ``page.requests`` and
    refused, so a test sees every attempt to reach the network (``data:``
    URLs are not requests). What the page's own Content-Security-Policy
    blocks never becomes a request: ``page.blocked()`` lists those. The
    context is closed after the test.
    """
    contexts = []

    def open_page(html: str, width: int = 900, height: int = 560) -> Any:
        context = chromium_browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.requests = []
        page.errors = []

        def route(route: Any) -> None:
            if route.request.url == PAGE_URL:
                route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
            else:
                page.requests.append(route.request.url)
                route.abort()

        context.route("**/*", route)
        # a request the page's Content-Security-Policy blocks never reaches the route: record those too
        context.add_init_script(
            "window.__blocked = []; document.addEventListener('securitypolicyviolation', e => window.__blocked.push(e.blockedURI));"
        )
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.blocked = lambda: page.evaluate("window.__blocked")
        page.goto(PAGE_URL)
        page.wait_for_selector("body[data-drawn='1'], .maps-empty", state="attached")
        return page

    yield open_page
    for context in contexts:
        context.close()
