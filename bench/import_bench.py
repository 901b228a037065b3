"""Worker-side start-up: what a worker imports before its first item, and what checking its venv costs.

    .venv/bin/python bench/import_bench.py [--repeat N] [--wenv DIR]

(a) imports: a fresh interpreter doing what a worker does before its first
    item (import agilab_core.task, build a WorkerTask, check its environment,
    import the app's worker module), with this tree's kernel (after) and with
    the kernel of commit 6f1987a (before: agilab_core.task imported packaging,
    hence pluggy, and the package imported env, settings, cattrs, executor...),
    extracted with `git archive` into a temporary folder put first on
    PYTHONPATH. Timed inside the interpreter (start-up excluded), best of
    --repeat, before and after interleaved. Also without the app (the kernel's
    part alone: flight's worker imports polars, which dwarfs it).
(b) venv check: a flight worker venv (`agilab install flight -e pool`, built
    in --wenv or a temporary folder) is verified on every reuse; this times
    the check (stat of every file, sha256 of the worker's own code), what
    hashing every file would cost instead, and a warm `agilab install`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGILAB = str(Path(sys.executable).with_name("agilab"))
BEFORE = "6f1987a"
WORKER = "agilab_app_flight.worker:FlightWorker"

WORKER_START = r"""
import importlib, json, sys, time
started = time.perf_counter()
from agilab_core.task import WorkerTask
task = WorkerTask("flight", "run-1", sys.argv[1], None, ".")
task.check_environment()
kernel = time.perf_counter() - started
if sys.argv[1] != "-":
    importlib.import_module(task.worker_module)
total = time.perf_counter() - started
import agilab_core
print(json.dumps({"kernel": kernel, "total": total, "from": agilab_core.__file__, "pluggy": "pluggy" in sys.modules, "cattrs": "cattrs" in sys.modules}))
"""


def old_kernel(folder: Path) -> Path:
    """The kernel's sources at commit BEFORE, extracted into ``folder``; returns the folder to put on PYTHONPATH."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE, "agilab_core/src"], capture_output=True, check=True).stdout
    tar = folder / "old.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as fh:
        fh.extractall(folder, filter="data")
    return folder / "agilab_core" / "src"


def worker_start(pythonpath: str | None, worker: str) -> dict:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    else:
        env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-c", WORKER_START, worker], capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"worker start-up failed ({'before' if pythonpath else 'after'}): {done.stderr.strip()[-1500:]}")
    return json.loads(done.stdout)


def bench_imports(repeat: int) -> list[tuple[str, float, str]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="agilab-import-bench-") as tmp:
        old = str(old_kernel(Path(tmp)))
        for worker, label in (("-", "kernel only"), (WORKER, "with the flight worker module")):
            best = {"before": float("inf"), "after": float("inf")}
            facts = {}
            for pythonpath in [old, None] * (repeat + 1):  # the first round warms the OS caches
                run = worker_start(pythonpath, worker)
                when = "before" if pythonpath else "after"
                assert run["from"].startswith(old) == (when == "before"), run["from"]
                best[when] = min(best[when], run["total"])
                facts[when] = run
            b, a = best["before"], best["after"]
            deps = {w: "+".join(m for m in ("pluggy", "cattrs") if facts[w][m]) or "neither" for w in facts}
            print(f"  worker start-up ({label}): before {b * 1000:.1f} ms ({deps['before']}), after {a * 1000:.1f} ms ({deps['after']})", flush=True)
            rows.append((f"worker start-up, {label}: after / before", a / b, f"{a * 1000:.1f} ms vs {b * 1000:.1f} ms (best of {repeat})"))
    return rows


def timed_best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def bench_venv_check(repeat: int, wenv: Path | None) -> list[tuple[str, float, str]]:
    from agilab_core.atomic import sha256_file
    from agilab_core.wenv import FILES_RECORD, venv_changes, venv_files

    folder = Path(tempfile.mkdtemp(prefix="agilab-bench-wenv-")) if wenv is None else wenv
    env = {**os.environ, "AGILAB_HOME": str(folder / "home"), "AGILAB_WENV": str(folder / "wenv")}
    try:
        install = [AGILAB, "install", "flight", "-e", "pool", "--json"]
        started = time.perf_counter()
        done = subprocess.run(install, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"agilab install failed: {done.stderr.strip()}")
        first = json.loads(done.stdout)
        print(f"  flight worker venv {'reused' if first['cached'] else 'built'} in {time.perf_counter() - started:.2f} s: {first['venv']}", flush=True)
        venv = Path(first["venv"])
        record = json.loads((venv / FILES_RECORD).read_text())
        files = {rel: facts for rel, facts in record["files"].items() if facts[0] != "->"}
        total = sum(facts[0] for facts in files.values())
        hashed = sum(files[rel][0] for rel in record["sha256"])
        assert venv_changes(venv) is None
        check = timed_best(lambda: venv_changes(venv), repeat)
        walk = timed_best(lambda: venv_files(venv), repeat)
        everything = timed_best(lambda: [sha256_file(venv / rel) for rel in files], 1)
        warm = []
        for _ in range(repeat * 3):
            started = time.perf_counter()
            again = json.loads(subprocess.run(install, capture_output=True, text=True, env=env, check=True).stdout)
            if again["cached"]:
                warm.append((time.perf_counter() - started, again["seconds"]))
            else:  # a worker source or the kernel's changed meanwhile (a working tree being edited): a new venv, not a warm install
                print(f"  (rebuilt as {Path(again['venv']).name}: its sources changed meanwhile)", flush=True)
            if len(warm) == repeat:
                break
        if not warm:
            raise SystemExit("no warm install: the sources kept changing")
        wall, packaging = min(warm)
        print(
            f"  venv check: {len(files)} files ({total / 1e6:.0f} MB), {len(record['sha256'])} hashed ({hashed / 1e6:.2f} MB): "
            f"{check * 1000:.1f} ms (walk and stat {walk * 1000:.1f} ms); hashing every file {everything * 1000:.0f} ms",
            flush=True,
        )
        print(f"  warm `agilab install flight -e pool`: {wall:.3f} s, packaging {packaging * 1000:.1f} ms", flush=True)
        return [
            ("venv check / hashing every file", check / everything, f"{check * 1000:.1f} ms vs {everything * 1000:.0f} ms on {len(files)} files, {total / 1e6:.0f} MB"),
            ("venv check / warm `agilab install`", check / wall, f"{check * 1000:.1f} ms of {wall:.3f} s (packaging {packaging * 1000:.1f} ms, check included)"),
        ]
    finally:
        if wenv is None:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--wenv", type=Path, help="folder for the flight worker venv (kept); default: a temporary one")
    opts = parser.parse_args()
    print("imports: worker start-up before (6f1987a) and after", flush=True)
    rows = bench_imports(opts.repeat)
    print("venv check: a flight worker venv", flush=True)
    rows += bench_venv_check(opts.repeat, opts.wenv)
    for name, ratio, detail in rows:
        print(f"| {name} | {ratio:.3f} | {detail} |")


if __name__ == "__main__":
    main()
