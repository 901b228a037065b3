"""Connecting to real OpenSSH hosts: host-key policies, refusals named in one line, commands that arrive exactly as written."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest
from agilab_executor_ssh.connection import (
    MAX_SESSIONS,
    AuthRefused,
    ConnectionOptions,
    HostKeyRefused,
    HostUnreachable,
    RemoteCommandFailed,
    connect,
    link_destination,
    open_session,
    preferred_ciphers,
    remote_command,
    run_remote,
    session_slot,
)
from agilab_executor_ssh.hostkeys import pinned_hosts_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agilab_core import AgilabError, ConfigError

from .sshd import SshHost, free_port, known_hosts_text, new_client_key

#: Seconds a test host gets to log in: far more than it needs, however loaded the machine.
PATIENT = 120

#: Characters shells treat specially, and what file names and values really contain.
HOSTILE = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "a b",
            "'",
            '"',
            "it's",
            '"; rm -rf ~; "',
            "$(id)",
            "`id`",
            "$HOME",
            "a\nb",
            "\t",
            "\\",
            "*",
            "-n",
            "--",
            "é ü 雪 🚀",
            "a=b",
            "!",
            "#x",
            "~",
            "{a,b}",
            ">out",
            "|",
            "&",
        ]
    ),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=20),
)


@pytest.fixture(autouse=True)
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``$HOME`` of the test's own (no ``~/.ssh`` of the machine's user) and no ssh-agent: what connects is what the test sets."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AGILAB_HOME", str(tmp_path / "agilab"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


def trusting(tmp_path: Path, *hosts: SshHost, **extra) -> ConnectionOptions:
    """Options that log in with the manager's key and trust exactly ``hosts``' current keys."""
    known = tmp_path / "known_hosts"
    known.write_text(known_hosts_text(hosts))
    return ConnectionOptions(
        connect_timeout=PATIENT, client_keys=[hosts[0].client_key] if hosts else [], known_hosts=known, **extra
    )


def attempt(host: SshHost, options: ConnectionOptions, home: Path, user: str | None = None) -> str:
    """Connect, run ``id -un`` and return its output; a failure propagates."""

    async def go() -> str:
        conn = await connect(host.address, host.port, user or host.user, options, home=home)
        try:
            return (await run_remote(conn, ["id", "-un"])).stdout.strip()
        finally:
            conn.close()
            await conn.wait_closed()

    return asyncio.run(go())


def refusal(
    error_type: type[AgilabError], host: str, port: int, options: ConnectionOptions, home: Path, user: str = "nobody"
) -> AgilabError:
    """The error a failing :func:`connect` raises, checked to be one line with exit code 2."""
    with pytest.raises(error_type) as caught:
        asyncio.run(connect(host, port, user, options, home=home))
    message = str(caught.value)
    assert "\n" not in message and message.strip() == message
    assert caught.value.exit_code == 2
    return caught.value


# -- connecting --------------------------------------------------------------


def test_connects_to_both_hosts_as_their_users(no_host_processes_left, tmp_path):
    hosts = no_host_processes_left
    options = trusting(tmp_path, *hosts)
    assert [attempt(h, options, tmp_path) for h in hosts] == [h.user for h in hosts]
    assert not pinned_hosts_path(tmp_path).exists()  # trusted keys are not copied anywhere


def test_strict_refuses_an_unknown_host_key_showing_its_fingerprint(no_host_processes_left, tmp_path):
    host = no_host_processes_left[0]
    options = trusting(tmp_path)  # an empty known_hosts file
    options = ConnectionOptions(connect_timeout=PATIENT, client_keys=[host.client_key], known_hosts=options.known_hosts)
    error = refusal(HostKeyRefused, host.address, host.port, options, tmp_path, host.user)
    assert isinstance(error, ConfigError)
    assert str(error).startswith(f"{host.destination}: unknown host key {host.fingerprint} (ssh-ed25519)")
    assert "host_key_policy=accept-new" in str(error)
    assert str(pinned_hosts_path(tmp_path)) in str(error)
    assert not pinned_hosts_path(tmp_path).exists()


def test_accept_new_pins_the_key_then_refuses_it_changed(spare_ssh_host, tmp_path):
    host = spare_ssh_host()
    pins = pinned_hosts_path(tmp_path)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    accept_new = ConnectionOptions(
        connect_timeout=PATIENT, client_keys=[host.client_key], known_hosts=empty, host_key_policy="accept-new"
    )
    strict = ConnectionOptions(connect_timeout=PATIENT, client_keys=[host.client_key], known_hosts=empty)

    assert attempt(host, accept_new, tmp_path) == host.user
    assert pins.read_text() == f"{host.known_hosts_line}\n"
    assert attempt(host, strict, tmp_path) == host.user  # pinned keys are trusted under strict too
    assert attempt(host, accept_new, tmp_path) == host.user
    assert pins.read_text() == f"{host.known_hosts_line}\n"  # pinned once

    old = host.fingerprint
    host.restart(new_host_key=True)
    for options in (accept_new, strict):
        error = refusal(HostKeyRefused, host.address, host.port, options, tmp_path, host.user)
        assert str(error).startswith(f"{host.destination}: host key changed: it presents {host.fingerprint} (ssh-ed25519)")
        assert f"{pins} trust {old};" in str(error)
    assert host.fingerprint not in pins.read_text() and pins.read_text().count("\n") == 1


def test_a_key_changed_against_the_users_known_hosts_is_refused_under_accept_new(spare_ssh_host, tmp_path):
    host = spare_ssh_host()
    options = trusting(tmp_path, host, host_key_policy="accept-new")
    host.restart(new_host_key=True)
    error = refusal(HostKeyRefused, host.address, host.port, options, tmp_path, host.user)
    assert f"host key changed: it presents {host.fingerprint} (ssh-ed25519), {options.known_hosts} trust" in str(error)
    assert not pinned_hosts_path(tmp_path).exists()


def test_a_wrong_user_key_is_refused_naming_the_key(no_host_processes_left, tmp_path):
    host = no_host_processes_left[0]
    stranger = new_client_key(tmp_path, "stranger")
    options = ConnectionOptions(connect_timeout=PATIENT, client_keys=[stranger], known_hosts=trusting(tmp_path, host).known_hosts)
    error = refusal(AuthRefused, host.address, host.port, options, tmp_path, host.user)
    assert str(error).startswith(f"{host.destination}: authentication refused")
    assert str(stranger) in str(error)


def test_a_user_the_host_does_not_know_is_refused(no_host_processes_left, tmp_path):
    host = no_host_processes_left[0]
    other = no_host_processes_left[1].user  # a real user, but not one this sshd lets in
    error = refusal(AuthRefused, host.address, host.port, trusting(tmp_path, host), tmp_path, other)
    assert str(error).startswith(f"{other}@{host.address}:{host.port}: authentication refused")


def test_connection_refused_on_a_closed_port(tmp_path):
    port = free_port("127.0.0.1")
    error = refusal(HostUnreachable, "127.0.0.1", port, ConnectionOptions(), tmp_path)
    assert str(error) == f"nobody@127.0.0.1:{port}: connection refused (nothing listens on that port)"


def test_a_host_that_accepts_tcp_but_never_speaks_ssh_times_out(tmp_path):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # the kernel completes the TCP handshake; nothing ever answers
        port = silent.getsockname()[1]
        error = refusal(HostUnreachable, "127.0.0.1", port, ConnectionOptions(connect_timeout=0.5), tmp_path)
    assert str(error).startswith(f"nobody@127.0.0.1:{port}: no SSH answer within 0.5s")


def test_a_host_that_stops_answering_is_dropped_by_keepalives(spare_ssh_host, tmp_path):
    host = spare_ssh_host()

    async def go() -> bool:
        conn = await connect(host.address, host.port, host.user, trusting(tmp_path, host, keepalive=0.2), home=tmp_path)
        host.freeze()
        try:
            await asyncio.wait_for(conn.wait_closed(), PATIENT)  # without keepalives: never, and this fails
        finally:
            host.thaw()
        return conn.is_closed()

    assert asyncio.run(go())


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        # glibc refuses a name with a space before asking any DNS server: a resolution failure without network
        ("lab host", "cannot resolve host name 'lab host'"),
        ("lab..example", "'lab..example' is not a valid host name"),
    ],
)
def test_a_host_name_that_does_not_resolve(tmp_path, name, cause):
    error = refusal(HostUnreachable, name, 22, ConnectionOptions(), tmp_path)
    assert str(error).startswith(f"nobody@{name}:22: {cause}")


def test_ssh_config_aliases_and_identity_files_are_honoured(no_host_processes_left, tmp_path, own_home):
    host = no_host_processes_left[1]
    (own_home / ".ssh").mkdir(mode=0o700)
    (own_home / ".ssh" / "config").write_text(
        f"Host lab3\n  HostName {host.address}\n  Port {host.port}\n  User {host.user}\n  IdentityFile {host.client_key}\n"
    )
    (own_home / ".ssh" / "known_hosts").write_text(known_hosts_text([host]))

    async def go() -> tuple[str, str]:
        conn = await connect("lab3", options=ConnectionOptions(connect_timeout=PATIENT), home=tmp_path)
        try:
            return link_destination(conn), (await run_remote(conn, ["id", "-un"])).stdout.strip()
        finally:
            conn.close()

    assert asyncio.run(go()) == (f"{host.user}@lab3:{host.port}", host.user)


def negotiated_cipher(host: SshHost, options: ConnectionOptions, home: Path, alias: str | None = None) -> str:
    async def go() -> str:
        conn = await connect(alias or host.address, None if alias else host.port, None if alias else host.user, options, home=home)
        try:
            return str(conn.get_extra_info("send_cipher"))
        finally:
            conn.close()
            await conn.wait_closed()

    return asyncio.run(go())


def test_aes_gcm_is_preferred_unless_the_ssh_config_names_ciphers(no_host_processes_left, tmp_path, own_home):
    host = no_host_processes_left[0]
    assert negotiated_cipher(host, trusting(tmp_path, host), tmp_path) == "aes256-gcm@openssh.com"
    (own_home / ".ssh").mkdir(mode=0o700)
    (own_home / ".ssh" / "config").write_text(
        f"Host lab\n  HostName {host.address}\n  Port {host.port}\n  User {host.user}\n  Ciphers chacha20-poly1305@openssh.com\n"
    )
    assert negotiated_cipher(host, trusting(tmp_path, host), tmp_path, alias="lab") == "chacha20-poly1305@openssh.com"


def test_preferred_ciphers_only_reorder_the_defaults():
    defaults = [b"chacha20-poly1305@openssh.com", b"aes256-gcm@openssh.com", b"aes128-gcm@openssh.com", b"aes256-ctr"]
    assert preferred_ciphers(defaults) == ["aes256-gcm@openssh.com", "aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes256-ctr"]
    assert preferred_ciphers([b"aes128-ctr"]) == ["aes128-ctr"]


@pytest.fixture
def ssh_agent(ssh_client_key, tmp_path, monkeypatch, debian_command) -> Iterator[Path]:
    """A real ssh-agent holding the manager's key, as ``$SSH_AUTH_SOCK``; stopped after the test."""
    agent, add = debian_command("ssh-agent", "openssh-client"), debian_command("ssh-add", "openssh-client")
    sock = tmp_path / "agent.sock"
    process = subprocess.Popen([str(agent), "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):  # until the agent listens (ssh-add exits 2 while it cannot reach it)
            added = subprocess.run(
                [str(add), str(ssh_client_key)], env={"SSH_AUTH_SOCK": str(sock)}, capture_output=True, text=True
            )
            if added.returncode != 2 or process.poll() is not None:
                break
            time.sleep(0.05)
        assert added.returncode == 0, added.stderr
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait()


def login_report(host: SshHost, options: ConnectionOptions, home: Path) -> str:
    """The remote user and the remote ``$SSH_AUTH_SOCK`` (``no agent`` when unset) of one login."""

    async def go() -> str:
        conn = await connect(host.address, host.port, host.user, options, home=home)
        try:
            return (await run_remote(conn, ["sh", "-c", 'id -un; echo "${SSH_AUTH_SOCK:-no agent}"'])).stdout
        finally:
            conn.close()
            await conn.wait_closed()

    return asyncio.run(go())


def test_a_proxy_jump_of_the_ssh_config_is_followed(no_host_processes_left, tmp_path, own_home):
    target, jump = no_host_processes_left
    (own_home / ".ssh").mkdir(mode=0o700)
    (own_home / ".ssh" / "config").write_text(
        f"Host lab2\n  HostName {target.address}\n  Port {target.port}\n  User {target.user}\n"
        f"  ProxyJump {jump.user}@{jump.address}:{jump.port}\n"
        f"Host *\n  IdentityFile {target.client_key}\n"
    )
    (own_home / ".ssh" / "known_hosts").write_text(known_hosts_text([target, jump]))

    async def go() -> str:
        conn = await connect("lab2", options=ConnectionOptions(connect_timeout=PATIENT), home=tmp_path)
        try:
            return (await run_remote(conn, ["sh", "-c", "id -un; echo $SSH_CONNECTION"])).stdout
        finally:
            conn.close()
            await conn.wait_closed()

    logins = f"Accepted publickey for {jump.user} "
    before = jump.log.read_text().count(logins)
    user, connection = asyncio.run(go()).splitlines()
    assert (user, connection.split()[2]) == (target.user, target.address)
    assert jump.log.read_text().count(logins) == before + 1  # through the jump host


def test_ssh_agent_keys_are_offered_but_the_agent_is_never_forwarded(no_host_processes_left, tmp_path, own_home, ssh_agent):
    host = no_host_processes_left[0]
    (own_home / ".ssh").mkdir(mode=0o700)
    (own_home / ".ssh" / "config").write_text(
        "Host *\n  ForwardAgent yes\n"
    )  # asked for, still refused: hosts never use our keys
    options = ConnectionOptions(
        connect_timeout=PATIENT, known_hosts=trusting(tmp_path, host).known_hosts
    )  # no key file: the agent's only
    assert login_report(host, options, tmp_path) == f"{host.user}\nno agent\n"


def test_an_encrypted_key_file_whose_key_is_in_the_agent_logs_in(no_host_processes_left, tmp_path, ssh_agent):
    host = no_host_processes_left[0]
    encrypted = write_private_key_encrypted(asyncssh.read_private_key(host.client_key), tmp_path / "lab", "a passphrase")
    options = ConnectionOptions(
        connect_timeout=PATIENT, client_keys=[encrypted], known_hosts=trusting(tmp_path, host).known_hosts
    )
    assert login_report(host, options, tmp_path) == f"{host.user}\nno agent\n"


def test_a_broken_ssh_config_is_named(tmp_path, own_home):
    (own_home / ".ssh").mkdir(mode=0o700)
    (own_home / ".ssh" / "config").write_text("Host lab\n  Port twenty-two\n")
    error = refusal(ConfigError, "lab", None, ConnectionOptions(), tmp_path)
    assert (
        str(error)
        == f"nobody@lab:22: unusable SSH client settings (~/.ssh/config?): {own_home}/.ssh/config line 2: Invalid Port integer value: twenty-two"
    )


def test_errors_survive_pickling_whole():
    for error in [
        HostKeyRefused("u@h:22", "host key changed"),
        HostUnreachable("u@h:22", "connection refused"),
        RemoteCommandFailed("u@h:22", ["ls", "x"], "exited with 2: no", 2, "no"),
    ]:
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), str(copy), copy.destination) == (type(error), str(error), error.destination)


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_a_client_key_others_can_read_is_refused(tmp_path, mode):
    key = new_client_key(tmp_path)
    key.chmod(mode)
    error = refusal(ConfigError, "127.0.0.1", 22, ConnectionOptions(connect_timeout=PATIENT, client_keys=[key]), tmp_path)
    assert str(error) == f"client key {key}: readable by other users (mode {mode:04o}); run chmod 600 {key}"


