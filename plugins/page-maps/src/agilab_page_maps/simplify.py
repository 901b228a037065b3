"""Shape-preserving downsampling: Douglas-Peucker per segment, on ground distance and speed, under a point budget.

The rule, as the page states it:

- a segment's first and last fixes are always kept;
- a fix is *off* the line between two kept fixes by its error
  ``max(d / distance_tol, |v - v'| / speed_tol)``, where ``d`` is its ground
  distance (metres, local equirectangular projection of the segment) to the
  chord between them and ``v'`` the speed interpolated in time along that chord
  (a fix or chord end without a speed contributes no speed error);
- Douglas-Peucker: keep the fix with the largest error while that error is over
  ``scale``, then recurse on both halves. ``scale`` is 1 (the tolerances as
  given) unless that keeps more fixes than the budget; then ``scale`` is the
  smallest value that fits it. Every dropped fix is within ``scale`` times the
  tolerances of the line between its kept neighbours; order is kept.

One vectorised pass computes each fix's *significance*: the largest ``scale`` at
which Douglas-Peucker keeps it (its split error, capped by its ancestors'), so
any budget is met by a threshold instead of by re-running.
"""

from __future__ import annotations

import attrs
import numpy as np

EARTH_RADIUS_M = 6_371_000.0


@attrs.frozen(eq=False)
class Simplified:
    """Which fixes are kept, and the scale of the tolerances that achieved it."""

    keep: np.ndarray
    scale: float

    @property
    def kept(self) -> int:
        return int(self.keep.sum())


def ground_xy(lat: np.ndarray, lon: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metres in an equirectangular projection centred on each segment's mean latitude."""
    if len(lat) == 0:
        return lat.copy(), lon.copy()
    mean_lat = np.add.reduceat(lat, starts) / np.diff(np.append(starts, len(lat)))
    segment = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(lat))))
    x = np.radians(lon) * np.cos(np.radians(mean_lat))[segment] * EARTH_RADIUS_M
    return x, np.radians(lat) * EARTH_RADIUS_M


def chord_error(
    i: np.ndarray, a: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray, time: np.ndarray, speed: np.ndarray, distance_tol: float, speed_tol: float
) -> np.ndarray:
    """Error of fixes ``i`` against the chords ``a``-``b`` (1 means exactly at the tolerance)."""
    dx, dy = x[b] - x[a], y[b] - y[a]
    px, py = x[i] - x[a], y[i] - y[a]
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(np.where(length2 > 0, (px * dx + py * dy) / length2, 0.0), 0.0, 1.0)
        distance = np.hypot(px - t * dx, py - t * dy) / distance_tol
        span = time[b] - time[a]
        along = np.where(np.isfinite(span) & (span > 0), (time[i] - time[a]) / span, (i - a) / (b - a))
        along = np.where(np.isfinite(along), np.clip(along, 0.0, 1.0), (i - a) / (b - a))
        off_speed = np.abs(speed[i] - (speed[a] + along * (speed[b] - speed[a]))) / speed_tol
    error = np.fmax(distance, off_speed)
    return np.nan_to_num(error, nan=0.0, posinf=np.finfo(float).max)


def significance(
    x: np.ndarray, y: np.ndarray, time: np.ndarray, speed: np.ndarray, starts: np.ndarray, distance_tol: float, speed_tol: float
) -> np.ndarray:
    """Each fix's significance (see the module docstring): ``inf`` for segment ends, 0 for fixes never kept."""
    n = len(x)
    sig = np.zeros(n)
    if n == 0:
        return sig
    ends = np.append(starts[1:], n) - 1
    sig[starts] = np.inf
    sig[ends] = np.inf
    a, b = starts[ends - starts >= 2], ends[ends - starts >= 2]
    cap = np.full(len(a), np.inf)
    while len(a):
        lengths = b - a - 1
        first = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        owner = np.repeat(np.arange(len(a)), lengths)
        i = np.arange(lengths.sum()) - first[owner] + a[owner] + 1
        error = chord_error(i, a[owner], b[owner], x, y, time, speed, distance_tol, speed_tol)
        worst = np.maximum.reduceat(error, first)
        at_worst = np.flatnonzero(error == worst[owner])
        _, pick = np.unique(owner[at_worst], return_index=True)
        split = i[at_worst[pick]]
        go = worst > 1.0
        a, b, split, level = a[go], b[go], split[go], np.minimum(worst, cap)[go]
        sig[split] = level
        a, b, cap = np.concatenate((a, split)), np.concatenate((split, b)), np.concatenate((level, level))
        wide = b - a >= 2
        a, b, cap = a[wide], b[wide], cap[wide]
    return sig


def downsample(
    lat: np.ndarray,
    lon: np.ndarray,
    time: np.ndarray,
    speed: np.ndarray,
    starts: np.ndarray,
    *,
    distance_tol: float = 30.0,
    speed_tol: float = 15.0,
    budget: int = 100_000,
) -> Simplified:
    """The fixes to draw under the rule of the module docstring; ``budget`` counts at least the segment ends."""
    if not (distance_tol > 0 and speed_tol > 0):
        raise ValueError(f"tolerances must be > 0, got distance {distance_tol} m and speed {speed_tol} m/s")
    x, y = ground_xy(lat, lon, starts)
    sig = significance(x, y, time, speed, starts, distance_tol, speed_tol)
    keep = sig > 1.0
    scale = 1.0
    if keep.sum() > budget:
        ordered = np.sort(sig[keep])[::-1]
        ends = int(np.isinf(ordered).sum())
        room = max(budget, ends)
        scale = float(ordered[room]) if room < len(ordered) else 1.0
        keep = sig > scale
    return Simplified(keep=keep, scale=scale)
