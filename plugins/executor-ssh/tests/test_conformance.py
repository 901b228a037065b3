"""The executor conformance suite on two real SSH hosts (``sshd`` on 127.0.0.2 and .3) of one worker each.

The hosts are this machine under other users: their workers record attempts
in a folder they can write, and the manager reads it where it is.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from agilab_core.testing import PROBE_APP, ExecutorConformance

from .lab import known_hosts, options_for, workers_of  # noqa: F401 - fixtures

#: The probe with its worker side declared: a remote executor ships a worker wheel to its hosts.
PACKAGED_PROBE = attrs.evolve(PROBE_APP, worker_modules=("agilab_core.probe",))


@pytest.fixture
def agilab_registry(agilab_registry: Any) -> Any:
    """The installed plugins, with the probe app's worker side packaged."""
    agilab_registry.apps["probe"] = PACKAGED_PROBE
    return agilab_registry


class TestSshConformance(ExecutorConformance):
    executor = "ssh"

    @pytest.fixture(autouse=True)
    def _two_hosts(self, no_host_processes_left: Any, known_hosts: Path) -> None:  # noqa: F811
        """Both session hosts, one worker each; every test ends with no process of their users left."""
        self.workers = workers_of(no_host_processes_left, count=1)
        self.options = options_for(no_host_processes_left, known_hosts)

    @pytest.fixture
    def agilab_trace_root(self) -> Iterator[Path]:
        """A folder the hosts' users can write (mode 1777, an unguessable name under /tmp), removed after the test."""
        root = Path(tempfile.mkdtemp(prefix="agilab-ssh-trace-", dir="/tmp"))
        root.chmod(0o1777)
        yield root
        shutil.rmtree(root)
