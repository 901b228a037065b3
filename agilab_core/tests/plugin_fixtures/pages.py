"""Two pages: ``fixture_summary`` shows runs of app ``alpha`` that have rows, ``fixture_any`` any run."""

from html import escape

from agilab_core.errors import UsageError

from agilab_core import PageSpec, hookimpl


def _summary(record, options) -> str:
    unknown = sorted(set(options) - {"title"})
    if unknown:
        raise UsageError(f"unknown page option(s): {', '.join(unknown)}")
    rows = sum(r.rows for r in record.results)
    title = escape(str(options.get("title", record.run_id)))
    return f"<!doctype html><html><body><h1>{title}</h1><p>{escape(record.app)}: {rows} rows</p></body></html>"


def _needs_rows(record) -> str | None:
    return None if any(r.rows for r in record.results) else "this run has no rows"


@hookimpl
def register_pages():
    return [
        PageSpec("fixture_summary", _summary, apps=("alpha",), description="rows of an alpha run", can_show=_needs_rows),
        PageSpec("fixture_any", _summary),
    ]
