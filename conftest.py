"""Fixtures every test folder of this repository shares (not part of any package)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """Real small or read-only file systems (tmpfs), unmounted afterwards.

    ``mounted(name, options)`` mounts a tmpfs with ``options`` (``size=2m``,
    ``ro``...) at ``tmp_path / name``. Mounting needs root (CAP_SYS_ADMIN),
    which this project's test machines and CI have; without it these tests
    fail saying so rather than pass unseen.
    """
    mounts: list[Path] = []

    def mount(name: str, options: str) -> Path:
        target = tmp_path / name
        target.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"these tests mount a tmpfs and need root (CAP_SYS_ADMIN): mount said {done.stderr.strip()!r}")
        mounts.append(target)
        return target

    yield mount
    for target in mounts:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
