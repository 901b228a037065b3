"""The web app's run list over 1,000 runs (target: ≤ 0.5 s), cold and warm.

    python bench/ui.py [--runs N] [--repeat N]

Runs are written as the recorder writes them (manifest with 24 item results,
each with an output file, and a journal). *Cold* is the first request of a
fresh app (every manifest read and parsed); *warm* a later one (each run's
manifest and journal only stat'ed: unchanged runs are not read again).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ITEMS = 24


def write_runs(root: Path, runs: int) -> None:
    for n in range(runs):
        app = ("flight", "minimal", "survey")[n % 3]
        run_id = f"20261202-{n // 3600:02d}{n // 60 % 60:02d}{n % 60:02d}-{n:06x}"
        run_dir = root / app / run_id
        run_dir.mkdir(parents=True)
        started = 1_796_000_000.0 + n * 60
        results = [
            {
                "item_id": f"file_{i}.csv", "status": "ok" if (n + i) % 97 else "failed", "worker": f"localhost/{i % 2}", "host": "localhost",
                "started": started + i, "finished": started + i + 0.5, "rows": 1000 + i, "bytes_in": 60_000, "bytes_out": 30_000,
                "outputs": [{"path": f"aircraft={i}/file_{i}.parquet", "sha256": "", "bytes": 30_000}], "metrics": {}, "error": None,
                "attempts": 1, "runtime": "python",
            }
            for i in range(ITEMS)
        ]
        ok = sum(r["status"] == "ok" for r in results)
        manifest = {
            "schema": 1, "run_id": run_id, "status": "ok" if ok == ITEMS else "failed", "app": {"name": app, "version": "0.1.0"},
            "executor": {"name": "pool", "options": {}}, "workers": "2", "started": started, "finished": started + 30, "seconds": 30.0,
            "outputs": str(run_dir / "outputs"), "journal": "items.jsonl", "items": {"total": ITEMS, "ok": ok, "failed": ITEMS - ok},
            "results": results,
        }
        (run_dir / "manifest.json").write_text(json.dumps(manifest))
        (run_dir / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))


def bench_ui(repeat: int, runs: int = 1000) -> list[tuple[str, str, float, float | None, str]]:
    """Best-of-``repeat`` seconds for ``GET /`` over ``runs`` runs: a fresh app, then a warm one."""
    from agilab_ui.app import make_app
    from starlette.testclient import TestClient

    with tempfile.TemporaryDirectory(prefix="agilab-bench-ui-") as tmp:
        root = Path(tmp) / "runs"
        write_runs(root, runs)
        cold, warm = [], []
        for _ in range(repeat):
            client = TestClient(make_app(root, {}), base_url="http://127.0.0.1")
            for times in (cold, warm):
                start = time.perf_counter()
                response = client.get("/")
                times.append(time.perf_counter() - start)
                assert response.status_code == 200 and response.text.count("<tr class=") == runs
    detail = f"{runs:,} runs of {ITEMS} items"
    return [
        ("ui", "run list seconds, cold", min(cold), 0.5, f"{detail}: every manifest read"),
        ("ui", "run list seconds, warm", min(warm), 0.5, f"{detail}: unchanged runs only stat'ed"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    for bench, name, value, target, detail in bench_ui(opts.repeat, opts.runs):
        print(f"{bench}: {name}: {value:.3f} s (target ≤ {target} s) — {detail}")


if __name__ == "__main__":
    main()
