"""Shared helpers for the kernel's own tests.

``plugin_fixtures`` is a package of small, real plugin modules (one good, the
others broken in one specific way each). Tests put this folder on ``sys.path``
with :func:`fixtures_on_path` so entry points and ``"module:Class"`` worker
paths can import them, exactly as an installed plugin would be imported.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
FIXTURE_DIST = "agilab-fixture-plugins"
FIXTURE_VERSION = "9.8.7"


@pytest.fixture
def fixtures_on_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``plugin_fixtures`` importable for the duration of one test."""
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    return TESTS_DIR


@pytest.fixture
def fixture_dist(tmp_path: Path, fixtures_on_path: Path):
    """Build a real distribution (a ``.dist-info`` folder) whose entry points are given per test.

    Returns a function ``make({ep_name: "module"}) -> list[EntryPoint]``; the
    entry points come from ``PathDistribution.entry_points``, so they carry a
    real ``dist`` with a name and version, like an installed plugin's.
    """

    def make(entries: dict[str, str]) -> list[metadata.EntryPoint]:
        info = tmp_path / f"{FIXTURE_DIST.replace('-', '_')}-{FIXTURE_VERSION}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {FIXTURE_DIST}\nVersion: {FIXTURE_VERSION}\n", encoding="utf-8"
        )
        lines = ["[agilab]"] + [f"{name} = {value}" for name, value in entries.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        dist = metadata.PathDistribution(info)
        return list(dist.entry_points.select(group="agilab"))

    return make
