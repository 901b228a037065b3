"""Per-item cost of a run's evidence: this tree against d8c2732, the last kernel without the journal.

d8c2732 kept every result in memory and wrote the manifest once, at the end
(and lost it all to a SIGKILL). Today each result is encoded, screened for
secrets and appended to ``items.jsonl`` as it arrives. Both kernels run the
same 20,000 no-op items of the probe app in-process (``local``), in child
processes that alternate; the old tree is ``git archive`` d8c2732 put first on
``PYTHONPATH``. Per-item cost is ``(T(N) - T(2)) / (N - 2)`` in CPU seconds of
the process (the journal's background thread included), which move much less
than wall seconds on a shared machine. The figure is the median, over
alternating rounds, of each round's ratio.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

BASELINE = "d8c2732"
ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import os, sys, tempfile, time
home = tempfile.mkdtemp(prefix="agilab-bench-")
os.environ["AGILAB_HOME"] = home
from agilab_core.plugins import load_plugins
from agilab_core.runner import Agi
from agilab_core.testing import ProbePlugin
registry = load_plugins()
registry.register(ProbePlugin(), name="probe")
agi = Agi(registry)
def cpu(n):
    start = time.process_time()
    result = agi.run("probe", executor="local", workers=1, args={"count": n, "write": False})
    assert result.items["ok"] == n, result.items
    return time.process_time() - start
n, repeat = int(sys.argv[1]), int(sys.argv[2])
cpu(n)  # warm: imports, first plan
small = min(cpu(2) for _ in range(repeat))
big = min(cpu(n) for _ in range(repeat))
print((big - small) / (n - 2) * 1e6)
"""


def _baseline_tree(into: Path) -> Path | None:
    """The kernel and the local executor of d8c2732 extracted under ``into``; None without that commit."""
    done = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE, "agilab_core/src", "plugins/executor-local/src"], capture_output=True)
    if done.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # no filter before Python 3.11.4
        tar.extractall(into, **safe)  # noqa: S202 - this repository's own commit
    return into


def _per_item(pythonpath: str | None, items: int, repeat: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run([sys.executable, "-c", CHILD, str(items), str(repeat)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"evidence bench child failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def bench(repeat: int, items: int) -> list[tuple[str, str, float, float | None, str]]:
    with tempfile.TemporaryDirectory(prefix="agilab-baseline-") as tmp:
        tree = _baseline_tree(Path(tmp))
        if tree is None:
            print(f"  evidence: commit {BASELINE} is not in this checkout (a shallow clone?); skipped", flush=True)
            return []
        old_path = os.pathsep.join(str(tree / p) for p in ("agilab_core/src", "plugins/executor-local/src"))
        now: list[float] = []
        old: list[float] = []
        for _ in range(max(repeat, 5)):  # a few µs between two kernels: more rounds than the other benches
            now.append(_per_item(None, items, 3))
            old.append(_per_item(old_path, items, 3))
            print(f"  evidence per item: this tree {now[-1]:.1f} µs, {BASELINE} {old[-1]:.1f} µs (CPU)", flush=True)
    # Each round runs both kernels back to back: the median of the rounds' ratios
    # is steadier than a ratio of two minima, each of which one lucky round can set.
    ratios = sorted(n / o for n, o in zip(now, old, strict=True))
    return [
        (
            "dispatch",
            f"local per-item cost, evidence included: this tree / {BASELINE} (no journal), median of paired rounds",
            statistics.median(ratios),
            1.0,
            f"rounds {ratios[0]:.2f}–{ratios[-1]:.2f}×; best {min(now):.1f} µs vs {min(old):.1f} µs CPU per item, {items:,} no-op items",
        )
    ]
