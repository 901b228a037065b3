"""The maps page in a real headless Chromium (Debian's, through Playwright): drawn, offline, interactive."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from agilab_page_maps.page import POLICY
from agilab_page_maps.plugin import register_pages
from agilab_page_maps.simplify import downsample
from agilab_page_maps.tracks import output_files, read_tracks
from PIL import Image

from agilab_core import RunRecord, render_page

MAPS = register_pages()[0]
SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "img" / "maps.png"


@pytest.fixture(scope="module")
def flight_html(flight_run: RunRecord) -> str:
    return render_page(MAPS, flight_run)


def flight_outputs(record: RunRecord) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(path) for path, _ in output_files(record.output_dir, record.results)])


def test_one_track_per_flight_a_legend_and_no_request_leaves_the_page(flight_run: RunRecord, flight_html: str, browser_page) -> None:  # noqa: ANN001
    page = browser_page(flight_html)
    assert page.errors == [] and page.requests == [] and page.blocked() == []
    flights = [(r.item_id, o.path) for r in flight_run.results for o in r.outputs if o.path.endswith(".parquet")]
    drawn = page.evaluate(
        "agilabMaps.tracks.map(t => [t.flight, agilabMaps.map.hasLayer(t.layer), t.layer instanceof L.Polyline, t.layer.getLatLngs().flat().length])"
    )
    assert sorted(f for f, *_ in drawn) == sorted(item for item, _ in flights)  # one path per flight
    assert all(on and path and points >= 2 for _, on, path, points in drawn)
    data = flight_outputs(flight_run)
    legend = page.inner_text(".maps-legend")
    low, high = data["speed_mps"].min(), data["speed_mps"].max()
    assert legend.split() == ["speed", "(m/s)", f"{low:,.0f}", f"{high:,.0f}", "no", "speed"]
    assert page.inner_text("#stats").endswith(f" of {data.height:,} fixes")
    assert "Douglas-Peucker" in page.inner_text("#rule")


def test_hovering_a_track_shows_its_aircraft_time_speed_and_altitude(flight_run: RunRecord, flight_html: str, browser_page) -> None:  # noqa: ANN001
    tracks = read_tracks(output_files(flight_run.output_dir, flight_run.results))
    keep = downsample(tracks.lat, tracks.lon, tracks.time, tracks.speed, tracks.starts).keep
    kept = np.flatnonzero(keep)
    flight = 2
    inside = kept[(kept > tracks.offsets[flight]) & (kept < tracks.offsets[flight + 1] - 1)]
    fix = int(inside[len(inside) // 2])
    page = browser_page(flight_html)
    page.evaluate(f"() => {{ agilabMaps.map.setView([{tracks.lat[fix]}, {tracks.lon[fix]}], 12, {{animate: false}}); }}")
    x, y = page.evaluate(f"(() => {{ const p = agilabMaps.map.latLngToContainerPoint([{tracks.lat[fix]}, {tracks.lon[fix]}]); return [p.x, p.y]; }})()")
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + x + 2, box["y"] + y + 2)
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for(state="visible")
    lines = tooltip.inner_text().splitlines()
    assert lines[0] == f"aircraft {tracks.aircraft[flight]}"
    assert lines[1] == f"flight {tracks.flight[flight]}"
    assert lines[2].startswith("time 2021-") and lines[2].endswith(" UTC")
    assert lines[3] == f"speed {np.float32(tracks.speed[fix]):,.1f} m/s"
    assert lines[4] == f"altitude {np.float32(tracks.alt[fix]):,.0f} m"
    page.mouse.move(box["x"] + x + 60, box["y"] + y + 60, steps=8)  # Leaflet checks hovering at most every 32 ms
    tooltip.wait_for(state="detached")


def test_the_aircraft_filter_hides_and_shows_its_tracks(flight_html: str, browser_page) -> None:  # noqa: ANN001
    page = browser_page(flight_html)
    before = page.inner_text("#stats")
    on_map = "agilabMaps.tracks.filter(t => t.aircraft === {!r}).map(t => agilabMaps.map.hasLayer(t.layer))"
    aircraft = page.evaluate("agilabMaps.tracks[0].aircraft")
    others = page.evaluate(f"agilabMaps.tracks.filter(t => t.aircraft !== {aircraft!r}).every(t => agilabMaps.map.hasLayer(t.layer))")
    assert others
    page.locator(f".maps-filter input[data-aircraft='{aircraft}']").uncheck()
    assert page.evaluate(on_map.format(aircraft)) == [False] * len(page.evaluate(on_map.format(aircraft)))
    assert page.evaluate(f"agilabMaps.tracks.filter(t => t.aircraft !== {aircraft!r}).every(t => agilabMaps.map.hasLayer(t.layer))")
    after = page.inner_text("#stats")
    assert int(after.split()[2].replace(",", "")) < int(before.split()[2].replace(",", ""))
    page.locator(f".maps-filter input[data-aircraft='{aircraft}']").check()
    assert all(page.evaluate(on_map.format(aircraft))) and page.inner_text("#stats") == before
    page.get_by_role("button", name="none").click()
    assert page.evaluate("agilabMaps.tracks.every(t => !agilabMaps.map.hasLayer(t.layer))")
    assert page.inner_text("#stats").startswith("Points shown: 0 of ")
    page.get_by_role("button", name="all").click()
    assert page.inner_text("#stats") == before and page.locator(".maps-filter input:checked").count() == page.locator(".maps-filter input").count()


def test_a_screenshot_of_the_map_is_not_blank(flight_html: str, browser_page) -> None:  # noqa: ANN001
    page = browser_page(flight_html, width=900, height=560)
    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    pixels = np.asarray(image, dtype=float)
    assert pixels.std() > 10  # land, sea, tracks and controls, not one flat colour
    track_colours = {(0x46, 0x32, 0x7E), (0x36, 0x5C, 0x8D), (0x27, 0x7F, 0x8E), (0x1F, 0xA1, 0x87), (0x4A, 0xC1, 0x6D), (0xA0, 0xDA, 0x39), (0xFD, 0xE7, 0x25), (0x44, 0x01, 0x54)}
    colours = {tuple(c) for c in np.asarray(image).reshape(-1, 3)[::7]}
    assert colours & track_colours
    if os.environ.get("AGILAB_SCREENSHOTS"):  # `AGILAB_SCREENSHOTS=1 make test` refreshes the README's picture
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        image.save(SCREENSHOT, optimize=True)


def test_hostile_names_and_values_stay_text(make_run, fixes, browser_page) -> None:  # noqa: ANN001
    evil = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">\u2028"\'&'
    record = make_run(
        "hostile",
        {
            "aircraft=a/one.parquet": fixes(evil, [10.0, 10.1, float("nan"), 10.2], [20.0, 20.1, 20.2, float("inf")], speed=[float("inf"), 1.0, float("nan"), 2.0]),
            "aircraft=b/two.csv": fixes("<b>bold</b>", [30.0, 30.1], [40.0, 40.1]),
            "aircraft=c/empty.parquet": fixes("nobody", [], []),
        },
        item=evil,
    )
    page = browser_page(render_page(MAPS, record))
    assert page.errors == [] and page.requests == [] and page.blocked() == []
    assert page.evaluate("typeof window.pwned") == "undefined"
    labels = page.evaluate("[...document.querySelectorAll('.maps-filter label')].map(label => label.textContent.trim())")
    assert sorted(labels) == sorted([evil, "<b>bold</b>"])
    assert page.evaluate("agilabMaps.tracks.map(t => t.aircraft).sort()") == sorted([evil, "<b>bold</b>"])
    assert page.locator(".maps-filter b, .maps-filter img").count() == 0
    assert page.inner_text("#stats") == "Points shown: 4 of 6 fixes"


def test_the_request_log_sees_what_a_page_fetches(browser_page) -> None:  # noqa: ANN001
    # the control for the offline tests above: a page that does fetch is caught
    page = browser_page('<img src="https://tiles.invalid/0/0/0.png"><p class="maps-empty">x</p>')
    page.wait_for_load_state("load")
    assert page.requests == ["https://tiles.invalid/0/0/0.png"]
    policy = f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
    page = browser_page(f'{policy}<img src="https://tiles.invalid/0/0/0.png"><p class="maps-empty">x</p>')
    page.wait_for_load_state("load")
    assert page.requests == [] and page.blocked() == ["https://tiles.invalid/0/0/0.png"]
