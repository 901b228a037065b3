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
    lengths = np.ones(len(i), dtype=np.int64)
    return _errors(i, a, b, lengths, x, y, time, speed, distance_tol, speed_tol)


def _errors(
    i: np.ndarray, a: np.ndarray, b: np.ndarray, lengths: np.ndarray, x: np.ndarray, y: np.ndarray, time: np.ndarray, speed: np.ndarray,
    distance_tol: float, speed_tol: float,
) -> np.ndarray:
    """Errors of fixes ``i``, the first ``lengths[0]`` against chord ``a[0]``-``b[0]``, and so on.

    What depends only on a chord is computed once per chord, then repeated.
    """
    dx, dy = x[b] - x[a], y[b] - y[a]
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        inverse = np.where(length2 > 0, 1.0 / length2, 0.0)
        span = time[b] - time[a]
        timed = np.isfinite(span) & (span > 0)
        per_second = np.where(timed, 1.0 / span, 0.0)
        per_step = 1.0 / (b - a)
        ax, ay, dx, dy, inverse = (np.repeat(v, lengths) for v in (x[a], y[a], dx, dy, inverse))
        px, py = x[i] - ax, y[i] - ay
        t = np.clip((px * dx + py * dy) * inverse, 0.0, 1.0)
        distance = np.hypot(px - t * dx, py - t * dy) * (1.0 / distance_tol)
        ta, sa, ds, per_second, timed = (np.repeat(v, lengths) for v in (time[a], speed[a], speed[b] - speed[a], per_second, timed))
        along = (time[i] - ta) * per_second
        steps = (i - np.repeat(a, lengths)) * np.repeat(per_step, lengths)
        along = np.where(timed & np.isfinite(along), np.clip(along, 0.0, 1.0), steps)
        off_speed = np.abs(speed[i] - (sa + along * ds)) * (1.0 / speed_tol)
    error = np.fmax(distance, off_speed)
    return np.nan_to_num(error, nan=0.0, posinf=np.finfo(float).max)


def significance(
    x: np.ndarray, y: np.ndarray, time: np.ndarray, speed: np.ndarray, starts: np.ndarray, distance_tol: float, speed_tol: float, room: int | None = None
) -> tuple[np.ndarray, float]:
    """Each fix's significance (see the module docstring), and the worst error of a whole segment.

    Segment ends get ``inf``; fixes never kept get 0. With ``room``, only the
    ``room`` most significant fixes matter: a chord whose fixes cannot beat the
    ``room + 1``-th largest significance found so far is not split further
    (its fixes get 0), which saves most of the work when a budget binds.
    """
    n = len(x)
    sig = np.zeros(n)
    if n == 0:
        return sig, 0.0
    ends = np.append(starts[1:], n) - 1
    sig[starts] = np.inf
    sig[ends] = np.inf
    a, b = starts[ends - starts >= 2], ends[ends - starts >= 2]
    cap = np.full(len(a), np.inf)
    threshold, best = 1.0, np.zeros(0)
    whole: float | None = None
    while len(a):
        lengths = b - a - 1
        first = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        i = np.arange(lengths.sum()) - np.repeat(first - a - 1, lengths)
        error = _errors(i, a, b, lengths, x, y, time, speed, distance_tol, speed_tol)
        worst = np.maximum.reduceat(error, first)
        if whole is None:
            whole = float(worst.max())
        at_worst = np.flatnonzero(error == np.repeat(worst, lengths))
        owner = np.repeat(np.arange(len(a)), lengths)[at_worst]
        _, pick = np.unique(owner, return_index=True)
        split = i[at_worst[pick]]
        level = np.minimum(worst, cap)
        go = level > threshold
        a, b, split, level = a[go], b[go], split[go], level[go]
        sig[split] = level
        if room is not None:
            best = np.concatenate((best, level))
            if len(best) > room:
                best = np.partition(best, len(best) - room - 1)[len(best) - room - 1 :]
                threshold = max(threshold, float(best[0]))
        a, b, cap = np.concatenate((a, split)), np.concatenate((split, b)), np.concatenate((level, level))
        wide = (b - a >= 2) & (cap > threshold)
        a, b, cap = a[wide], b[wide], cap[wide]
    return sig, whole or 0.0


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
    n = len(lat)
    ends = len(np.unique(np.concatenate((starts, np.append(starts[1:], n) - 1)))) if n else 0
    room = budget - ends
    sig, whole = significance(x, y, time, speed, starts, distance_tol, speed_tol, room=max(room, 0))
    keep = sig > 1.0
    if keep.sum() <= max(budget, ends):
        return Simplified(keep=keep, scale=1.0)
    if room <= 0:
        return Simplified(keep=np.isinf(sig), scale=max(1.0, whole))
    inner = np.sort(sig[keep & ~np.isinf(sig)])[::-1]
    scale = float(inner[room])
    return Simplified(keep=sig > scale, scale=scale)
