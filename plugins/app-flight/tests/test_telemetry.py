"""The vectorised motion columns against a plain-Python reference."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from agilab_app_flight.telemetry import EARTH_RADIUS_M, track
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = dt.datetime(2021, 1, 1)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((phi2 - phi1) / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def as_read(fixes: list[tuple[float, float]], seconds: list[int], aircraft: str = "60") -> pl.DataFrame:
    """A frame shaped like a read and validated flight file."""
    return pl.DataFrame(
        {
            "seq": list(range(len(fixes))),
            "date": [T0 + dt.timedelta(seconds=s) for s in seconds],
            "aircraft": [aircraft] * len(fixes),
            "long": [lon for _, lon in fixes],
            "lat": [lat for lat, _ in fixes],
        },
        schema_overrides={"date": pl.Datetime("us"), "long": pl.Float64, "lat": pl.Float64},
    )


fixes_st = st.lists(
    st.tuples(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False)), min_size=1, max_size=40
)


@settings(max_examples=200, deadline=None)
@given(fixes=fixes_st)
def test_distances_match_the_reference(fixes: list[tuple[float, float]]) -> None:
    out = track(as_read(fixes, list(range(len(fixes)))))
    got = out["distance_m"].to_list()
    assert got[0] == 0.0
    assert all(d >= 0 for d in got)
    for i in range(1, len(fixes)):
        expected = haversine_m(*fixes[i - 1], *fixes[i])
        # asin is steep near antipodes: a last-bit difference there moves the result by centimetres
        assert got[i] == pytest.approx(expected, rel=1e-9, abs=1.0)


@settings(max_examples=100, deadline=None)
@given(fixes=fixes_st, data=st.data())
def test_time_steps_and_speeds_match_the_reference(fixes: list[tuple[float, float]], data: st.DataObject) -> None:
    steps = data.draw(st.lists(st.integers(0, 3), min_size=len(fixes), max_size=len(fixes)))
    seconds = [sum(steps[: i + 1]) for i in range(len(fixes))]
    out = track(as_read(fixes, seconds))
    assert out["dt_s"].to_list() == [0.0] + [float(seconds[i] - seconds[i - 1]) for i in range(1, len(fixes))]
    for d, t, v in out.select("distance_m", "dt_s", "speed_mps").iter_rows():
        if t == 0:
            assert v is None
        else:
            assert v == pytest.approx(d / t)


def test_known_route_length() -> None:
    # Paris CDG to New York JFK: about 5,835 km on a 6,371 km sphere
    out = track(as_read([(49.0097, 2.5479), (40.6413, -73.7781)], [0, 3600]))
    assert out["distance_m"][1] == pytest.approx(5_835_000, rel=2e-3)


def test_first_fix_without_position_still_starts_at_zero() -> None:
    frame = as_read([(0.0, 0.0), (0.0, 1.0), (0.0, 2.0)], [0, 1, 2]).with_columns(
        pl.when(pl.col("seq") == 0).then(None).otherwise(pl.col("lat")).alias("lat")
    )
    out = track(frame)
    assert out["distance_m"].to_list()[:2] == [0.0, None]
    assert out["dt_s"].to_list() == [0.0, 1.0, 1.0]


def test_unsorted_input_is_ordered_stably() -> None:
    out = track(as_read([(0, 0), (0, 1), (0, 2), (0, 3)], [5, 0, 3, 0]))
    assert out["long"].to_list() == [1.0, 3.0, 2.0, 0.0]
    assert out["dt_s"].to_list() == [0.0, 0.0, 3.0, 2.0]


def test_the_compiled_kernel_path_gives_the_same_track(monkeypatch: pytest.MonkeyPatch) -> None:
    from agilab_app_flight import distance

    frame = as_read([(0.0, 0.0), (0.0, 1.0), (0.5, 1.0), (0.5, 1.0)], [0, 10, 20, 20]).with_columns(
        pl.when(pl.col("seq") == 0).then(None).otherwise(pl.col("lat")).alias("lat")
    )
    expected = track(frame)
    # the same loop, uncompiled, stands in for the C extension (building one here would take a compiler run)
    monkeypatch.setattr(distance, "COMPILED", True)
    got = track(frame)
    assert got.columns == expected.columns
    for name in ("distance_m", "dt_s", "speed_mps"):
        assert got[name].to_list() == pytest.approx(expected[name].to_list(), nan_ok=True), name
