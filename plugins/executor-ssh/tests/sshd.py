"""Throw-away OpenSSH servers: real ``sshd`` processes on loopback addresses, each logging in as a local user of its own.

A :class:`SshHost` is what the executor sees as a lab machine: an address and
port, a user with a home it owns, and nothing else. Its user cannot read the
manager's files (the test's temporary folders are root-only), so code that
quietly relied on a shared filesystem fails. Creating users and starting
``sshd`` on a chosen address needs root, which the test machines and CI have.

Users are named ``agilab-h<N>-<random>`` and carry the pid of the test process
in their comment field: :func:`sweep_stale_hosts` removes those of a test run
that died without its teardown.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import asyncssh
import attrs
import psutil

USER_PREFIX = "agilab-h"
#: The comment of every user created here; the pid is that of the test process that owns it.
USER_MARK = "agilab test host of pid {pid}"
_MARK_PATTERN = re.compile(r"agilab test host of pid (\d+)")
#: How long a host may take to start answering, or its processes to exit, before the fixture gives up.
PATIENCE = 30.0
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class HostSetupError(RuntimeError):
    """The test machine could not provide a host (no root, sshd would not start, useradd failed)."""


def write_private_key(key: asyncssh.SSHKey, path: Path) -> Path:
    """Write ``key`` in OpenSSH format to a new file ``path`` created with mode 600 (never readable by others, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key())
    return path


def new_client_key(folder: Path, name: str = "id_ed25519") -> Path:
    """A fresh ed25519 key pair in ``folder`` (private key mode 600, public key beside it as ``.pub``)."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment="agilab-test-manager")
    path = write_private_key(key, folder / name)
    path.with_suffix(".pub").write_bytes(key.export_public_key())
    return path


def public_key_line(private_key: Path) -> str:
    """The ``authorized_keys`` line of the key pair whose private half is ``private_key``."""
    return asyncssh.read_private_key(private_key).export_public_key().decode().strip()


def free_port(address: str) -> int:
    """A TCP port free on ``address`` right now."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def known_hosts_text(hosts: Iterable[SshHost]) -> str:
    """The ``known_hosts`` file trusting ``hosts`` with their current host keys."""
    return "".join(f"{host.known_hosts_line}\n" for host in hosts)


