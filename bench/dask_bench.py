"""Benchmarks of the dask executor against bare baselines measured in the same run.

    python bench/dask_bench.py [--repeat N] [--items N] [--files N] [--rows N] [--only dispatch|startup|flight]

(a) dispatch: --items no-op items of the probe app through `dask` (2 workers)
    against bare `client.map` + `client.gather` of a no-op function, both on the
    same running cluster of 2 worker processes (target <= 1.2x).
(b) startup: seconds to start and close the embedded cluster (scheduler in
    this process, 2 worker processes), and a whole 2-item `dask` run.
(c) flight: the whole `agilab run flight` process through `dask` with 2 workers
    against `pool` with 2 workers, on bench/run.py's generated data set (its
    cached bench/.data folder is reused), worker venvs built once beforehand
    (target <= 1.15x).

Each figure is the best of --repeat runs; variants are interleaved so machine
noise hits them alike. Child processes run without PYTHONDONTWRITEBYTECODE, so
worker venvs get their bytecode cache as on a usual machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
AGILAB = str(Path(sys.executable).with_name("agilab"))
WENV = HERE / ".data" / "wenv"


def _noop(i: int) -> int:
    return i


def _agi():
    from agilab_core.plugins import load_plugins
    from agilab_core.runner import Agi
    from agilab_core.testing import ProbePlugin

    registry = load_plugins()
    registry.register(ProbePlugin(), name="probe")
    return Agi(registry)


def bench_dispatch(repeat: int, items: int) -> list[tuple[str, str, float, float | None, str]]:
    from agilab_executor_dask.cluster import start_embedded
    from distributed import Client

    from agilab_core import WorkerSlot

    agi = _agi()
    cluster = start_embedded(sys.executable, [WorkerSlot("localhost", i) for i in range(2)], None, "", 60.0)
    client = Client(cluster.address, set_as_default=False)
    options = {"scheduler": cluster.address}
    times: dict[str, list[float]] = {"bare": [], "dask": []}
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            futures = client.map(_noop, range(items), pure=False)
            assert sum(client.gather(futures)) == items * (items - 1) // 2
            times["bare"].append(time.perf_counter() - start)
            del futures
            start = time.perf_counter()
            result = agi.run("probe", executor="dask", workers=2, args={"count": items, "write": False}, executor_options=options)
            times["dask"].append(time.perf_counter() - start)
            assert result.items["ok"] == items, result.items
            shutil.rmtree(Path(os.environ["AGILAB_HOME"]) / "runs", ignore_errors=True)
            print(f"  bare client.map {times['bare'][-1]:.2f} s, dask executor {times['dask'][-1]:.2f} s", flush=True)
    finally:
        client.close()
        cluster.close()
    bare, dask = min(times["bare"]), min(times["dask"])
    return [
        ("dispatch", f"dask executor / bare client.map ({items:,} no-op items)", dask / bare, 1.2, f"{dask:.2f} s vs {bare:.2f} s"),
    ]


def bench_startup(repeat: int) -> list[tuple[str, str, float, float | None, str]]:
    from agilab_executor_dask.cluster import start_embedded

    from agilab_core import WorkerSlot

    agi = _agi()
    starts, closes, runs = [], [], []
    for _ in range(repeat):
        start = time.perf_counter()
        cluster = start_embedded(sys.executable, [WorkerSlot("localhost", i) for i in range(2)], None, ":0", 60.0)
        starts.append(time.perf_counter() - start)
        start = time.perf_counter()
        cluster.close()
        closes.append(time.perf_counter() - start)
        start = time.perf_counter()
        agi.run("probe", executor="dask", workers=2, args={"count": 2})
        runs.append(time.perf_counter() - start)
        print(f"  start {starts[-1]:.2f} s, close {closes[-1]:.2f} s, 2-item run {runs[-1]:.2f} s", flush=True)
    return [
        ("startup", "embedded cluster start (2 worker processes)", min(starts), None, f"{min(starts):.2f} s; close {min(closes):.2f} s"),
        ("startup", "whole 2-item dask run", min(runs), None, f"{min(runs):.2f} s"),
    ]


def bench_flight(repeat: int, files: int, rows: int) -> list[tuple[str, str, float, float | None, str]]:
    sys.path.insert(0, str(HERE))
    from run import flight_data, timed  # bench/run.py owns the data set

    data, total_rows = flight_data(files, rows)
    print(f"flight: {len(list(data.glob('*.csv')))} files, {total_rows:,} rows", flush=True)
    home = Path(tempfile.mkdtemp(prefix="agilab-dask-bench-"))
    env = {"AGILAB_HOME": str(home), "AGILAB_WENV": str(WENV)}
    variants = {
        "pool": lambda out: [AGILAB, "run", "flight", "-e", "pool", "-w", "2", "--set", f"data_in={data}", "--out", str(out), "--json"],
        "dask": lambda out: [AGILAB, "run", "flight", "-e", "dask", "-w", "2", "--set", f"data_in={data}", "--out", str(out), "--json"],
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    try:
        for name, cmd in variants.items():  # builds (or reuses) each executor's worker venv, untimed
            timed(cmd(home / f"warm-{name}"), env)
            shutil.rmtree(home / f"warm-{name}", ignore_errors=True)
        for r in range(repeat):
            for name, cmd in variants.items():
                out = home / f"out-{r}-{name}"
                elapsed, _ = timed(cmd(out), env)
                times[name].append(elapsed)
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(home / "runs", ignore_errors=True)
                print(f"  {name}: {elapsed:.2f} s", flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    pool, dask = min(times["pool"]), min(times["dask"])
    return [("flight", "agilab run (dask, 2) / agilab run (pool, 2)", dask / pool, 1.15, f"{dask:.2f} s vs {pool:.2f} s")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=1600, help="mean rows per file")
    parser.add_argument("--only", choices=("dispatch", "startup", "flight"))
    opts = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    home = tempfile.mkdtemp(prefix="agilab-dask-bench-")
    os.environ["AGILAB_HOME"] = home
    rows: list[tuple[str, str, float, float | None, str]] = []
    try:
        if opts.only in (None, "dispatch"):
            print(f"dispatch: {opts.items:,} no-op items", flush=True)
            rows += bench_dispatch(opts.repeat, opts.items)
        if opts.only in (None, "startup"):
            print("startup", flush=True)
            rows += bench_startup(opts.repeat)
        if opts.only in (None, "flight"):
            rows += bench_flight(opts.repeat, opts.files, opts.rows)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print()
    print(f"best of {opts.repeat}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print()
    print("| bench | measure | value | target | figures |")
    print("|---|---|---|---|---|")
    for bench, name, value, target, detail in rows:
        shown = f"{value:.2f}×" if target is not None else f"{value:.2f} s"
        verdict = "" if target is None else (f"≤ {target} ✓" if value <= target else f"≤ {target} ✗")
        print(f"| {bench} | {name} | {shown} | {verdict} | {detail} |")


if __name__ == "__main__":
    main()
