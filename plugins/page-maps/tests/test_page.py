"""The page as text: registration, escaping, runs with nothing to map, options, reading outputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import polars as pl
import pytest
from agilab_core.plugins import load_plugins
from agilab_page_maps.page import maps_html, offline_css, packaged, payload, piece_speed, script_json
from agilab_page_maps.plugin import register_pages
from agilab_page_maps.simplify import downsample
from agilab_page_maps.tracks import Tracks, read_standard, read_tracks, unwrap_segments
from hypothesis import given, settings
from hypothesis import strategies as st

from agilab_core import InputError, PageSpec, UsageError, render_page

MAPS: PageSpec = register_pages()[0]


class Scripts(HTMLParser):
    """The text of every ``<script>`` element, as a browser's HTML parser splits them."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


class Heading(HTMLParser):
    """The text of ``<title>`` and ``<h1>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("title", "h1"):
            self._in = True
            self.texts.append("")

    def handle_data(self, data: str) -> None:
        if self._in:
            self.texts[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "h1"):
            self._in = False


def scripts(html: str) -> list[tuple[dict[str, str | None], str]]:
    parser = Scripts()
    parser.feed(html)
    return parser.scripts


def test_the_page_is_registered_for_flight_runs() -> None:
    registry = load_plugins()
    assert "maps" in registry.pages
    assert registry.pages["maps"].apps == ("flight",)


def test_registering_the_page_imports_neither_polars_nor_numpy() -> None:
    code = "import sys, agilab_page_maps.plugin as p; p.register_pages(); print(sorted({'polars', 'numpy'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


@settings(max_examples=300)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20))
def test_script_json_cannot_close_its_element_and_reads_back(value) -> None:  # noqa: ANN001
    text = script_json(value)
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(text) == value
    ((_, inside),) = scripts(f'<script type="application/json">{text}</script>')
    assert json.loads(inside) == value


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=100, deadline=None)
@given(st.lists(names, min_size=1, max_size=3), names, names)
def test_any_names_and_title_reach_the_browser_as_text(aircraft, flight, title) -> None:  # noqa: ANN001
    n = len(aircraft)
    tracks = Tracks(
        aircraft=tuple(aircraft), flight=(flight,) * n, offsets=np.arange(0, 2 * n + 1, 2), starts=np.arange(0, 2 * n, 2),
        lat=np.zeros(2 * n), lon=np.arange(2.0 * n), time=np.full(2 * n, np.nan), speed=np.full(2 * n, np.inf), alt=np.zeros(2 * n),
        total=2 * n, undrawable=0,
    )  # fmt: skip
    html = maps_html(title, tracks, downsample(tracks.lat, tracks.lon, tracks.time, tracks.speed, tracks.starts), title)
    found = scripts(html)
    assert [attrs.get("id") for attrs, _ in found] == ["maps-data", "maps-land", "maps-land-coarse", None, None]
    data = json.loads(found[0][1])
    assert [f["aircraft"] for f in data["flights"]] == aircraft and {f["flight"] for f in data["flights"]} == {flight}
    assert data["speed"] is None  # infinities are no speed
    heading = Heading()
    heading.feed(html)
    assert heading.texts == [title, title]  # <title> and <h1>, as text


def test_script_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        script_json({"speed": float("nan")})


def test_a_run_of_another_app_is_refused_in_one_line(make_run, fixes) -> None:  # noqa: ANN001
    record = make_run("other", {"x.parquet": fixes("a", [1.0, 2.0], [1.0, 2.0])}, app="minimal")
    with pytest.raises(UsageError) as error:
        render_page(MAPS, record)
    assert str(error.value) == f"page 'maps' cannot show run {record.run_id}: it shows runs of flight, and run {record.run_id} is of app 'minimal'"


def test_a_run_without_flight_outputs_says_so(make_run) -> None:  # noqa: ANN001
    html = render_page(MAPS, make_run("empty", {"summary.json": "{}"}))
    assert "has no flight outputs to map: 1 item(s), 0 failed." in html
    assert "<script" not in html


def test_a_run_whose_fixes_have_no_position_says_so(make_run, fixes) -> None:  # noqa: ANN001
    nowhere = fixes("a", [float("nan"), float("inf")], [1.0, 2.0])
    html = render_page(MAPS, make_run("nowhere", {"aircraft=a/f.parquet": nowhere, "aircraft=b/g.parquet": nowhere.clear()}))
    assert "has 2 fix(es) in 2 flight output(s), none with a position to map." in html


def test_hostile_text_stays_text(make_run, fixes) -> None:  # noqa: ANN001
    evil = '</script><script>window.pwned=1</script><!--"\'&\u2028\u2029'
    record = make_run(evil.replace("/", "_")[:40], {"aircraft=x/f.parquet": fixes(evil, [1.0, 1.1], [2.0, 2.1])}, item=evil)
    html = render_page(MAPS, record)
    found = scripts(html)
    assert [attrs.get("id") for attrs, _ in found] == ["maps-data", "maps-land", "maps-land-coarse", None, None]
    data = json.loads(found[0][1])
    assert data["flights"][0]["aircraft"] == evil and data["flights"][0]["flight"] == evil
    assert "<script>window.pwned" not in html and html.count("</script>") == 5


def test_options_are_checked_in_one_line(make_run, fixes) -> None:  # noqa: ANN001
    record = make_run("run", {"aircraft=a/f.parquet": fixes("a", [1.0, 1.1], [2.0, 2.1])})
    with pytest.raises(UsageError, match=r"^page 'maps': unknown option colour \(known: budget, distance_tol, speed_tol\)$"):
        render_page(MAPS, record, options={"colour": "red"})
    with pytest.raises(UsageError, match=r"^page 'maps': option budget must be an integer >= 2, got 'many'$"):
        render_page(MAPS, record, options={"budget": "many"})
    with pytest.raises(UsageError, match=r"^page 'maps': option speed_tol must be a number > 0, got -1$"):
        render_page(MAPS, record, options={"speed_tol": -1})
    with pytest.raises(UsageError, match=r"^page 'maps': option budget must be an integer >= 2, got 2.5$"):
        render_page(MAPS, record, options={"budget": 2.5})
    with pytest.raises(UsageError, match=r"^page 'maps': option distance_tol must be a number > 0, got 'nan'$"):
        render_page(MAPS, record, options={"distance_tol": "nan"})
    assert "at most 10 fixes" in render_page(MAPS, record, options={"budget": "10"})


def test_a_damaged_output_is_one_line_naming_the_file(make_run, fixes) -> None:  # noqa: ANN001
    record = make_run("damaged", {"aircraft=a/f.parquet": "not parquet"})
    with pytest.raises(InputError, match=r"f\.parquet: cannot read flight output: "):
        render_page(MAPS, record)
    record = make_run("no-lat", {"aircraft=a/f.parquet": fixes("a", [1.0], [2.0]).drop("lat")})
    with pytest.raises(InputError, match=r"f\.parquet: flight output has no column lat$"):
        render_page(MAPS, record)


def test_flights_are_split_by_file_and_aircraft_and_segments_by_time_gaps(tmp_path, fixes) -> None:  # noqa: ANN001
    two = pl.concat([fixes("a", [1.0, 1.1, 1.2], [2.0, 2.1, 2.2]), fixes("b", [5.0, 5.1], [6.0, 6.1], start_s=3000)])
    (tmp_path / "aircraft=z").mkdir()
    two.write_parquet(tmp_path / "two.parquet")
    gap = fixes(None, [3.0, 3.1, 3.2], [4.0, 4.1, 4.2], start_s=0).with_columns(pl.col("date").shift(-1).fill_null(pl.datetime(2021, 1, 2)))
    gap.write_csv(tmp_path / "aircraft=z" / "gap.csv")
    tracks = read_tracks([(tmp_path / "two.parquet", "two.csv"), (tmp_path / "aircraft=z" / "gap.csv", "gap.csv")])
    assert tracks.aircraft == ("a", "b", "z") and tracks.flight == ("two.csv", "two.csv", "gap.csv")
    assert tracks.offsets.tolist() == [0, 3, 5, 8]
    assert tracks.starts.tolist() == [0, 3, 5, 7]  # the last fix comes a day later: a segment of its own
    assert tracks.total == 8 and tracks.undrawable == 0


def test_an_output_with_positions_only_is_drawn_from_its_folder_name(make_run) -> None:  # noqa: ANN001
    bare = pl.DataFrame({"lat": [1.0, 1.5, 2.0], "long": [2.0, 2.5, 3.0]})
    html = render_page(MAPS, make_run("bare", {"aircraft=3c%2F4b/f.parquet": bare}))
    data = json.loads(scripts(html)[0][1])
    assert data["speed"] is None and data["total"] == 3
    assert [(f["aircraft"], f["count"]) for f in data["flights"]] == [("3c/4b", 2)]


def test_a_file_damaged_after_its_schema_was_read_is_named(tmp_path, fixes) -> None:  # noqa: ANN001
    fixes("a", [1.0, 1.1], [2.0, 2.1]).write_parquet(tmp_path / "good.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet any more")
    with pytest.raises(InputError, match=r"bad\.parquet: cannot read flight output: "):
        read_standard([tmp_path / "good.parquet", tmp_path / "bad.parquet"], [0, 1])
    assert read_standard([tmp_path / "good.parquet"], [7])["file"].to_list() == [7, 7]


def test_numeric_looking_aircraft_ids_stay_text_in_csv_outputs(tmp_path, fixes) -> None:  # noqa: ANN001
    fixes("0725", [1.0, 1.1], [2.0, 2.1]).write_csv(tmp_path / "f.csv")
    assert read_tracks([(tmp_path / "f.csv", "f.csv")]).aircraft == ("0725",)


def test_a_track_over_the_antimeridian_stays_continuous() -> None:
    lon = np.array([179.0, 179.9, -179.9, -179.0, 10.0, 10.5])
    assert np.allclose(unwrap_segments(lon, np.array([0, 4])), [179.0, 179.9, 180.1, 181.0, 10.0, 10.5])


def test_a_line_takes_the_mean_speed_of_the_fixes_it_stands_for() -> None:
    keep = np.array([True, False, False, True, True])
    speed = np.array([np.nan, 100.0, np.nan, 200.0, 50.0])
    assert np.allclose(piece_speed(speed, keep), [np.nan, 150.0, 50.0], equal_nan=True)


def test_the_payload_holds_only_kept_fixes_in_order(make_run, fixes) -> None:  # noqa: ANN001
    import base64

    from agilab_page_maps.simplify import downsample
    from agilab_page_maps.tracks import output_files

    record = make_run("order", {"aircraft=a/f.parquet": fixes("a", [0.0, 0.25, 0.5, 0.25, 0.0], [0.0, 0.1, 0.2, 0.3, 0.4])})
    tracks = read_tracks(output_files(record.output_dir, record.results))
    chosen = downsample(tracks.lat, tracks.lon, tracks.time, tracks.speed, tracks.starts)
    data = payload(tracks, chosen)
    lon = np.frombuffer(base64.b64decode(data["columns"]["lon"]), "<f4")
    assert chosen.keep.tolist() == [True, False, True, False, True]
    assert np.allclose(lon, [0.0, 0.2, 0.4])
    assert data["flights"] == [{"aircraft": "a", "flight": "item", "first": 0, "count": chosen.kept, "segments": [0]}]


def test_the_page_names_no_address_it_could_fetch(make_run, fixes) -> None:  # noqa: ANN001
    html = render_page(MAPS, make_run("urls", {"aircraft=a/f.parquet": fixes("a", [1.0, 1.1], [2.0, 2.1])}))
    # Leaflet's SVG namespace and the link in its (unused) attribution prefix are names, not requests
    assert set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", html)) <= {"http://www.w3.org/2000/svg", "https://leafletjs.com"}
    assert "url(" not in re.sub(r"url\(['\"]?(data:|#default#VML)", "", html)  # Leaflet's old-IE VML probe names no file


def test_the_vendored_stylesheet_fetches_no_image() -> None:
    css = offline_css(packaged("vendored/leaflet.css"))
    assert "url(" not in css and "leaflet-control" in css
    assert offline_css("a { background: url(data:image/png;base64,AA) }") == "a { background: url(data:image/png;base64,AA) }"
