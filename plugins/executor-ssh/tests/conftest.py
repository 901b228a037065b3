"""Two lab machines for the SSH tests: real OpenSSH servers on 127.0.0.2 and 127.0.0.3 (see ``sshd.py``)."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .sshd import SshHost, close_hosts, describe, new_client_key, open_hosts, sweep_stale_hosts, wait_for_no_processes

#: The loopback addresses of the two hosts of ``ssh_hosts``.
HOST_ADDRESSES = ("127.0.0.2", "127.0.0.3")


@pytest.fixture(scope="session")
def ssh_client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manager's private key (ed25519, mode 600, in a root-only temporary folder); every test host admits it."""
    return new_client_key(tmp_path_factory.mktemp("manager-ssh"))


@pytest.fixture(scope="session")
def ssh_hosts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, debian_command, ssh_client_key: Path
) -> list[SshHost]:
    """Two hosts, ``sshd`` on 127.0.0.2 and 127.0.0.3, each letting in its own unprivileged user with :func:`ssh_client_key`.

    Removed at the end of the test session (users, homes, processes), also
    when it is interrupted. The manager's files must be out of the users'
    reach, so the fixture fails when pytest's temporary root or the manager's
    home is open to other users.
    """
    for mine in (tmp_path_factory.getbasetemp(), Path.home()):
        closed = [p for p in (mine, *mine.parents) if not p.stat().st_mode & (stat.S_IROTH | stat.S_IXOTH)]
        assert closed, f"{mine} and its parents are open to other users: the hosts' users could read the manager's files"
    sshd = debian_command("sshd", "openssh-server")
    sweep_stale_hosts()
    hosts = open_hosts(HOST_ADDRESSES, tmp_path_factory.mktemp("ssh-hosts"), sshd, ssh_client_key)
    request.addfinalizer(lambda: close_hosts(hosts))
    return hosts


@pytest.fixture
def no_host_processes_left(ssh_hosts: list[SshHost]) -> Iterator[list[SshHost]]:
    """``ssh_hosts``, checked after the test: it fails when a process of a host's user survives the test.

    Leftovers are then killed, and a host the test killed or gave a new host
    key is restarted as it was, so the next test starts from clean hosts.
    """
    keys = [host.host_key for host in ssh_hosts]
    yield ssh_hosts
    left = describe(wait_for_no_processes(ssh_hosts))
    for host, key in zip(ssh_hosts, keys, strict=True):
        if left or not host.running or host.host_key is not key:
            host.host_key = key
            host.restart()
    assert not left, f"processes left on the hosts: {left}"


@pytest.fixture
def spare_ssh_host(tmp_path: Path, debian_command, ssh_client_key: Path) -> Iterator[Callable[[], SshHost]]:
    """A maker of extra hosts (127.0.0.4, .5...) that belong to one test, for tests that change or break a host.

    Each is removed after the test, which fails when a process of its user survived it.
    """
    made: list[SshHost] = []
    sshd = debian_command("sshd", "openssh-server")

    def make() -> SshHost:
        address = f"127.0.0.{4 + len(made)}"
        made.extend(open_hosts([address], tmp_path / "spare-hosts", sshd, ssh_client_key))
        return made[-1]

    yield make
    left = describe(wait_for_no_processes(made))
    close_hosts(made)
    assert not left, f"processes left on the spare hosts: {left}"