@attrs.define(eq=False)
class SshHost:
    """One lab machine: an ``sshd`` on ``address:port`` that lets ``user`` in with ``client_key``.

    ``root`` is the fixture's own folder for it (config, host key, pid file,
    ``sshd.log``), readable by root only. ``home`` is the user's home, where a
    remote executor may work (:attr:`remote_dir`).
    """

    address: str
    user: str
    home: Path
    root: Path
    sshd: Path
    client_key: Path
    port: int = 0
    host_key: asyncssh.SSHKey = attrs.field(factory=lambda: asyncssh.generate_private_key("ssh-ed25519"))
    _process: subprocess.Popen | None = attrs.field(default=None, repr=False)

    # -- what a test reads ---------------------------------------------------

    @property
    def remote_dir(self) -> PurePosixPath:
        """A folder in the user's home for an executor's files (not created)."""
        return PurePosixPath(self.home, "agilab")

    @property
    def destination(self) -> str:
        """``user@address:port``, as errors name this host."""
        return f"{self.user}@{self.address}:{self.port}"

    @property
    def known_hosts_line(self) -> str:
        """This host's line in a ``known_hosts`` file (``[address]:port key-type base64``)."""
        algorithm, blob = self.host_key.export_public_key().decode().split()[:2]
        return f"[{self.address}]:{self.port} {algorithm} {blob}"

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` of the host key, as ``ssh`` shows it."""
        return self.host_key.get_fingerprint("sha256")

    @property
    def log(self) -> Path:
        """The ``sshd`` log of this host (``LogLevel VERBOSE``)."""
        return self.root / "sshd.log"

    @property
    def running(self) -> bool:
        """Whether the listening ``sshd`` is alive."""
        return self._process is not None and self._process.poll() is None

    def processes(self) -> list[psutil.Process]:
        """Every live process of this host's user (zombies excepted): what a run left behind."""
        found = []
        for process in psutil.process_iter(["username", "status"]):
            if process.info["username"] == self.user and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(process)
        return [p for p in found if _alive(p)]  # one that exited meanwhile is a zombie now, or gone

    # -- life cycle ----------------------------------------------------------

    def create(self, client_keys: Iterable[Path]) -> SshHost:
        """Create the user (home 700, ``authorized_keys`` with ``client_keys``) and start ``sshd``."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        _run(
            ["useradd", "--create-home", "--home-dir", str(self.home), "--shell", "/bin/bash",
             "--password", "*", "--user-group", "--comment", USER_MARK.format(pid=os.getpid()), self.user],
            "useradd",
        )  # fmt: skip
        account = pwd.getpwnam(self.user)
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text("".join(f"{public_key_line(k)}\n" for k in client_keys))
        for path in (self.home, ssh_dir, ssh_dir / "authorized_keys"):
            os.chown(path, account.pw_uid, account.pw_gid)
        self.home.chmod(0o700)
        (ssh_dir / "authorized_keys").chmod(0o600)
        self.start()
        return self

    def start(self) -> None:
        """Start ``sshd`` with the current host key (on a new free port when none is set or it is taken)."""
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        key_file = self.root / "ssh_host_ed25519_key"
        key_file.unlink(missing_ok=True)
        write_private_key(self.host_key, key_file)
        for _ in range(5):
            self.port = self.port or free_port(self.address)
            config = self.root / "sshd_config"
            config.write_text(self._config(key_file))
            with contextlib.suppress(FileNotFoundError):
                self.log.rename(self.log.with_suffix(".log.old"))
            self._process = subprocess.Popen(
                [str(self.sshd), "-D", "-f", str(config), "-E", str(self.log)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={"PATH": _SYSTEM_PATH},
            )  # fmt: skip
            if self._wait_ready():
                return
            self.port = 0  # the port was taken meanwhile: another one
        raise HostSetupError(f"sshd on {self.address} would not start: {self._log_tail()}")

    def kill(self) -> None:
        """Kill ``sshd`` (listener and connections) and every process of the user with SIGKILL, as a dead machine."""
        for _ in range(3):  # a connection accepted meanwhile forks new processes
            victims = []
            if self.running:  # not reaped yet, so its pid is still its own (never signal a reused pid)
                with contextlib.suppress(psutil.Error):
                    listener = psutil.Process(self._process.pid)
                    victims = [listener, *listener.children(recursive=True)]
            for process in victims:
                with contextlib.suppress(psutil.Error):
                    process.send_signal(signal.SIGKILL)
            kill_user_processes(self.user)
            if self._process is not None:
                self._process.wait()
            if self._gone(victims):
                return
        raise HostSetupError(f"processes of {self.user} survive SIGKILL: {describe(self.processes())}")

    def freeze(self) -> None:
        """Stop (SIGSTOP) ``sshd`` and every process of the user: a host that no longer answers, as behind a cut cable."""
        stopped: set[int] = set()
        while fresh := [p for p in self._tree() if p.pid not in stopped]:  # a process forked meanwhile: it too
            for process in fresh:
                with contextlib.suppress(psutil.Error):
                    process.suspend()
                stopped.add(process.pid)

    def thaw(self) -> None:
        """Let a frozen host run again (SIGCONT)."""
        for process in self._tree():
            with contextlib.suppress(psutil.Error):
                process.resume()

    def restart(self, new_host_key: bool = False) -> None:
        """Kill the host and start it again on the same port, with a new host key when ``new_host_key``."""
        self.kill()
        if new_host_key:
            self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.start()

    def remove(self) -> None:
        """Kill everything of this host and delete its user and home (``userdel -r``)."""
        self.kill()
        remove_user(self.user)

    # -- internals -----------------------------------------------------------

    def _config(self, key_file: Path) -> str:
        return f"""\
ListenAddress {self.address}:{self.port}
AddressFamily inet
HostKey {key_file}
PidFile {self.root / "sshd.pid"}
UsePAM no
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers {self.user}
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
MaxSessions 10
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
PrintLastLog no
Subsystem sftp internal-sftp
LogLevel VERBOSE
"""

    def _wait_ready(self) -> bool:
        """Wait until ``sshd`` greets with its SSH banner (True) or has exited (False)."""
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection((self.address, self.port), timeout=2) as probe:
                if probe.recv(64).startswith(b"SSH-2.0-"):
                    return True
            time.sleep(0.05)
        self.kill()
        raise HostSetupError(f"sshd on {self.address}:{self.port} did not answer within {PATIENCE:.0f}s: {self._log_tail()}")

    def _tree(self) -> list[psutil.Process]:
        """The listening ``sshd``, its connections' processes, and every process of the user."""
        tree = []
        if self.running:
            with contextlib.suppress(psutil.Error):
                listener = psutil.Process(self._process.pid)
                tree = [listener, *listener.children(recursive=True)]
        return tree + [p for p in self.processes() if p.pid not in {t.pid for t in tree}]

    def _gone(self, victims: list[psutil.Process]) -> bool:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            alive = [p for p in victims if _alive(p)] + self.processes()
            if not alive:
                return True
            time.sleep(0.05)
        return False

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-3:]) or "empty log"


def open_hosts(addresses: Iterable[str], root: Path, sshd: Path, client_key: Path) -> list[SshHost]:
    """Create one :class:`SshHost` per address (users ``agilab-h<last octet>-<random>``), all admitting ``client_key``.

    On a failure the hosts already made are removed before the error propagates.
    """
    hosts: list[SshHost] = []
    try:
        for address in addresses:
            user = f"{USER_PREFIX}{address.rsplit('.', 1)[-1]}-{secrets.token_hex(4)}"
            host = SshHost(
                address=address, user=user, home=Path("/home", user), root=root / user, sshd=sshd, client_key=client_key
            )
            hosts.append(host)
            host.create([client_key])
    except BaseException:
        close_hosts(hosts)
        raise
    return hosts


def close_hosts(hosts: Iterable[SshHost]) -> None:
    """Remove every host, even when removing one fails; the first failure is raised at the end."""
    failure: BaseException | None = None
    for host in hosts:
        try:
            host.remove()
        except BaseException as exc:  # noqa: BLE001 - the others must still go
            failure = failure or exc
    if failure is not None:
        raise failure


def remove_user(user: str) -> None:
    """Delete ``user`` and its home; a user already gone is fine."""
    with contextlib.suppress(KeyError):
        pwd.getpwnam(user)
        done = _user_database(["userdel", "--remove", "--force", user])
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            raise HostSetupError(f"userdel {user} failed: {done.stderr.strip()}")


def sweep_stale_hosts() -> list[str]:
    """Remove the hosts of test processes that died without their teardown; return the users removed.

    Only users marked by :data:`USER_MARK` whose test process is gone: hosts of
    test runs still going on this machine are left alone.
    """
    removed = []
    for account in pwd.getpwall():
        mark = _MARK_PATTERN.fullmatch(account.pw_gecos)
        if not account.pw_name.startswith(USER_PREFIX) or not mark or _pid_alive(int(mark.group(1))):
            continue
        for process in psutil.process_iter(["name", "cmdline"]):
            with contextlib.suppress(psutil.Error, TypeError):
                if process.info["name"] == "sshd" and any(account.pw_name in part for part in process.info["cmdline"]):
                    process.kill()  # the listener: its command line names its config, in a folder named after the user
        kill_user_processes(account.pw_name)
        remove_user(account.pw_name)
        removed.append(account.pw_name)
    return removed


def kill_user_processes(user: str) -> None:
    """SIGKILL every process of ``user`` (``pkill -KILL -u``, without needing procps on the machine)."""
    for process in psutil.process_iter(["username"]):
        if process.info["username"] == user:
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGKILL)


def describe(processes: Iterable[psutil.Process]) -> list[str]:
    """``pid command line`` of each process, for failure messages."""
    lines = []
    for process in processes:
        try:
            with process.oneshot():
                lines.append(
                    f"{process.pid} ({process.status()}, parent {process.ppid()}) {' '.join(process.cmdline()) or process.name()}"
                )
        except psutil.Error:
            lines.append(f"{process.pid} (gone)")
    return lines


def wait_for_no_processes(hosts: Iterable[SshHost]) -> list[psutil.Process]:
    """Give closing processes of the hosts' users up to :data:`PATIENCE` seconds to exit (machines are noisy); return those still there."""
    hosts = list(hosts)
    deadline = time.monotonic() + PATIENCE
    while True:
        left = [p for host in hosts for p in host.processes()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)  # psutil.wait_procs would wait for zombies that only their parent can reap


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        return _alive(psutil.Process(pid))
    except psutil.Error:
        return False


def _user_database(command: list[str]) -> subprocess.CompletedProcess:
    """Run ``useradd``/``userdel``, again while another one (another test run on this machine) holds the lock of ``/etc/passwd``."""
    deadline = time.monotonic() + PATIENCE
    while True:
        done = subprocess.run(command, capture_output=True, text=True, env={"PATH": _SYSTEM_PATH})
        if "cannot lock" not in done.stderr or time.monotonic() > deadline:
            return done
        time.sleep(0.1)


def _run(command: list[str], what: str) -> None:
    if shutil.which(command[0], path=_SYSTEM_PATH) is None:
        raise HostSetupError(f"{what} is missing: these tests create local users and need it (package passwd)")
    done = _user_database(command)
    if done.returncode != 0:
        raise HostSetupError(f"{what} failed (exit {done.returncode}; these tests need root): {done.stderr.strip()}")