def test_options_are_checked_in_one_line():
    for bad, message in [
        ({"host_key_policy": "yes"}, "host_key_policy must be one of strict, accept-new, got 'yes'"),
        ({"connect_timeout": 0}, "connect_timeout must be > 0 and <= 3600, got 0"),
        ({"keepalive": -1}, "keepalive must be >= 0 and <= 3600, got -1"),
    ]:
        with pytest.raises(ValueError) as caught:
            ConnectionOptions(**bad)
        assert str(caught.value) == message


# -- secrets -----------------------------------------------------------------


def test_no_key_material_or_passphrase_in_errors_or_logs(no_host_processes_left, tmp_path, caplog):
    host = no_host_processes_left[0]
    passphrase = "correct horse battery staple 7391"
    secret_key = asyncssh.generate_private_key("ssh-ed25519")
    encrypted = write_private_key_encrypted(secret_key, tmp_path / "encrypted", passphrase)
    stranger = new_client_key(tmp_path, "stranger")
    secrets = [passphrase, *key_material(encrypted), *key_material(stranger), *key_material(host.client_key)]
    known = trusting(tmp_path, host).known_hosts
    messages = []
    caplog.set_level(logging.DEBUG)
    asyncssh.set_debug_level(2)
    try:
        for options in [
            ConnectionOptions(connect_timeout=PATIENT, client_keys=[encrypted], known_hosts=known),
            ConnectionOptions(connect_timeout=PATIENT, client_keys=[stranger], known_hosts=known),
            ConnectionOptions(connect_timeout=PATIENT, client_keys=[host.client_key], known_hosts=tmp_path / "empty"),
        ]:
            if not options.known_hosts.exists():
                options.known_hosts.write_text("")
            with pytest.raises(AgilabError) as caught:
                asyncio.run(connect(host.address, host.port, host.user, options, home=tmp_path))
            messages.append(str(caught.value))
        assert attempt(host, trusting(tmp_path, host), tmp_path) == host.user
    finally:
        asyncssh.set_debug_level(1)
    assert "encrypted; load it into ssh-agent" in messages[0]
    assert "authentication refused" in messages[1] and "unknown host key" in messages[2]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Auth for user" in logged  # the logs were captured
    for secret in secrets:
        for text in [*messages, logged]:
            assert secret not in text


