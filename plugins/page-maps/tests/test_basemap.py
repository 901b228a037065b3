"""The vendored land: decoded from TopoJSON, drawable on a flat map, listed with its hash."""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files

import numpy as np
import pytest
from agilab_page_maps.basemap import flat_polygons, land_geojson
from agilab_page_maps.page import packaged


@pytest.mark.parametrize(("name", "least"), [("land-50m.json", 1000), ("land-110m.json", 100)])
def test_no_land_ring_jumps_across_the_map(name: str, least: int) -> None:
    # a step of more than 180 degrees of longitude would paint a band across the whole map;
    # the only long steps allowed run along a pole, where the map ends
    land = json.loads(packaged(f"vendored/{name}"))
    polygons = land["geometry"]["coordinates"]
    assert len(polygons) > least
    for polygon in polygons:
        for ring in polygon:
            points = np.array(ring)
            step = np.abs(np.diff(points[:, 0]))
            along_pole = (np.abs(points[1:, 1]) == 90) & (np.abs(points[:-1, 1]) == 90)
            assert (step[~along_pole] <= 180).all()


def test_land_crossing_the_antimeridian_shows_on_both_sides() -> None:
    land = json.loads(packaged("vendored/land-50m.json"))
    # Chukotka (about 66N, 180E) is land both just east of 179 and just west of -179
    spans = [(np.array(p[0])[:, 0].min(), np.array(p[0])[:, 0].max(), np.array(p[0])[:, 1].mean()) for p in land["geometry"]["coordinates"]]
    assert any(w < 179 and e > 181 for w, e, lat in spans if lat > 40)
    assert any(w < -181 and e > -179 for w, e, lat in spans if lat > 40)


def test_a_ring_over_the_antimeridian_is_unwrapped_and_copied() -> None:
    ring = np.array([[179.0, 10.0], [-179.0, 10.0], [-179.0, 12.0], [179.0, 12.0], [179.0, 10.0]])
    (first, second) = flat_polygons([ring])
    assert np.allclose(first[0][:, 0], [179, 181, 181, 179, 179]) or np.allclose(first[0][:, 0], [-181, -179, -179, -181, -181])
    assert np.allclose(np.abs(second[0][:, 0] - first[0][:, 0]), 360)


def test_land_near_the_antimeridian_is_also_drawn_past_it() -> None:
    alaska = np.array([[-165.0, 60.0], [-150.0, 60.0], [-150.0, 70.0], [-165.0, 60.0]])
    (first, second) = flat_polygons([alaska])
    assert np.allclose(second[0][:, 0], alaska[:, 0] + 360)
    assert len(flat_polygons([alaska + [100.0, 0.0]])) == 1  # far from it: drawn once


def test_a_ring_around_a_pole_is_closed_along_it() -> None:
    lon = np.linspace(-180, 180, 9)
    ring = np.column_stack([lon, np.full(9, -70.0)])
    (closed,), *copies = flat_polygons([ring])
    assert [np.allclose(c[0][:, 0] - closed[:, 0], s) for c, s in zip(copies, (-360, 360), strict=True)] == [True, True]
    assert closed[-3:, 1].tolist() == [-90.0, -90.0, -70.0] and (closed[0] == closed[-1]).all()


def test_topojson_arcs_are_delta_decoded_and_reversed() -> None:
    topology = {
        "transform": {"scale": [1, 1], "translate": [0, 0]},
        "arcs": [[[0, 0], [2, 0], [0, 2]], [[2, 2], [-2, 0], [0, -2]]],
        "objects": {"land": {"type": "GeometryCollection", "geometries": [{"type": "Polygon", "arcs": [[0, 1]]}]}},
    }
    ring = land_geojson(topology)["geometry"]["coordinates"][0][0]
    assert ring == [[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]


def test_every_vendored_file_is_listed_with_its_hash_version_and_licence() -> None:
    listing = json.loads(packaged("vendored/VENDORED.json"))
    assert {row["file"] for row in listing} == {"leaflet.js", "leaflet.css", "leaflet.LICENSE", "land-50m.json", "land-110m.json", "world-atlas.LICENSE"}
    for row in listing:
        assert hashlib.sha256(files("agilab_page_maps").joinpath("vendored", row["file"]).read_bytes()).hexdigest() == row["sha256"]
        assert row["version"] and row["license"]
