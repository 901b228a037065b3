"""Benchmarks of the dask executor against bare baselines measured in the same run.

    python bench/dask_bench.py [--repeat N] [--items N] [--only dispatch|startup]

(a) dispatch: --items no-op items of the probe app through `dask` (2 workers)
    against bare `client.map` + `client.gather` of a no-op function, both on the
    same running cluster of 2 worker processes (target <= 1.2x); and against
    bare `client.map` over batches of 1,024 items, which is what batching buys.
(b) startup: whole `agilab run flight --set nfile=2` processes: `dask` with 2
    workers (dashboard off, and on when bokeh is installed) against `pool` with
    2 workers; the difference is what an embedded Dask cluster costs per run.

The flight data set through `dask` against `pool` is in bench/run.py, which
runs this file too (`make bench`). Each figure is the best of --repeat runs;
variants are interleaved so machine noise hits them alike.
"""

from __future__ import annotations

import argparse
import logging
import operator
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
AGILAB = str(Path(sys.executable).with_name("agilab"))
WENV = HERE / ".data" / "wenv"


def _agi():
    from agilab_core.plugins import load_plugins
    from agilab_core.runner import Agi
    from agilab_core.testing import ProbePlugin

    registry = load_plugins()
    registry.register(ProbePlugin(), name="probe")
    return Agi(registry)


def bench_dispatch(repeat: int, items: int) -> list[tuple[str, str, float, float | None, str]]:
    from agilab_executor_dask.cluster import start_embedded
    from agilab_executor_dask.launch import launch_ahead
    from distributed import Client

    from agilab_core import WorkerSlot

    agi = _agi()
    cluster = start_embedded(launch_ahead(sys.executable, [WorkerSlot("localhost", i) for i in range(2)], None, 60.0), dashboard="")
    client = Client(cluster.address, set_as_default=False)
    options = {"scheduler": cluster.address}
    times: dict[str, list[float]] = {"bare": [], "batched": [], "dask": []}
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            futures = client.map(operator.index, range(items), pure=False)  # importable by workers: a no-op
            assert sum(client.gather(futures)) == items * (items - 1) // 2
            times["bare"].append(time.perf_counter() - start)
            del futures
            start = time.perf_counter()
            futures = client.map(sum, [range(i, min(i + 1024, items)) for i in range(0, items, 1024)], pure=False)
            assert sum(client.gather(futures)) == items * (items - 1) // 2
            times["batched"].append(time.perf_counter() - start)
            del futures
            start = time.perf_counter()
            result = agi.run("probe", executor="dask", workers=2, args={"count": items, "write": False}, executor_options=options)
            times["dask"].append(time.perf_counter() - start)
            assert result.items["ok"] == items, result.items
            shutil.rmtree(Path(os.environ["AGILAB_HOME"]) / "runs", ignore_errors=True)
            print(f"  bare client.map {times['bare'][-1]:.2f} s, batched {times['batched'][-1]:.2f} s, dask executor {times['dask'][-1]:.2f} s", flush=True)
    finally:
        client.close()
        cluster.close()
    bare, batched, dask = min(times["bare"]), min(times["batched"]), min(times["dask"])
    return [
        ("dispatch", f"dask executor / bare client.map ({items:,} no-op items)", dask / bare, 1.2, f"{dask:.2f} s vs {bare:.2f} s"),
        ("dispatch", "dask executor / bare client.map of 1,024-item batches", dask / batched, None, f"{dask:.2f} s vs {batched:.2f} s"),
    ]


def bench_startup(repeat: int) -> list[tuple[str, str, float, float | None, str]]:
    sys.path.insert(0, str(HERE))
    from agilab_executor_dask.cluster import dashboard_available
    from run import flight_data, timed  # bench/run.py owns the data set

    data, _ = flight_data(2000, 1600, 0.33)  # the data set of bench/run.py's flight figures
    home = Path(tempfile.mkdtemp(prefix="agilab-dask-bench-"))
    env = {"AGILAB_HOME": str(home), "AGILAB_WENV": str(WENV)}
    base = [AGILAB, "run", "flight", "-w", "2", "--set", f"data_in={data}", "--set", "nfile=2", "--json"]
    variants = {"pool": ["-e", "pool"], "dask": ["-e", "dask", "-o", "dashboard="]}
    if dashboard_available():
        variants["dask, dashboard"] = ["-e", "dask"]
    times: dict[str, list[float]] = {k: [] for k in variants}
    try:
        for extra in variants.values():  # builds (or reuses) each executor's worker venv, untimed
            timed(base + extra, env)
        for _ in range(repeat):
            for name, extra in variants.items():
                elapsed, _ = timed(base + extra, env)
                times[name].append(elapsed)
            shutil.rmtree(home / "runs", ignore_errors=True)
            print("  " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    best = {k: min(v) for k, v in times.items()}
    rows = [("startup", "2-item flight run, dask (2) - pool (2), seconds", best["dask"] - best["pool"], None, f"{best['dask']:.2f} s vs {best['pool']:.2f} s")]
    if "dask, dashboard" in best:
        rows.append(("startup", "the dashboard (bokeh) per run, seconds", best["dask, dashboard"] - best["dask"], None, f"{best['dask, dashboard']:.2f} s vs {best['dask']:.2f} s"))
    return rows


def bench(repeat: int, items: int, only: str | None = None) -> list[tuple[str, str, float, float | None, str]]:
    """Every dask figure, as rows of bench/run.py's table (child processes keep their bytecode caches)."""
    saved = {k: os.environ.get(k) for k in ("PYTHONDONTWRITEBYTECODE", "AGILAB_HOME")}
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    home = tempfile.mkdtemp(prefix="agilab-dask-bench-")
    os.environ["AGILAB_HOME"] = home
    rows: list[tuple[str, str, float, float | None, str]] = []
    try:
        if only in (None, "dispatch"):
            print(f"dask dispatch: {items:,} no-op items", flush=True)
            rows += bench_dispatch(repeat, items)
        if only in (None, "startup"):
            print("dask startup", flush=True)
            rows += bench_startup(repeat)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--only", choices=("dispatch", "startup"))
    opts = parser.parse_args()
    rows = bench(opts.repeat, opts.items, opts.only)
    sys.path.insert(0, str(HERE))
    from run import print_table

    print_table(rows, opts.repeat)


if __name__ == "__main__":
    main()