def write_private_key_encrypted(key: asyncssh.SSHKey, path: Path, passphrase: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key("pkcs8-pem", passphrase=passphrase))  # OpenSSH format would need bcrypt
    return path


def key_material(path: Path) -> list[str]:
    """The base64 lines of a private key file, and its raw private value: none may ever be shown."""
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("-----")]
    try:
        raw = asyncssh.read_private_key(path).export_private_key("openssh").decode()
    except asyncssh.KeyImportError:  # encrypted
        raw = ""
    return lines + [line for line in raw.splitlines() if line and not line.startswith("-----")]


# -- remote commands ---------------------------------------------------------


@pytest.fixture
def link(no_host_processes_left, tmp_path) -> Iterator[tuple[asyncio.AbstractEventLoop, asyncssh.SSHClientConnection, SshHost]]:
    """One connection to the first host, on an event loop of its own, for every command of a test (and its examples)."""
    host = no_host_processes_left[0]
    folder = tmp_path / "link"
    folder.mkdir()
    known = folder / "known_hosts"
    known.write_text(known_hosts_text([host]))
    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(
        connect(
            host.address,
            host.port,
            host.user,
            ConnectionOptions(connect_timeout=PATIENT, client_keys=[host.client_key], known_hosts=known),
            home=folder,
        )
    )
    yield loop, conn, host
    conn.close()
    loop.run_until_complete(conn.wait_closed())
    loop.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(HOSTILE, max_size=6))
