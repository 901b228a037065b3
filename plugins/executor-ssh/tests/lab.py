"""What the executor tests share: the ``-o`` options and ``--workers`` of the test hosts, flight data, output comparisons.

Fixtures here are imported by the test modules that use them
(``from .lab import ...``); session-scoped ones are built once: the worker
venvs on the hosts are content-addressed, so every test after the first
finds them current.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from agilab_app_flight.sample import generate
from agilab_core.atomic import sha256_file

from .sshd import SshHost, known_hosts_text


def workers_of(hosts: Iterable[SshHost], count: int = 1) -> str:
    """``--workers`` naming each host as ``USER@ADDRESS:PORT=count``."""
    return ",".join(f"{h.user}@{h.address}:{h.port}={count}" for h in hosts)


def options_for(hosts: Iterable[SshHost], known_hosts: Path, **more: Any) -> dict[str, Any]:
    """``-o`` options reaching ``hosts`` with the test key, trusting exactly their keys, each with its own ``remote_dir``."""
    hosts = list(hosts)
    return {
        "client_keys": [str(hosts[0].client_key)],
        "known_hosts": str(known_hosts),
        "remote_python": "/usr/bin/python3",
        "remote_dir_options": {f"{h.user}@{h.address}": str(h.remote_dir) for h in hosts},
        **more,
    }


def cli_options(options: dict) -> list[str]:
    """``-o KEY=VALUE`` words for ``agilab`` (lists and tables as TOML, per-host values dotted)."""
    words = []
    for key, value in options.items():
        if isinstance(value, dict):
            words += [w for host, v in value.items() for w in ("-o", f"{key.removesuffix('_options')}.{host}={v}")]
        elif isinstance(value, list):
            words += ["-o", f"{key}={json.dumps(value)}"]
        else:
            words += ["-o", f"{key}={value}"]
    return words


@pytest.fixture(scope="session")
def known_hosts(ssh_hosts: list[SshHost], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A known-hosts file trusting the two test hosts (rewritten by tests that change a host key)."""
    path = tmp_path_factory.mktemp("known-hosts") / "known_hosts"
    path.write_text(known_hosts_text(ssh_hosts))
    return path


@pytest.fixture(scope="session")
def flights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve flight CSV files in a folder only the manager can read."""
    folder = tmp_path_factory.mktemp("flights")
    generate(folder, files=12, rows=300, seed=3, min_rows=100, max_rows=900)
    return folder


def frame(outputs: Path) -> pl.DataFrame:
    return pl.read_parquet(outputs / "**/*.parquet").sort("aircraft", "date")


def hashes(outputs: Path) -> dict[str, str]:
    """sha256 of every output file, by path relative to ``outputs`` (the run's own marker file aside)."""
    return {p.relative_to(outputs).as_posix(): sha256_file(p) for p in sorted(outputs.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def manifest(result: Any) -> dict[str, Any]:
    return json.loads(Path(result.manifest).read_text())
