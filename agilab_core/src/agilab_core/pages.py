"""Pages of recorded runs: which run a page shows, and where its HTML goes.

:mod:`agilab_core.views` is the contract (a run record in, HTML text out);
this is what ``agilab view``, ``agilab ui`` and notebook export share on top
of it. A page declares the apps whose runs it shows (``PageSpec.apps``; none
means any app, its ``can_show`` deciding run by run), so "the latest run a
page can show" needs no table kept anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from agilab_core.atomic import atomic_path
from agilab_core.errors import AgilabError, UsageError
from agilab_core.runs import find_run, list_runs
from agilab_core.views import PageSpec, RunRecord, cannot_show, render_page


def run_record(runs_root: Path, run_id: str) -> RunRecord:
    """The record of ``run_id`` (a unique prefix is enough); one :class:`UsageError` line when there is none."""
    return RunRecord.from_run_dir(find_run(runs_root, run_id).parent)


def latest_record(spec: PageSpec, runs_root: Path) -> RunRecord:
    """The newest run under ``runs_root`` that ``spec`` can show; damaged runs are passed over."""
    found: list[dict[str, Any]] = []
    for app in spec.apps or (None,):
        found.extend(list_runs(runs_root, app)[0])
    found.sort(key=lambda m: (m.get("started") if isinstance(m.get("started"), (int, float)) else 0.0, m["run_id"]), reverse=True)
    for manifest in found:
        try:
            record = RunRecord.from_run_dir(runs_root / manifest["app"]["name"] / manifest["run_id"])
            if cannot_show(spec, record) is None:
                return record
        except AgilabError:
            continue
    shows = f" (it shows runs of {', '.join(spec.apps)})" if spec.apps else ""
    raise UsageError(f"no run under {runs_root} that page {spec.name!r} can show{shows}")


def shown_apps(spec: PageSpec, apps: list[str]) -> list[str]:
    """The installed ``apps`` whose runs ``spec`` may show (its ``can_show`` may still refuse a run)."""
    return [a for a in apps if not spec.apps or a in spec.apps]


def pages_showing(pages: Mapping[str, PageSpec], record: RunRecord) -> tuple[list[str], dict[str, str]]:
    """Names of the ``pages`` that can show ``record`` (sorted), and why each other one cannot (one line each)."""
    shown: list[str] = []
    refused: dict[str, str] = {}
    for name, spec in sorted(pages.items()):
        try:
            reason = cannot_show(spec, record)
        except AgilabError as exc:  # a page's own bug: that page is left out, the others shown
            reason = str(exc)
        if reason:
            refused[name] = reason
        else:
            shown.append(name)
    return shown, refused


def check_out_path(out: Path, option: str = "--out") -> None:
    """Refuse, in one line, an ``option`` path that cannot take a file (before anything is rendered)."""
    if out.is_dir():
        raise UsageError(f"{option} {out}: is a folder; give a file name")
    if not out.parent.is_dir():
        raise UsageError(f"{option} {out}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise UsageError(f"{option} {out}: folder {out.parent} is not writable")


def write_file(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` whole or not at all; one :class:`UsageError` line naming the file if it cannot."""
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


@attrs.frozen
class WrittenPage:
    """Where a rendered page went: the run's ``views/`` copy (None if it could not be written) and ``--out``."""

    page: str
    run_id: str
    app: str
    view: Path | None
    out: Path | None
    warning: str | None = None

    @property
    def path(self) -> Path:
        """The file to show the user: ``--out`` when given, else the run's copy."""
        path = self.out or self.view
        assert path is not None  # write_page writes at least one of them
        return path


def write_page(
    spec: PageSpec, runs_root: Path, run_id: str | None = None, out: Path | None = None, options: dict[str, Any] | None = None,
) -> WrittenPage:
    """Render ``spec`` for ``run_id`` (default: the latest run it can show) into ``<run>/views/<page>.html`` and ``out``.

    ``options`` go to the page's ``render`` (``-o KEY=VALUE``); a page
    refuses one it does not know, or a bad value, in one line.

    With ``out``, a run folder that cannot be written to (someone else's
    runs, a read-only copy) is a warning, not a failure: the page still
    reaches ``out``.
    """
    if out is not None:
        check_out_path(out)
    record = run_record(runs_root, run_id) if run_id else latest_record(spec, runs_root)
    html = render_page(spec, record, options=options or {})
    view: Path | None = None
    warning = None
    try:
        view = write_file(record.view_path(spec.name), html)
    except UsageError as exc:
        if out is None:
            raise
        warning = str(exc)
    if out is not None:
        write_file(out, html)
    return WrittenPage(spec.name, record.run_id, record.app, view, out, warning)