def test_hostile_arguments_reach_the_remote_program_exactly(link, args):
    loop, conn, _ = link
    done = loop.run_until_complete(run_remote(conn, ["printf", "%s\\0", *args]))
    assert done.stdout == "".join(f"{a}\0" for a in args) if args else done.stdout == "\0"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    args=st.lists(HOSTILE, max_size=4), value=HOSTILE, folder=HOSTILE.filter(lambda f: f not in ("", ".", "..") and "/" not in f)
)
def test_hostile_argv_env_and_folder_reach_a_remote_python_exactly(link, args, value, folder):
    loop, conn, host = link
    where = f"{host.remote_dir}/cwd/{folder}"
    report = "import json, os, sys; print(json.dumps([os.getcwd(), os.environ['AGILAB_PROBE'], sys.argv[1:]]))"

    async def go() -> list:
        await run_remote(conn, ["mkdir", "-p", "--", where])
        try:
            done = await run_remote(conn, ["python3", "-c", report, *args], cwd=where, env={"AGILAB_PROBE": value})
        finally:
            await run_remote(conn, ["rm", "-rf", "--", where])
        return json.loads(done.stdout)

    assert loop.run_until_complete(go()) == [where, value, args]


def test_input_reaches_the_command_and_bytes_come_back_as_bytes(link):
    loop, conn, _ = link
    assert loop.run_until_complete(run_remote(conn, ["cat"], input="h\u00e9llo\n")).stdout == "h\u00e9llo\n"
    raw = loop.run_until_complete(run_remote(conn, ["printf", "\\377\\000x"], encoding=None))
    assert raw.stdout == b"\xff\x00x"


