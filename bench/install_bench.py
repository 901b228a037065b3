"""Packaging benchmarks: worker venv installs and the flight distance kernel.

    python bench/install_bench.py [--repeat N] [--points N]

(a) install: `agilab install flight -e pool --json` into an empty worker venv
    folder (cold), then again with nothing changed (warm), both as whole CLI
    processes; `--cython` too. The warm target is 0.5 s.
(b) kernel: great-circle steps over --points (default 5 M) fixes, by the
    Cython-compiled kernel, the same source uncompiled, and the polars
    vectorised expressions the worker uses otherwise; run inside the cython
    worker venv, ratios against the vectorised path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AGILAB = str(Path(sys.executable).with_name("agilab"))

KERNEL_BENCH = r"""
import importlib.util, json, sys, time
import numpy as np, polars as pl
from agilab_app_flight import distance
from agilab_app_flight.telemetry import great_circle_m

n, repeat = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(7)
lat = np.clip(45 + np.cumsum(rng.normal(0, 0.01, n)), -89, 89)
lon = ((np.cumsum(rng.normal(0, 0.01, n)) + 180) % 360) - 180
out = np.empty(n)
assert distance.COMPILED, distance.__file__
source = distance.__file__.rsplit("/", 1)[0] + "/distance.py"
spec = importlib.util.spec_from_file_location("distance_py", source)
pure = importlib.util.module_from_spec(spec); spec.loader.exec_module(pure)
frame = pl.DataFrame({"lat": lat, "long": lon})
expr = great_circle_m(pl.col("lat").shift(1, fill_value=pl.col("lat").first()), pl.col("long").shift(1, fill_value=pl.col("long").first()), pl.col("lat"), pl.col("long"))

def best(fn, times):
    t = []
    for _ in range(times):
        s = time.perf_counter(); fn(); t.append(time.perf_counter() - s)
    return min(t)

compiled = best(lambda: distance.steps_m(lat, lon, out), repeat)
vectorised = best(lambda: frame.select(expr), repeat)
check = frame.select(expr).to_series().to_numpy()
distance.steps_m(lat, lon, out)
python = best(lambda: pure.steps_m(lat, lon, np.empty(n)), 1)
print(json.dumps({"compiled": compiled, "vectorised": vectorised, "python": python, "max_diff_m": float(np.nanmax(np.abs(check - out)))}))
"""


def cli_install(env: dict[str, str], *extra: str) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([AGILAB, "install", "flight", "-e", "pool", "--json", *extra], capture_output=True, text=True, env={**os.environ, **env})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"agilab install failed: {proc.stderr.strip()}")
    return wall, json.loads(proc.stdout)


def bench_install(repeat: int) -> list[tuple[str, str, float, float | None, str]]:
    cold: dict[str, list[float]] = {"python": [], "cython": []}
    warm: dict[str, list[float]] = {"python": [], "cython": []}
    warm_api: dict[str, list[float]] = {"python": [], "cython": []}
    for _ in range(repeat):
        folder = Path(tempfile.mkdtemp(prefix="agilab-bench-wenv-"))
        env = {"AGILAB_HOME": str(folder / "home"), "AGILAB_WENV": str(folder / "wenv")}
        try:
            for runtime, extra in (("python", ()), ("cython", ("--cython",))):
                wall, first = cli_install(env, *extra)
                assert not first["cached"], first
                cold[runtime].append(wall)
                wall, again = cli_install(env, *extra)
                assert again["cached"] and again["env_hash"] == first["env_hash"], again
                warm[runtime].append(wall)
                warm_api[runtime].append(again["seconds"])
                print(f"  install ({runtime}): cold {cold[runtime][-1]:.2f} s, warm {wall:.3f} s (packaging {again['seconds'] * 1000:.1f} ms)", flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    rows = []
    for runtime in ("python", "cython"):
        c, w = min(cold[runtime]), min(warm[runtime])
        rows.append(("install", f"warm / cold ({runtime})", w / c, None, f"warm {w:.3f} s (packaging {min(warm_api[runtime]) * 1000:.1f} ms) vs cold {c:.2f} s"))
        rows.append(("install", f"warm CLI seconds ({runtime})", w, 0.5, "the whole `agilab install` process"))
    return rows


def bench_kernel(repeat: int, points: int) -> list[tuple[str, str, float, float | None, str]]:
    folder = Path(tempfile.mkdtemp(prefix="agilab-bench-wenv-"))
    env = {"AGILAB_HOME": str(folder / "home"), "AGILAB_WENV": str(folder / "wenv")}
    try:
        _, package = cli_install(env, "--cython")
        proc = subprocess.run([package["python"], "-c", KERNEL_BENCH, str(points), str(repeat)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"kernel benchmark failed: {proc.stderr.strip()[-2000:]}")
        t = json.loads(proc.stdout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"  kernel on {points:,} fixes: compiled {t['compiled']:.3f} s, vectorised {t['vectorised']:.3f} s, python {t['python']:.2f} s", flush=True)
    detail = f"{points / 1e6:g} M fixes; max difference {t['max_diff_m']:.1e} m"
    return [
        ("kernel", "compiled / vectorised", t["compiled"] / t["vectorised"], None, f"{t['compiled']:.3f} s vs {t['vectorised']:.3f} s; {detail}"),
        ("kernel", "pure Python / vectorised", t["python"] / t["vectorised"], None, f"{t['python']:.2f} s vs {t['vectorised']:.3f} s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--points", type=int, default=5_000_000)
    opts = parser.parse_args()
    rows = bench_install(opts.repeat) + bench_kernel(opts.repeat, opts.points)
    for bench, name, ratio, target, detail in rows:
        print(f"| {bench} | {name} | {ratio:.3f} | {target or ''} | {detail} |")


if __name__ == "__main__":
    main()
