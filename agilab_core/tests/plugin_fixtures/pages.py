"""Two pages: ``fixture_summary`` shows runs of app ``alpha`` that have rows, ``fixture_any`` any run."""

from html import escape

from agilab_core import PageSpec, hookimpl


def _summary(record, options) -> str:
    rows = sum(r.rows for r in record.results)
    return f"<!doctype html><html><body><h1>{escape(record.run_id)}</h1><p>{escape(record.app)}: {rows} rows</p></body></html>"


def _needs_rows(record) -> str | None:
    return None if any(r.rows for r in record.results) else "this run has no rows"


@hookimpl
def register_pages():
    return [
        PageSpec("fixture_summary", _summary, apps=("alpha",), description="rows of an alpha run", can_show=_needs_rows),
        PageSpec("fixture_any", _summary),
    ]