def test_remote_command_quotes_every_word():
    line = remote_command(["printf", "%s", "a b; rm -rf ~", "$(id)"], cwd="/tmp/x y", env={"A": "1 $B"})
    assert line == "cd -- '/tmp/x y' && export A='1 $B' && exec printf %s 'a b; rm -rf ~' '$(id)'"
    for bad in [[], ["a\0b"]]:
        with pytest.raises(ValueError):
            remote_command(bad)
    with pytest.raises(ValueError, match="'A B' is not a name"):
        remote_command(["true"], env={"A B": "x"})


def test_a_failing_command_names_the_host_program_and_its_last_error_line(link):
    loop, conn, host = link
    with pytest.raises(RemoteCommandFailed) as caught:
        loop.run_until_complete(run_remote(conn, ["ls", "/no/such/folder"]))
    assert str(caught.value).startswith(f"{host.destination}: ls exited with 2: ls: cannot access '/no/such/folder'")
    assert caught.value.exit_status == 2
    done = loop.run_until_complete(run_remote(conn, ["ls", "/no/such/folder"], check=False))
    assert done.exit_status == 2


def test_a_command_past_its_timeout_fails_and_is_not_left_running(link):
    loop, conn, host = link
    with pytest.raises(RemoteCommandFailed, match=r"sleep did not finish within 0.5s"):
        loop.run_until_complete(run_remote(conn, ["sleep", "3600"], timeout=0.5))
    left = [p for p in host.processes() if "sleep" in " ".join(p.cmdline())]
    for p in left:  # the channel is closed: sshd ends the command (SIGHUP) shortly
        p.wait(timeout=20)


