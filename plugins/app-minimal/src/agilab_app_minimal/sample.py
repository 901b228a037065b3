"""Sample input of the minimal app: a few small CSV files, the same for the same seed.

The kernel seeds them into ``<home>/data/minimal`` on first use
(``sample_data`` in ``plugin.py``); ``python -m agilab_app_minimal.sample FOLDER``
writes them anywhere.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path


def generate(folder: Path, files: int = 4, rows: int = 50, seed: int = 1) -> list[Path]:
    """Write ``files`` CSV files of ``rows`` rows (``id,value``) into ``folder``; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    written = []
    for n in range(files):
        lines = ["id,value", *(f"{n * rows + i},{rng.uniform(-50, 100):.3f}" for i in range(rows))]
        path = folder / f"part-{n:03d}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    opts = parser.parse_args()
    for path in generate(opts.folder, opts.files, opts.rows, opts.seed):
        print(path)


if __name__ == "__main__":
    main()
