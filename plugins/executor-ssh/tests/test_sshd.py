"""The test hosts themselves: real sshd, a user of their own each, no view of the manager's files, nothing left when killed."""

from __future__ import annotations

import ast
import asyncio
import pwd
from pathlib import Path

import asyncssh
import pytest

from .sshd import SshHost, known_hosts_text


def login(host: SshHost, command: str) -> asyncssh.SSHCompletedProcess:
    """Run ``command`` on ``host`` as its user, trusting exactly its current host key."""

    async def go() -> asyncssh.SSHCompletedProcess:
        async with asyncssh.connect(
            host.address, host.port, username=host.user, client_keys=[str(host.client_key)],
            known_hosts=asyncssh.import_known_hosts(known_hosts_text([host])), config=None, agent_path=None,
        ) as conn:  # fmt: skip
            return await conn.run(command)

    return asyncio.run(go())


def test_each_host_is_its_own_user_on_its_own_address(no_host_processes_left):
    hosts = no_host_processes_left
    assert [h.address for h in hosts] == ["127.0.0.2", "127.0.0.3"]
    assert len({h.user for h in hosts}) == 2
    for host in hosts:
        done = login(host, "id -un; echo $HOME; echo $SSH_CONNECTION")
        user, home, connection = done.stdout.splitlines()
        assert (user, home) == (host.user, str(host.home))
        assert connection.split()[2] == host.address
        assert pwd.getpwnam(host.user).pw_uid != 0
        assert oct(host.client_key.stat().st_mode & 0o777) == "0o600"


def test_hosts_cannot_read_the_managers_files(no_host_processes_left, tmp_path: Path):
    secret = tmp_path / "data.csv"
    secret.write_text("manager only\n")
    for host in no_host_processes_left:
        done = login(host, f"cat {secret}; ls {tmp_path.parent}; ls {Path.home()}")
        assert done.exit_status != 0
        assert "manager only" not in done.stdout
        assert done.stderr.count("Permission denied") == 3


def test_sshd_listens_on_its_own_address_only(ssh_hosts):
    import psutil

    listening = {(c.laddr.ip, c.laddr.port) for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    for host in ssh_hosts:
        assert (host.address, host.port) in listening
        assert ("0.0.0.0", host.port) not in listening
        assert ("127.0.0.1", host.port) not in listening


def test_kill_leaves_no_process_and_the_host_unreachable(spare_ssh_host):
    host = spare_ssh_host()
    sleeper = asyncio.new_event_loop()
    try:

        async def start_sleep() -> asyncssh.SSHClientConnection:
            conn = await asyncssh.connect(
                host.address, host.port, username=host.user, client_keys=[str(host.client_key)],
                known_hosts=asyncssh.import_known_hosts(known_hosts_text([host])), config=None, agent_path=None,
            )  # fmt: skip
            await conn.create_process("sleep 600")
            return conn

        conn = sleeper.run_until_complete(start_sleep())
        assert any("sleep" in " ".join(p.cmdline()) for p in host.processes())
        host.kill()
        assert host.processes() == []
        assert not host.running
        with pytest.raises(OSError):
            login(host, "true")
        conn.abort()
    finally:
        sleeper.close()


def test_restart_with_a_new_host_key_changes_the_fingerprint_only(spare_ssh_host):
    host = spare_ssh_host()
    port, fingerprint = host.port, host.fingerprint
    host.restart(new_host_key=True)
    assert host.port == port
    assert host.fingerprint != fingerprint
    assert login(host, "echo up").stdout == "up\n"


def test_removed_host_leaves_no_user(spare_ssh_host, ssh_hosts):
    host = spare_ssh_host()
    host.remove()
    with pytest.raises(KeyError):
        pwd.getpwnam(host.user)
    assert not host.home.exists()


def test_every_fixture_is_documented_for_contributors():
    here = Path(__file__).parent
    tree = ast.parse((here / "conftest.py").read_text())
    fixtures = [
        f.name for f in tree.body if isinstance(f, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in f.decorator_list)
    ]
    docs = (here.parents[2] / "docs" / "executor-ssh.md").read_text()
    assert fixtures and [name for name in fixtures if f"| `{name}` |" not in docs] == []
