"""The downsampling rule: Douglas-Peucker per segment on ground distance and speed, under a budget."""

from __future__ import annotations

import numpy as np
import pytest
from agilab_page_maps.simplify import chord_error, downsample, ground_xy
from hypothesis import given, settings
from hypothesis import strategies as st

DISTANCE_TOL, SPEED_TOL = 30.0, 5.0

step = st.tuples(
    st.floats(-0.003, 0.003),  # about 330 m of latitude
    st.floats(-0.003, 0.003),
    st.one_of(st.floats(0.0, 300.0), st.just(float("nan"))),
)
segment = st.lists(step, min_size=1, max_size=40)


@st.composite
def tracks(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """Random-walk segments one after the other: lat, lon, time, speed and the segment starts."""
    segments = draw(st.lists(segment, min_size=1, max_size=6))
    lat, lon, speed, starts = [], [], [], []
    for steps in segments:
        starts.append(len(lat))
        y, x = draw(st.floats(-70, 70)), draw(st.floats(-170, 170))
        for dy, dx, v in steps:
            y, x = y + dy, x + dx
            lat.append(y)
            lon.append(x)
            speed.append(v)
    time = np.arange(len(lat), dtype=float)
    if draw(st.booleans()):
        time[:: draw(st.integers(2, 5))] = np.nan
    return np.array(lat), np.array(lon), time, np.array(speed), np.array(starts)


def segment_ends(starts: np.ndarray, n: int) -> np.ndarray:
    return np.append(starts[1:], n) - 1


def reference_keep(lat, lon, time, speed, starts, scale):  # noqa: ANN001, ANN202 - a plain recursive Douglas-Peucker to compare with
    x, y = ground_xy(lat, lon, starts)
    keep = np.zeros(len(lat), dtype=bool)

    def split(a: int, b: int) -> None:
        keep[a] = keep[b] = True
        if b - a < 2:
            return
        i = np.arange(a + 1, b)
        error = chord_error(i, np.full_like(i, a), np.full_like(i, b), x, y, time, speed, DISTANCE_TOL, SPEED_TOL)
        worst = int(np.argmax(error))
        if error[worst] > scale:
            split(a, int(i[worst]))
            split(int(i[worst]), b)

    for a, b in zip(starts, segment_ends(starts, len(lat)), strict=True):
        split(int(a), int(b))
    return keep


@settings(max_examples=150, deadline=None)
@given(tracks(), st.integers(1, 80))
def test_downsampling_keeps_ends_respects_the_budget_and_the_scaled_tolerance(track, budget) -> None:  # noqa: ANN001
    lat, lon, time, speed, starts = track
    chosen = downsample(lat, lon, time, speed, starts, distance_tol=DISTANCE_TOL, speed_tol=SPEED_TOL, budget=budget)
    ends = np.unique(np.concatenate([starts, segment_ends(starts, len(lat))]))
    assert chosen.keep[ends].all()
    assert chosen.kept <= max(budget, len(ends))
    assert chosen.scale >= 1.0
    # every dropped fix is within the scaled tolerances of the line between its kept neighbours
    x, y = ground_xy(lat, lon, starts)
    kept = np.flatnonzero(chosen.keep)
    dropped = np.flatnonzero(~chosen.keep)
    if len(dropped):
        after = np.searchsorted(kept, dropped)
        error = chord_error(dropped, kept[after - 1], kept[after], x, y, time, speed, DISTANCE_TOL, SPEED_TOL)
        assert (error <= chosen.scale * (1 + 1e-9)).all()


@settings(max_examples=150, deadline=None)
@given(tracks(), st.integers(1, 80))
def test_the_vectorised_pass_is_douglas_peucker_at_the_chosen_scale(track, budget) -> None:  # noqa: ANN001
    lat, lon, time, speed, starts = track
    chosen = downsample(lat, lon, time, speed, starts, distance_tol=DISTANCE_TOL, speed_tol=SPEED_TOL, budget=budget)
    assert (chosen.keep == reference_keep(lat, lon, time, speed, starts, chosen.scale)).all()


def test_a_budget_that_fits_keeps_the_tolerances_as_given() -> None:
    # a straight, steady track with one 1 km detour in the middle: only the detour and the ends matter
    lat = np.zeros(101)
    lat[50] = 0.009
    lon = np.linspace(0, 1, 101)
    chosen = downsample(lat, lon, np.arange(101.0), np.full(101, 200.0), np.array([0]), budget=1000)
    assert chosen.scale == 1.0
    assert np.flatnonzero(chosen.keep).tolist() == [0, 49, 50, 51, 100]


def test_a_speed_change_alone_is_kept() -> None:
    # a straight line whose speed steps from 100 to 250 m/s: the step survives, the rest goes
    speed = np.where(np.arange(200) < 120, 100.0, 250.0)
    chosen = downsample(np.zeros(200), np.linspace(0, 1, 200), np.arange(200.0), speed, np.array([0]))
    assert chosen.keep[[0, 119, 120, 199]].all() and chosen.kept <= 6


def test_tolerances_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tolerances must be > 0"):
        downsample(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), np.array([0]), distance_tol=0)


def test_a_million_fixes_are_downsampled_in_one_vectorised_pass() -> None:
    # not a timing: the pass works on arrays this large without a Python loop per fix
    n = 1_000_000
    rng = np.random.default_rng(0)
    lat = 45 + np.cumsum(rng.normal(0, 1e-4, n))
    lon = np.cumsum(rng.normal(0, 1e-4, n))
    starts = np.arange(0, n, 5000)
    chosen = downsample(lat, lon, np.arange(n, dtype=float), rng.normal(230, 3, n), starts, budget=50_000)
    assert chosen.kept <= 50_000 and chosen.keep[starts].all()
