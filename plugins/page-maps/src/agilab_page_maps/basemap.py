"""The land basemap: Natural Earth land, decoded from TopoJSON and made drawable on a flat map.

World-atlas ships land as one TopoJSON MultiPolygon on the sphere. Drawn as is
on a flat (Web Mercator) map, a ring that crosses the antimeridian jumps from
+180 to -180 and paints a band across the whole map. :func:`flat_rings` fixes
that once, when the file is vendored: each ring's longitudes are unwrapped
(made continuous); a ring that circles a pole (Antarctica) is closed along
that pole; a polygon that ends up past ±180 is drawn twice, once on each side,
so the land shows wherever the map is panned; so is a polygon within
:data:`EDGE` degrees of it, for the tracks that go on past ±180.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Ring = list[list[float]]
#: Land within this many degrees of the antimeridian is also drawn 360 degrees
#: away, so a track unwrapped past ±180 (Tokyo to Los Angeles reaches 242) flies over land.
EDGE = 30.0


def decode_arcs(topology: dict[str, Any]) -> list[np.ndarray]:
    """Every arc as an (n, 2) array of longitude, latitude (delta-decoded and un-quantised)."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        points = np.asarray(arc, dtype=float)
        if transform:
            points = np.cumsum(points, axis=0) * transform["scale"] + transform["translate"]
        arcs.append(points)
    return arcs


def ring_points(arcs: list[np.ndarray], indexes: Sequence[int]) -> np.ndarray:
    """A ring from arc indexes (``~i`` is arc ``i`` reversed); shared end points are kept once."""
    parts = []
    for k, index in enumerate(indexes):
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        parts.append(points if k == 0 else points[1:])
    return np.concatenate(parts)


def unwrap(lon: np.ndarray) -> np.ndarray:
    """Longitudes made continuous: a step over 180 degrees goes the short way round instead."""
    return np.degrees(np.unwrap(np.radians(lon)))


def flat_polygons(rings: list[np.ndarray]) -> list[list[np.ndarray]]:
    """One spherical polygon (outer ring, then holes) as polygons that draw correctly on a flat map."""
    outer = rings[0].copy()
    outer[:, 0] = unwrap(outer[:, 0])
    outer[:, 0] -= 360 * np.round((outer[:, 0].min() + outer[:, 0].max()) / 720)
    turn = outer[-1, 0] - outer[0, 0]
    if abs(turn) > 180:  # circles a pole: go along it to close the ring
        pole = -90.0 if outer[:, 1].mean() < 0 else 90.0
        outer = np.vstack([outer, [[outer[-1, 0], pole], [outer[0, 0], pole]], outer[:1]])
    fixed = [outer]
    centre = (outer[:, 0].min() + outer[:, 0].max()) / 2
    for hole in rings[1:]:
        hole = hole.copy()
        hole[:, 0] = unwrap(hole[:, 0])
        hole[:, 0] += 360 * np.round((centre - hole[:, 0].mean()) / 360)
        fixed.append(hole)
    polygons = [fixed]
    west, east = outer[:, 0].min(), outer[:, 0].max()
    if abs(turn) > 180:  # around a pole: all longitudes, so once more on each side
        polygons += [[ring + [shift, 0.0] for ring in fixed] for shift in (-360.0, 360.0)]
    elif east > 180 - EDGE or west < -180 + EDGE:
        shift = -360.0 if east > 180 - EDGE else 360.0
        polygons.append([ring + [shift, 0.0] for ring in fixed])
    return polygons


def land_geojson(topology: dict[str, Any], decimals: int = 3) -> dict[str, Any]:
    """World-atlas ``land`` as one GeoJSON MultiPolygon feature, every ring flat-map safe."""
    arcs = decode_arcs(topology)
    polygons: list[Any] = []
    for geometry in topology["objects"]["land"]["geometries"]:
        shapes = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for shape in shapes:
            rings = [ring_points(arcs, ring) for ring in shape]
            for polygon in flat_polygons(rings):
                polygons.append([np.round(ring, decimals).tolist() for ring in polygon])
    return {
        "type": "Feature",
        "properties": {"source": "Natural Earth land 1:50m (public domain), via world-atlas"},
        "geometry": {"type": "MultiPolygon", "coordinates": polygons},
    }
