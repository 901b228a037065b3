"""Page ``{{ cookiecutter.name }}``: a run's items at a glance, as one self-contained HTML file.

A page is a function from a run's evidence to HTML text. Everything shown
comes from data (item ids are file names, messages are the app's), so every
value is escaped; the style is inline, and nothing is fetched from a network.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from agilab_core import ItemResult, PageSpec, RunRecord, hookimpl

NAME = "{{ cookiecutter.name }}"

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
th, td { padding: 0.25em 0.75em; border-bottom: 1px solid #ddd; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.failed { color: #b00020; }
"""


def _row(result: ItemResult) -> str:
    error = f"{result.error.type}: {result.error.message}" if result.error else ""
    cells = [
        f"<td>{html.escape(result.item_id)}</td>",
        f'<td class="{html.escape(result.status)}">{html.escape(result.status)}</td>',
        f"<td>{html.escape(result.worker)}</td>",
        f'<td class="number">{result.seconds:.3f}</td>',
        f'<td class="number">{result.rows}</td>',
        f'<td class="number">{result.bytes_out}</td>',
        f'<td class="number">{result.attempts}</td>',
        f"<td>{html.escape(error)}</td>",
    ]
    return f"<tr>{''.join(cells)}</tr>"


def _table(results: Iterable[ItemResult]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("item", "status", "worker", "seconds", "rows", "bytes out", "attempts", "error"))
    body = "\n".join(_row(r) for r in sorted(results, key=lambda r: r.item_id))
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def render(record: RunRecord) -> str:
    """The page of ``record``: the run's counts, then one row per item."""
    ok = sum(1 for r in record.results if r.ok)
    title = f"{record.app} run {record.run_id}"
    return (
        "<!doctype html>\n"
        f'<html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>\n'
        f"<body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p>status {html.escape(record.status)}: {ok} of {len(record.results)} items ok</p>\n"
        f"{_table(record.results)}\n</body></html>\n"
    )


def can_show(record: RunRecord) -> str | None:
    """Why this page cannot show ``record`` (one line), or None when it can."""
    return None if record.results else "the run has no finished item yet"


@hookimpl
def register_pages() -> list[PageSpec]:
    return [PageSpec(NAME, render, description="{{ cookiecutter.description|replace('"', "'") }}", can_show=can_show)]