def test_more_commands_than_sshd_allows_sessions_all_run(link):
    loop, conn, host = link

    async def many() -> list[str]:
        return [
            d.stdout
            for d in await asyncio.gather(
                *(run_remote(conn, ["sh", "-c", "sleep 0.2; echo $0", str(i)]) for i in range(3 * MAX_SESSIONS))
            )
        ]

    assert MAX_SESSIONS <= 10  # OpenSSH's default MaxSessions, as the test hosts have it
    assert loop.run_until_complete(many()) == [f"{i}\n" for i in range(3 * MAX_SESSIONS)]


def test_session_slots_bound_sessions_opened_by_hand(link):
    loop, conn, _ = link
    running = 0
    most = 0

    async def one() -> None:
        nonlocal running, most
        async with session_slot(conn):
            running += 1
            most = max(most, running)
            process = await open_session(conn, lambda: conn.create_process("sleep 0.1"))
            await process.wait()
            process.close()
            await process.wait_closed()
            running -= 1

    async def all_of_them() -> None:
        await asyncio.gather(*(one() for _ in range(2 * MAX_SESSIONS)))

    loop.run_until_complete(all_of_them())
    assert most == MAX_SESSIONS


def test_commands_need_a_connection_made_by_connect():
    with pytest.raises(TypeError, match="not opened by"):
        asyncio.run(run_remote(object(), ["true"]))  # type: ignore[arg-type]


def test_no_ssh_program_is_started(no_host_processes_left, tmp_path, monkeypatch):
    """Connecting and running commands works with no ``ssh``, ``scp`` or ``sshpass`` to be found at all."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("ssh") is None
    host = no_host_processes_left[1]
    assert attempt(host, trusting(tmp_path, host), tmp_path) == host.user
