"""Fixtures every test folder of this repository shares (not part of any package)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis's per-example deadline is a timed assertion: on a loaded 2-core CI
# machine one example can take seconds. Speed is measured in bench/, not here.
settings.register_profile("agilab", deadline=None)
settings.load_profile("agilab")


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


@pytest.fixture(scope="session")
def debian_command() -> Callable[[str, str], Path]:
    """The path of a system command, installing its Debian package when it is missing.

    ``debian_command("sshd", "openssh-server")`` looks ``sshd`` up on PATH and in
    ``/usr/sbin``; when absent it runs ``apt-get install`` (then ``apt-get
    update`` and once more, for a machine with no package lists yet), as the
    CI (root, a clean machine) needs. A failure fails the test with apt's last
    line: these tests need the real program, never a stand-in.
    """

    def find(command: str, package: str) -> Path:
        found = shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin")
        if found:
            return Path(found)
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        done = subprocess.run(install, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            done = subprocess.run(install, capture_output=True, text=True, env=env)
        found = shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin")
        if not found:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.fail(f"{command} is missing and apt-get install {package} failed: {last[0]}")
        return Path(found)

    return find


@pytest.fixture(scope="session")
def chromium_browser(debian_command: Callable[[str, str], Path]) -> Iterator[object]:
    """One headless Debian Chromium, driven by Playwright's sync API, for the whole test session.

    Playwright launches the system's ``chromium`` (found or apt-installed by
    :func:`debian_command`) through ``executable_path``: Playwright's own browser download
    fails offline, so it is never used. ``--no-sandbox``
    lets it start as root (CI). Tests open their own context and page on it
    (``browser.new_context()``) and close them; launching one browser per test
    would cost about a second each.
    """
    from playwright.sync_api import sync_playwright

    chromium = debian_command("chromium", "chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def agi(agilab_agi):
    """This repository's shorthand for ``agilab_agi`` (the kernel's pytest plugin names every fixture ``agilab_*``)."""
    return agilab_agi
