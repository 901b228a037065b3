"""The web app: read-only routes over the runs folder, and the headers that keep them contained.

Routes (GET only; anything else is 405):

* ``/`` and ``/api/runs``: every run, newest first (HTML, JSON);
* ``/runs/{app}/{run_id}``: a run's items, hosts, timings, failures, outputs
  and pages (``?page=NAME`` chooses the page shown);
* ``/api/runs/{app}/{run_id}``: its progress, read from its journal (the run
  page polls it while the run is going);
* ``/runs/{app}/{run_id}/pages/{page}``: the page rendered for the run.

A run is found only through :class:`~agilab_ui.index.RunIndex` (no URL is
joined to a path). Every HTML response carries a Content-Security-Policy: the
app loads its own script and style only, and a page may load nothing at all
(no CDN, no tile server, no request to this app), shown in a sandboxed frame.
Templates autoescape everything, so names and messages with markup print as text.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from agilab_core.errors import AgilabError, one_line
from agilab_core.pages import pages_showing
from agilab_core.views import PageSpec, RunRecord, cannot_show, render_page
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from agilab_ui import summaries
from agilab_ui.index import RunIndex, evidence_stamp

#: Host headers a loopback-bound server answers (a page elsewhere that rebinds its DNS name to 127.0.0.1 gets 400).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

UI_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: A page is self-contained: inline code and data URLs only, nothing fetched, run in a sandbox of its own.
PAGE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' blob:; style-src 'unsafe-inline'; img-src data: blob:; "
    "font-src data:; worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox allow-scripts"
)
_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
_STATIC = {"ui.js": "text/javascript; charset=utf-8", "ui.css": "text/css; charset=utf-8"}
_RENDERED_PAGES = 8  # rendered pages kept in memory (a maps page of a large run is a few MB)


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("agilab_ui", "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(duration=summaries.duration, size=summaries.size, when=summaries.when)
    return env


class PageCache:
    """The last few rendered pages, each valid while its run's manifest and journal are unchanged."""

    def __init__(self, size: int = _RENDERED_PAGES) -> None:
        self.size = size
        self._pages: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, spec: PageSpec, record: RunRecord) -> str:
        key = (record.run_dir, spec.name, evidence_stamp(record.run_dir))
        with self._lock:
            if key in self._pages:
                self._pages.move_to_end(key)
                return self._pages[key]
        html = render_page(spec, record)
        with self._lock:
            self._pages[key] = html
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return html


class RunsApp:
    """The routes, over one runs folder and the installed pages."""

    def __init__(self, runs_root: Path, pages: Mapping[str, PageSpec]) -> None:
        self.index = RunIndex(runs_root)
        self.pages = dict(sorted(pages.items()))
        self.templates = _templates()
        for name in ("runs.html", "run.html", "message.html"):
            self.templates.get_template(name)  # compiled once, at start-up
        self.rendered = PageCache()
        self.static = {name: resources.files("agilab_ui").joinpath("static", name).read_text(encoding="utf-8") for name in _STATIC}

    def html(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(runs_root=str(self.index.root), **context)
        return HTMLResponse(body, status, headers={**_HEADERS, "Content-Security-Policy": UI_POLICY})

    # -- routes ------------------------------------------------------------------------

    def run_list(self, request: Request) -> Response:
        runs, problems = self.index.manifests()
        rows = [summaries.RunRow.of(app, run_id, m) for app, run_id, m in runs]
        return self.html("runs.html", rows=rows, problems=problems)

    def run_list_json(self, request: Request) -> Response:
        runs, problems = self.index.manifests()
        rows = [summaries.RunRow.of(app, run_id, m).to_dict() for app, run_id, m in runs]
        return JSONResponse({"runs": rows, "problems": problems}, headers=_HEADERS)

    def run_detail(self, request: Request) -> Response:
        app, run_id = request.path_params["app"], request.path_params["run_id"]
        record = self._record(app, run_id)
        shown, refused = pages_showing(self.pages, record)
        chosen = request.query_params.get("page") or (shown[0] if shown else None)
        if chosen is not None and chosen not in shown:
            chosen = None
        results = record.results
        item_rows = summaries.items(results, record.manifest.get("started"))
        output_rows = summaries.outputs(results)
        base = summaries.run_url(app, run_id)
        return self.html(
            "run.html",
            app=app, run_id=run_id, base=base, header=summaries.header(record.manifest), error=str(record.manifest.get("error") or ""),
            progress=summaries.Progress.of(record.manifest), hosts=summaries.hosts(results),
            items=item_rows[: summaries.LIST_LIMIT], more_items=max(0, len(item_rows) - summaries.LIST_LIMIT),
            failures=[i for i in item_rows if i.status != "ok"][: summaries.LIST_LIMIT],
            outputs=output_rows[: summaries.LIST_LIMIT], more_outputs=max(0, len(output_rows) - summaries.LIST_LIMIT),
            outputs_bytes=sum(o.bytes for o in output_rows),
            shown=shown, refused=refused, chosen=chosen,
        )

    def run_progress(self, request: Request) -> Response:
        run_dir = self._folder(request.path_params["app"], request.path_params["run_id"])
        manifest = self.index.manifest(run_dir)
        if isinstance(manifest, str):
            raise HTTPException(500, manifest)
        return JSONResponse(summaries.Progress.of(manifest).to_dict(), headers=_HEADERS)

    def run_page(self, request: Request) -> Response:
        spec = self.pages.get(request.path_params["page"])
        if spec is None:
            raise HTTPException(404, "no such page")
        record = self._record(request.path_params["app"], request.path_params["run_id"])
        try:
            reason = cannot_show(spec, record)
            if reason:
                raise HTTPException(404, f"page {spec.name!r} cannot show run {record.run_id}: {reason}")
            html = self.rendered.get(spec, record)
        except AgilabError as exc:
            raise HTTPException(500, one_line(exc)) from None
        return HTMLResponse(html, headers={**_HEADERS, "Content-Security-Policy": PAGE_POLICY})

    def static_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.static:
            raise HTTPException(404, "no such file")
        return Response(self.static[name], media_type=_STATIC[name], headers={"X-Content-Type-Options": "nosniff"})

    def error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail}, status, headers=_HEADERS)
        return self.html("message.html", status=status, status_code=status, message=detail)

    # -- lookups -----------------------------------------------------------------------

    def _folder(self, app: str, run_id: str) -> Path:
        run_dir = self.index.folder(app, run_id)
        if run_dir is None:
            raise HTTPException(404, "no such run")
        return run_dir

    def _record(self, app: str, run_id: str) -> RunRecord:
        run_dir = self._folder(app, run_id)
        try:
            return RunRecord.from_run_dir(run_dir)
        except AgilabError as exc:
            raise HTTPException(500, f"cannot read run {run_id}: {one_line(exc)}") from None


def make_app(runs_root: Path, pages: Mapping[str, PageSpec], allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS) -> Starlette:
    """The ASGI app serving ``runs_root``; ``allowed_hosts=None`` answers any Host header (``--allow-remote``)."""
    runs = RunsApp(runs_root, pages)
    routes = [
        Route("/", runs.run_list),
        Route("/api/runs", runs.run_list_json),
        Route("/api/runs/{app}/{run_id}", runs.run_progress),
        Route("/runs/{app}/{run_id}", runs.run_detail),
        Route("/runs/{app}/{run_id}/pages/{page}", runs.run_page),
        Route("/static/{name}", runs.static_file),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))] if allowed_hosts else []
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: runs.error, Exception: runs.error})
    app.state.runs = runs
    return app
