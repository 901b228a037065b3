"""``{{ cookiecutter.name }}`` on real runs: made by the probe app on the ``local`` executor, read back from their folders."""

from __future__ import annotations

import html.parser

import attrs
import pytest
from {{ cookiecutter.__package }}.page import render

from agilab_core import RunRecord, UsageError, load_plugins, render_page


class _Parsed(html.parser.HTMLParser):
    """Tags and text of a page, and every address it would fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.fetched: list[str] = []

    def handle_starttag(self, tag: str, attrs_: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.fetched += [value or "" for name, value in attrs_ if name in ("src", "href")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Parsed:
    parsed = _Parsed()
    parsed.feed(page)
    return parsed


@pytest.fixture
def run(agilab_agi) -> RunRecord:
    """A finished run of four items, one of which failed."""
    result = agilab_agi.run("probe", executor="local", args={"count": 4, "fail": [2]})
    assert result.items == {"total": 4, "ok": 3, "failed": 1}
    return RunRecord.from_run_dir(result.manifest.parent)


def test_it_is_registered_by_its_entry_point() -> None:
    registry = load_plugins()
    assert registry.page("{{ cookiecutter.name }}").render is render
    (info,) = [p for p in registry.plugins if p.kind == "page" and p.name == "{{ cookiecutter.name }}"]
    assert (info.status, info.distribution) == ("loaded", "{{ cookiecutter.__distribution }}")


def test_a_run_renders_with_one_row_per_item(run: RunRecord) -> None:
    page = render_page(load_plugins().page("{{ cookiecutter.name }}"), run)
    parsed = parse(page)
    assert parsed.tags.count("tr") == 1 + 4  # the header and one row per item
    text = "".join(parsed.text)
    assert run.run_id in text and "3 of 4 items ok" in text
    assert "probe item 2 fails on purpose" in text
    assert parsed.fetched == []  # self-contained: nothing to fetch


def test_values_from_data_are_escaped(run: RunRecord) -> None:
    hostile = "<script>alert(1)</script>"
    first = attrs.evolve(run.results[0], item_id=hostile)
    page = render(attrs.evolve(run, results=(first, *run.results[1:])))
    assert hostile not in page and "script" not in parse(page).tags
    assert hostile in "".join(parse(page).text)


def test_a_run_without_results_is_refused_in_one_line(run: RunRecord) -> None:
    with pytest.raises(UsageError, match="no finished item") as refused:
        render_page(load_plugins().page("{{ cookiecutter.name }}"), attrs.evolve(run, results=()))
    assert "\n" not in str(refused.value)
