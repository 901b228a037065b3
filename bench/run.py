"""Benchmarks: AGILab against bare baselines measured in the same run.

    python bench/run.py [--repeat N] [--files N] [--rows N] [--sparse F] [--items N] [--only flight|dispatch|packaging|imports|dask|ui|maps|ssh]
                        [--flight-narrow]

(a) flight: the whole `agilab run flight` process (local; pool and dask with 2
    workers) against bench/bare_flight.py, a plain single-process polars script doing
    the same reads, checks, computation and writes, on a generated set of >= 3 M rows
    in >= 2,000 files of 100 to 40,000 rows, real-looking: a third of the files
    (--sparse) have empty altitude cells in their last column.
    With --cython too, and packaging (see bench/install_bench.py: installs and the
    distance kernel). Worker venvs are built before timing: runs use them warm.
(b) dispatch: no-op items through `local` and `pool` (2 workers) against a bare
    `ProcessPoolExecutor.map(chunksize=...)`; per-item overhead is
    (T(N items) - T(2 items)) / (N - 2), so pool start-up is not counted.
    And the per-item cost of the evidence against d8c2732, the kernel before
    the journal (bench/evidence_cost.py).
(c) dask: dispatch against bare `client.map` and start-up per run (bench/dask_bench.py).
(d) ui: `agilab ui`'s run list over 1,000 runs, cold and warm (bench/ui.py; target 0.5 s).
(e) maps: the maps page of a 1 M-fix flight run: size, write, first draw and zoom in Chromium (bench/maps.py).
(f) ssh: flight through two SSH hosts (real sshd on loopback) against dask, installs, first runs (bench/ssh.py).

Each figure is the best of --repeat runs; variants are interleaved so machine
noise hits them alike. Ratios are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dask_bench import bench as dask_bench  # beside this file
from evidence_cost import bench as evidence_bench
from import_bench import bench_imports, bench_venv_check
from install_bench import bench_install, bench_kernel
from maps import bench_maps
from scratch import make_scratch
from ssh import bench as ssh_bench
from ui import bench_ui

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
AGILAB = str(Path(sys.executable).with_name("agilab"))


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def timed_cpu(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Like :func:`timed`, with the CPU seconds (user + system) of the command and the processes it waited for.

    On a machine shared with other work, CPU seconds move much less than wall
    seconds, so they tell a real change from noise.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed, stdout = timed(cmd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), stdout


def flight_data(files: int, rows: int, sparse: float) -> tuple[Path, int]:
    folder = DATA / (f"flights-{files}x{rows}" + (f"-sparse{sparse:g}" if sparse else ""))
    stamp = folder / ".complete"
    if not stamp.exists():
        shutil.rmtree(folder, ignore_errors=True)
        from agilab_app_flight.sample import generate

        print(f"generating {files} flight files (~{files * rows:,} rows, {sparse:.0%} sparse) into {folder} ...", flush=True)
        generate(folder, files=files, rows=rows, seed=2024, min_rows=100, max_rows=40_000, progress=True, sparse=sparse)
        total = sum(sum(1 for _ in open(p)) - 1 for p in folder.glob("*.csv"))
        stamp.write_text(str(total))
    return folder, int(stamp.read_text())


def empty_last_cells(data: Path) -> int:
    """Files with at least one empty cell in their last column (a line ending in a separator)."""
    return sum(1 for p in data.glob("*.csv") if b",\n" in p.read_bytes())


BARE, LOCAL, POOL, DASK, CYTHON = (
    "bare polars script",
    "agilab run (local)",
    "agilab run (pool, 2 workers)",
    "agilab run (dask, 2 workers)",
    "agilab run (pool, 2 workers, --cython)",
)


def bench_flight(repeat: int, files: int, rows: int, sparse: float, wide: bool = True) -> list[tuple[str, str, float, float, str]]:
    """The flight figures; ``wide=False`` runs only bare, local and pool (more repeats in the same time)."""
    data, total_rows = flight_data(files, rows, sparse)
    print(f"flight: {len(list(data.glob('*.csv')))} files, {total_rows:,} rows, {empty_last_cells(data)} with empty last cells", flush=True)
    home = make_scratch("agilab-bench-")
    env = {"AGILAB_HOME": str(home), "AGILAB_WENV": str(home / "wenv")}
    for extra in (["-e", "pool"], ["-e", "pool", "--cython"], ["-e", "dask"]) if wide else (["-e", "pool"],):
        timed([AGILAB, "install", "flight", *extra, "--json"], env)
    variants = {
        BARE: lambda out: [sys.executable, str(HERE / "bare_flight.py"), str(data), str(out)],
        LOCAL: lambda out: [AGILAB, "run", "flight", "-e", "local", "--set", f"data_in={data}", "--out", str(out), "--json"],
        POOL: lambda out: [AGILAB, "run", "flight", "-e", "pool", "-w", "2", "--set", f"data_in={data}", "--out", str(out), "--json"],
        DASK: lambda out: [
            AGILAB, "run", "flight", "-e", "dask", "-w", "2", "-o", "dashboard=", "--set", f"data_in={data}", "--out", str(out), "--json"
        ],
        CYTHON: lambda out: [
            AGILAB, "run", "flight", "-e", "pool", "-w", "2", "--cython", "--set", f"data_in={data}", "--out", str(out), "--json"
        ],
    }
    if not wide:
        variants = {k: v for k, v in variants.items() if k in (BARE, LOCAL, POOL)}
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    try:
        for r in range(repeat):
            for name, cmd in variants.items():
                out = home / f"out-{r}-{len(times[name])}"
                elapsed, seconds, stdout = timed_cpu(cmd(out), env)
                check_rows(name, stdout, total_rows)
                times[name].append(elapsed)
                cpu[name].append(seconds)
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(home / "runs", ignore_errors=True)
                print(f"  {name}: {elapsed:.2f} s ({seconds:.2f} s CPU)", flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    base = min(times[BARE])
    base_cpu = min(cpu[BARE])

    def figures(name: str) -> str:
        return f"{min(times[name]):.2f} s vs {base:.2f} s; CPU {min(cpu[name]):.2f} s vs {base_cpu:.2f} s ({min(cpu[name]) / base_cpu:.2f}×)"

    rows = [
        ("flight", "agilab run (local) / bare", min(times[LOCAL]) / base, 1.05, figures(LOCAL)),
        ("flight", "agilab run (pool, 2) / bare", min(times[POOL]) / base, 0.55, figures(POOL)),
    ]
    if wide:
        pool = min(times[POOL])
        rows += [
            ("flight", "agilab run (dask, 2) / agilab run (pool, 2)", min(times[DASK]) / pool, 1.15, f"{min(times[DASK]):.2f} s vs {pool:.2f} s"),
            ("flight", "pool, 2, --cython / pool, 2", min(times[CYTHON]) / pool, None, f"{min(times[CYTHON]):.2f} s vs {pool:.2f} s"),
        ]
    return rows


def check_rows(name: str, stdout: str, total_rows: int) -> None:
    """Every variant must have read every row (so none is fast by skipping files)."""
    out = json.loads(stdout)
    got = out["summary"]["rows"] if "summary" in out else out["rows"]
    if got != total_rows:
        raise SystemExit(f"{name} wrote {got:,} rows, not {total_rows:,}: {stdout[:500]}")


def _noop(i: int) -> int:
    return i


def bare_pool(n: int) -> float:
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as ex:
        for _ in ex.map(_noop, range(n), chunksize=max(1, n // 16)):
            pass
    return time.perf_counter() - start


def agilab_noop(agi, executor: str, n: int) -> float:
    start = time.perf_counter()
    result = agi.run("probe", executor=executor, workers=2 if executor == "pool" else 1, args={"count": n, "write": False})
    elapsed = time.perf_counter() - start
    assert result.items["ok"] == n, result.items
    return elapsed


def bench_dispatch(repeat: int, items: int) -> list[tuple[str, str, float, float, str]]:
    from agilab_core.plugins import load_plugins
    from agilab_core.runner import Agi
    from agilab_core.testing import ProbePlugin

    home = Path(tempfile.mkdtemp(prefix="agilab-bench-"))
    os.environ["AGILAB_HOME"] = str(home)
    registry = load_plugins()
    registry.register(ProbePlugin(), name="probe")
    agi = Agi(registry)
    t: dict[str, list[float]] = {k: [] for k in ("bare", "bare0", "pool", "pool0", "local", "local0")}
    try:
        for _ in range(repeat):
            t["bare"].append(bare_pool(items))
            t["bare0"].append(bare_pool(2))
            t["pool"].append(agilab_noop(agi, "pool", items))
            t["pool0"].append(agilab_noop(agi, "pool", 2))
            t["local"].append(agilab_noop(agi, "local", items))
            t["local0"].append(agilab_noop(agi, "local", 2))
            shutil.rmtree(home / "runs", ignore_errors=True)
            print("  " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in t.items()), flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    best = {k: min(v) for k, v in t.items()}
    per = {k: max(best[k] - best[k + "0"], 1e-9) / (items - 2) * 1e6 for k in ("bare", "pool", "local")}
    return [
        ("dispatch", "pool per-item overhead / bare", per["pool"] / per["bare"], 1.5, f"{per['pool']:.1f} µs vs {per['bare']:.1f} µs per item"),
        ("dispatch", "pool total / bare total", best["pool"] / best["bare"], None, f"{best['pool']:.2f} s vs {best['bare']:.2f} s for {items:,} items"),
        ("dispatch", "local per-item / bare pool per-item", per["local"] / per["bare"], None, f"{per['local']:.1f} µs per item in-process"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=1600, help="mean rows per file")
    parser.add_argument("--sparse", type=float, default=0.33, help="fraction of flight files with empty altitude cells")
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--only", choices=("flight", "dispatch", "packaging", "imports", "dask", "ui", "maps", "ssh"))
    parser.add_argument("--flight-narrow", action="store_true", help="flight: only bare, local and pool (skip dask and --cython)")
    parser.add_argument("--points", type=int, default=5_000_000, help="fixes for the distance kernel")
    opts = parser.parse_args()
    # A user's interpreter caches bytecode; with this set (some shells and CI images
    # do), every process of an editable checkout recompiles the kernel's sources.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    rows: list[tuple[str, str, float, float | None, str]] = []
    if opts.only in (None, "dispatch"):
        print(f"dispatch: {opts.items:,} no-op items", flush=True)
        rows += bench_dispatch(opts.repeat, opts.items) + evidence_bench(opts.repeat, opts.items)
    if opts.only in (None, "packaging"):
        print("packaging: flight worker venv installs, distance kernel", flush=True)
        rows += bench_install(opts.repeat) + bench_kernel(opts.repeat, opts.points)
    if opts.only in (None, "imports"):
        print("imports: worker start-up before (6f1987a) and after; the worker venv check", flush=True)
        rows += [("imports", name, ratio, None, detail) for name, ratio, detail in bench_imports(opts.repeat) + bench_venv_check(opts.repeat, None)]
    if opts.only in (None, "dask"):
        rows += dask_bench(opts.repeat, opts.items)
    if opts.only in (None, "ui"):
        print("ui: the run list over 1,000 runs (bench/ui.py)", flush=True)
        rows += bench_ui(opts.repeat)
    if opts.only in (None, "maps"):
        print("maps: the maps page of a 1 M-fix flight run (bench/maps.py)", flush=True)
        rows += bench_maps(opts.repeat)
    if opts.only in (None, "ssh"):
        print("ssh: flight through two SSH hosts against dask (bench/ssh.py; needs root and sshd)", flush=True)
        rows += ssh_bench(opts.repeat, opts.files, opts.rows)
    if opts.only in (None, "flight"):
        rows += bench_flight(opts.repeat, opts.files, opts.rows, opts.sparse, wide=not opts.flight_narrow)
    print_table(rows, opts.repeat)


def print_table(rows: list[tuple[str, str, float, float | None, str]], repeat: int) -> None:
    print()
    print(f"best of {repeat}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print()
    print("| bench | ratio | value | target | figures |")
    print("|---|---|---|---|---|")
    for bench, name, ratio, target, detail in rows:
        verdict = "" if target is None else (f"≤ {target} ✓" if ratio <= target else f"≤ {target} ✗")
        value = f"{ratio:.2f} s" if "seconds" in name else f"{ratio:.2f} MB" if name.endswith(", MB") else f"{ratio:.2f}×"
        print(f"| {bench} | {name} | {value} | {verdict} | {detail} |")


if __name__ == "__main__":
    main()
