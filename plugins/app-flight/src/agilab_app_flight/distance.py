# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Great-circle distances between consecutive fixes, as one loop: the worker's compilable kernel.

Pure-Python-mode Cython: ``agilab install flight --cython`` compiles this very
file, typed by ``distance.pxd``, into a C extension; uncompiled it is plain
(slow) Python with the same results. The worker only calls it when it is
compiled (:data:`COMPILED`); otherwise polars' vectorised expressions do the
same work faster than a Python loop could.
"""

import math

EARTH_RADIUS_M = 6_371_000.0

#: True when this module was loaded from a compiled extension.
COMPILED = not __file__.endswith(".py")


def steps_m(lat, lon, out):
    """Fill ``out[i]`` with the haversine distance in metres from fix ``i - 1`` to fix ``i``.

    ``lat``/``lon`` are float64 arrays in degrees; ``out[0]`` is 0. A missing
    coordinate (NaN) gives NaN for the steps that touch it.
    """
    n = lat.shape[0]
    if n == 0:
        return
    out[0] = 0.0
    to_rad = math.pi / 180.0
    scale = 2.0 * EARTH_RADIUS_M
    phi0 = lat[0] * to_rad
    lam0 = lon[0] * to_rad
    for i in range(1, n):
        phi = lat[i] * to_rad
        lam = lon[i] * to_rad
        s1 = math.sin((phi - phi0) * 0.5)
        s2 = math.sin((lam - lam0) * 0.5)
        a = s1 * s1 + math.cos(phi0) * math.cos(phi) * s2 * s2
        if a > 1.0:  # rounding, for antipodal points: keep asin defined
            a = 1.0
        out[i] = scale * math.asin(math.sqrt(a))
        phi0 = phi
        lam0 = lam
