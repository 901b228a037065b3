"""Where benchmarks write their runs: a tmpfs when the machine has one, so the disk's history is not measured.

On a disk formatted ext4 without a journal (as the disk of this project's
build machines is), creating a file scans past every inode of its block group
deleted in the last 30 seconds or so (ext4's ``recently_deleted``): after a
variant's 2,000 outputs were removed, each file the next variant created cost
0.8-0.9 ms of CPU instead of 0.05 ms, so a variant's figure depended on what
ran before it. Every variant of a comparison writes to the same scratch
folder; inputs stay where they are (read, not created).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: A tmpfs most Linux machines mount for everyone.
TMPFS = Path("/dev/shm")


def scratch_dir() -> str | None:
    """``/dev/shm`` when it is a writable folder whose programs may run (worker venvs live there), else the default temp folder."""
    try:
        flags = os.statvfs(TMPFS).f_flag
    except OSError:
        return None
    if flags & (os.ST_NOEXEC | os.ST_RDONLY) or not os.access(TMPFS, os.W_OK | os.X_OK):
        return None
    return str(TMPFS)


def make_scratch(prefix: str) -> Path:
    """A new private folder under :func:`scratch_dir`."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_dir()))
