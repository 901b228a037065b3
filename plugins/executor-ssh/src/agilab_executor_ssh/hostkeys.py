"""Which host keys are trusted, and pinning a new host's key on first contact (``accept-new``).

Trusted keys come from the user's known-hosts files (read only: AGILab never
edits ``~/.ssh``) and from AGILab's own file, ``<home>/ssh/known_hosts``, the
only file ``accept-new`` writes to. A key that differs from a trusted one for
the same host is refused under every policy: that is what a man in the middle
looks like, and also a reinstalled host, which only its administrator can tell.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from pathlib import Path

import asyncssh
import attrs

from agilab_core import ConfigError, atomic_path

STRICT = "strict"
ACCEPT_NEW = "accept-new"
#: ``host_key_policy`` values: ``strict`` refuses unknown keys, ``accept-new`` pins them; both refuse changed keys.
POLICIES = (STRICT, ACCEPT_NEW)
DEFAULT_PORT = 22
#: Known-hosts files OpenSSH reads besides the user's own.
GLOBAL_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")


def pinned_hosts_path(home: Path) -> Path:
    """AGILab's own known-hosts file under the AGILab home ``home``: where ``accept-new`` pins keys."""
    return home / "ssh" / "known_hosts"


def host_pattern(host: str, port: int) -> str:
    """How a known-hosts line names ``host:port`` (``host``, or ``[host]:port`` off port 22)."""
    return host if port == DEFAULT_PORT else f"[{host}]:{port}"


def fingerprint(key: asyncssh.SSHKey) -> str:
    """``SHA256:...`` of a public key, as ``ssh`` and ``ssh-keygen -l`` show it."""
    return key.get_fingerprint("sha256")


def known_hosts_line(host: str, port: int, key: asyncssh.SSHKey) -> str:
    """The known-hosts line trusting ``key`` for ``host:port`` (no comment, no newline)."""
    algorithm, blob = key.export_public_key().decode().split()[:2]
    return f"{host_pattern(host, port)} {algorithm} {blob}"


def read_known_hosts(files: Iterable[Path]) -> asyncssh.SSHKnownHosts:
    """The trusted keys of every file in ``files`` that exists, as one set of known-hosts patterns.

    A file that exists but cannot be read or parsed is a :class:`ConfigError` naming it.
    """
    texts = []
    for path in files:
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"known-hosts file {path}: cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})"
            ) from None
        try:
            asyncssh.import_known_hosts(text)
        except (ValueError, asyncssh.KeyImportError) as exc:
            raise ConfigError(f"known-hosts file {path}: not in OpenSSH known_hosts format ({_first_line(exc)})") from None
        texts.append(text if text.endswith("\n") or not text else text + "\n")
    return asyncssh.import_known_hosts("".join(texts))


@attrs.define
class HostKeyCheck:
    """The verdict on the key one host presents; remembers what it saw, so a refusal can say why.

    asyncssh accepts a key found in ``known`` by itself and asks
    :meth:`accept` about any other one.
    """

    files: tuple[Path, ...]
    policy: str
    pins: Path
    known: asyncssh.SSHKnownHosts = attrs.field(init=False)
    #: The key the host presented when it was not trusted outright.
    presented: asyncssh.SSHKey | None = attrs.field(default=None, init=False)
    #: Keys the known-hosts files hold for that host (non-empty: the key changed).
    expected: list[asyncssh.SSHKey] = attrs.field(factory=list, init=False)
    _seen: tuple[str, str, int | None] = attrs.field(default=("", "", None), init=False)

    def __attrs_post_init__(self) -> None:
        self.known = read_known_hosts(self.files)

    def accept(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """Whether to trust ``key``, which no known-hosts file trusts for ``host``: only a first contact under ``accept-new``."""
        self.presented = key
        self._seen = (host, addr, None if port == DEFAULT_PORT else port)
        self.expected = list(self.known.match(*self._seen)[0])
        if self.expected or self.policy != ACCEPT_NEW:
            return False
        pin(self.pins, host, port, key)
        return True

    def holders(self) -> list[Path]:
        """The known-hosts files that trust another key for the host last refused: where its old line is."""
        return [path for path in self.files if read_known_hosts([path]).match(*self._seen)[0]]


def pin(pins: Path, host: str, port: int, key: asyncssh.SSHKey) -> None:
    """Add ``key`` for ``host:port`` to the known-hosts file ``pins``, atomically and once, even with concurrent writers."""
    line = known_hosts_line(host, port, key)
    try:
        pins.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(pins.with_name(pins.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            try:
                current = pins.read_text()
            except FileNotFoundError:
                current = ""
            if line in current.splitlines():
                return
            with atomic_path(pins) as tmp:
                tmp.write_text(current + ("" if current.endswith("\n") or not current else "\n") + line + "\n")
                os.chmod(tmp, 0o644)
    except OSError as exc:
        raise ConfigError(
            f"known-hosts file {pins}: cannot pin the key of {host_pattern(host, port)} ({exc.strerror or exc})"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
