"""One SSH connection per host (asyncssh), and remote commands that reach the host exactly as written.

:func:`connect` applies the host-key policy (:mod:`.hostkeys`), honours
``~/.ssh/config`` and ssh-agent as OpenSSH does, and turns every failure into
a one-line :class:`HostConnectError` that names ``user@host:port`` and the
cause. No ``ssh``/``scp`` program is ever started.

:func:`run_remote` and :func:`remote_command` quote every argument
(``shlex.join``), so file names and values never reach the remote shell
unquoted; :func:`session_slot` bounds the sessions open at once on one
connection (``sshd`` refuses more than its ``MaxSessions``, 10 by default).
Remote login shells must be POSIX shells (sh, bash, dash, zsh, ksh).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import shlex
import socket
import stat
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, TypeVar

import asyncssh
import attrs

from agilab_core import AgilabError, ConfigError, UsageError, in_range, one_line
from agilab_executor_ssh.hostkeys import (
    GLOBAL_KNOWN_HOSTS,
    POLICIES,
    STRICT,
    HostKeyCheck,
    fingerprint,
    pinned_hosts_path,
)

#: Sessions (commands, SFTP, forwarded channels) open at once per connection; OpenSSH's default ``MaxSessions`` is 10.
MAX_SESSIONS = 8
#: Keepalives that may go unanswered in a row before the host counts as gone.
KEEPALIVE_COUNT_MAX = 3
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Seconds between attempts to open a session that sshd refused for a moment (see :func:`open_session`).
_REOPEN_DELAYS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8)
T = TypeVar("T")


# -- errors ------------------------------------------------------------------


class HostConnectError(UsageError):
    """A host that cannot be reached or logged into; the message names ``user@host:port`` and the cause."""

    def __init__(self, destination: str, cause: str) -> None:
        super().__init__(f"{destination}: {cause}")
        self.destination = destination
        self.cause = cause

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.destination, self.cause)


class HostKeyRefused(HostConnectError, ConfigError):
    """The host's key is unknown (``strict``) or differs from the trusted one (any policy)."""


class AuthRefused(HostConnectError, ConfigError):
    """The host accepted none of the client keys offered."""


class HostUnreachable(HostConnectError):
    """No SSH server answered: refused, timed out, unreachable, or a host name that does not resolve."""


class RemoteCommandFailed(AgilabError):
    """A command run on a host exited non-zero or did not finish in time."""

    def __init__(
        self, destination: str, argv: Sequence[str], cause: str, exit_status: int | None = None, stderr: str = ""
    ) -> None:
        super().__init__(f"{destination}: {Path(str(argv[0])).name if argv else 'command'} {cause}")
        self.destination = destination
        self.argv = list(argv)
        self.cause = cause
        self.exit_status = exit_status
        self.stderr = stderr

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.destination, self.argv, self.cause, self.exit_status, self.stderr)


# -- options -----------------------------------------------------------------


def _one_of(choices: Sequence[str]):
    def check(_: Any, attribute: attrs.Attribute, value: str) -> None:
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(choices)}, got {value!r}")

    return check


def _paths(value: Iterable[str | PurePath] | str | PurePath) -> tuple[Path, ...]:
    if isinstance(value, str | PurePath):
        value = [value]
    return tuple(Path(v).expanduser() for v in value)


def _optional_path(value: str | PurePath | None) -> Path | None:
    return None if value is None else Path(value).expanduser()


@attrs.frozen(kw_only=True)
class ConnectionOptions:
    """How to reach hosts. Unset fields fall back to ``~/.ssh/config``, then to OpenSSH's defaults."""

    #: Login name (default: ``[USER@]`` of the host, the config's ``User``, then the local user).
    username: str | None = None
    #: Private key files to offer (default: the config's ``IdentityFile``, ``~/.ssh/id_*``); ssh-agent keys are offered too.
    client_keys: tuple[Path, ...] = attrs.field(default=(), converter=_paths)
    #: A known-hosts file to trust instead of ``~/.ssh/known_hosts`` (``/etc/ssh/ssh_known_hosts`` and AGILab's pins are read too).
    known_hosts: Path | None = attrs.field(default=None, converter=_optional_path)
    #: ``strict`` refuses a host whose key is unknown; ``accept-new`` pins it on first contact. Both refuse a changed key.
    host_key_policy: str = attrs.field(default=STRICT, validator=_one_of(POLICIES))
    #: Seconds to reach a host, agree on keys and log in.
    connect_timeout: float = attrs.field(default=10.0, validator=in_range(0, 3600, above=True))
    #: Seconds between keepalives (0: none); three unanswered in a row drop the connection.
    keepalive: float = attrs.field(default=15.0, validator=in_range(0, 3600))


# -- connecting --------------------------------------------------------------


def destination(user: str | None, host: str, port: int | None) -> str:
    """``user@host:port`` as messages name a host (``host:port`` when the user is not known)."""
    where = f"[{host}]" if ":" in host else host
    return f"{user + '@' if user else ''}{where}:{port or 22}"


class _HostKeyClient(asyncssh.SSHClient):
    """Asks :class:`HostKeyCheck` about a host key no known-hosts file trusts."""

    def __init__(self, check: HostKeyCheck) -> None:
        self._check = check

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        return self._check.accept(host, addr, port, key)


@attrs.define
class _Link:
    destination: str
    sessions: asyncio.Semaphore


_links: weakref.WeakKeyDictionary[asyncssh.SSHClientConnection, _Link] = weakref.WeakKeyDictionary()


async def connect(
    host: str,
    port: int | None = None,
    user: str | None = None,
    options: ConnectionOptions | None = None,
    *,
    home: Path | None = None,
) -> asyncssh.SSHClientConnection:
    """Open an SSH connection to ``host`` (a name or an alias of ``~/.ssh/config``) and log in.

    ``port`` and ``user`` override the options and the config. ``home`` is the
    AGILab home whose ``ssh/known_hosts`` keeps the keys pinned by
    ``accept-new`` (default ``$AGILAB_HOME`` or ``~/.agilab``). Raises
    :class:`HostKeyRefused`, :class:`AuthRefused`, :class:`HostUnreachable`
    (all :class:`HostConnectError`), or :class:`ConfigError` for an unusable
    key or known-hosts file; close the connection with ``conn.close()``.
    """
    options = options or ConnectionOptions()
    if home is None:
        from agilab_core.env import default_home

        home = default_home()
    check = HostKeyCheck(tuple(_known_hosts_files(options, home)), options.host_key_policy, pinned_hosts_path(home))
    settings: dict[str, Any] = {
        "username": user or options.username or (),
        "known_hosts": check.known,
        "client_factory": functools.partial(_HostKeyClient, check),
        "connect_timeout": options.connect_timeout,
        "keepalive_interval": options.keepalive,
        "keepalive_count_max": KEEPALIVE_COUNT_MAX,
        "agent_forwarding": False,  # a host never gets to use the manager's keys, whatever ~/.ssh/config says
        "x11_forwarding": False,
    }
    if options.client_keys:
        settings["client_keys"] = [pair for path in options.client_keys for pair in _load_keypairs(path)]
    try:
        resolved = await asyncssh.SSHClientConnectionOptions.construct(
            host=host, port=port or (), config=_ssh_config(), **settings
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{destination(user or options.username, host, port)}: unusable SSH client settings (~/.ssh/config?): {one_line(exc)}"
        ) from None
    if resolved.config.get("Ciphers") is None:
        resolved = await asyncssh.SSHClientConnectionOptions.construct(options=resolved, encryption_algs=preferred_ciphers(resolved.encryption_algs))
    where = destination(resolved.username, host, resolved.port)
    try:
        conn = await asyncssh.connect(host, resolved.port, options=resolved)
    except BaseException as exc:
        error = _connect_error(exc, where, check, options, resolved.host)
        if error is None:
            raise
        raise error from None
    _links[conn] = _Link(where, asyncio.Semaphore(MAX_SESSIONS))
    return conn


def preferred_ciphers(default: Sequence[bytes]) -> list[str]:
    """``default`` with AES-GCM first, when ``~/.ssh/config`` names no ``Ciphers``.

    asyncssh's ChaCha20-Poly1305 builds three cipher objects in Python for
    every packet; AES-GCM is one call. On a run that brings home thousands
    of small outputs that is most of the manager's SSH cost per packet. Both
    are OpenSSH defaults; the server still chooses among what it allows.
    """
    names = [alg.decode("ascii") for alg in default]
    return sorted(names, key=lambda name: 0 if name.startswith("aes") and "-gcm@" in name else 1)


def _ssh_config() -> list[str]:
    """``~/.ssh/config`` when there is one (asyncssh reads it by default in ``connect`` only, not when options are built first)."""
    path = Path("~/.ssh/config").expanduser()
    return [str(path)] if path.is_file() else []


def _known_hosts_files(options: ConnectionOptions, home: Path) -> list[Path]:
    """The known-hosts files to trust, the user's first, as OpenSSH reads them (plus AGILab's pins)."""
    if options.known_hosts is not None and not options.known_hosts.is_file():
        raise ConfigError(f"known_hosts {options.known_hosts}: no such file")
    user_file = options.known_hosts or Path("~/.ssh/known_hosts").expanduser()
    return [user_file, GLOBAL_KNOWN_HOSTS, pinned_hosts_path(home)]


def _load_keypairs(path: Path) -> Sequence[asyncssh.SSHKeyPair]:
    """The key pair in ``path`` (and its ``-cert.pub``), refused as OpenSSH refuses it: missing, open to others.

    An encrypted key is left to ssh-agent (none when no agent runs: refused).
    """
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"client key {path}: {exc.strerror or 'cannot be read'}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"client key {path}: readable by other users (mode {stat.S_IMODE(mode):04o}); run chmod 600 {path}")
    try:
        return asyncssh.load_keypairs([str(path)])
    except OSError as exc:
        raise ConfigError(f"client key {path}: {exc.strerror or 'cannot be read'}") from None
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError) as exc:
        if "assphrase" in str(exc):
            if os.environ.get("SSH_AUTH_SOCK"):
                return []  # its key may be in the agent, which is asked anyway
            raise ConfigError(
                f"client key {path}: encrypted; load it into ssh-agent (ssh-add {path}), AGILab never asks for passphrases"
            ) from None
        raise ConfigError(f"client key {path}: not a private key in a format asyncssh reads") from None


def _connect_error(
    exc: BaseException, where: str, check: HostKeyCheck, options: ConnectionOptions, host: str
) -> HostConnectError | None:
    """The one-line error for a failed connection, or None for what is not a connection failure (Ctrl-C...)."""
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return HostKeyRefused(where, _host_key_cause(check, options))
    if isinstance(exc, asyncssh.PermissionDenied):
        offered = ", ".join(map(str, options.client_keys)) or "the keys of ~/.ssh/config and ~/.ssh/id_*"
        return AuthRefused(
            where, f"authentication refused: the host accepts none of the keys offered ({offered}, and ssh-agent's)"
        )
    if isinstance(exc, TimeoutError | asyncssh.TimeoutError):  # asyncio.TimeoutError is TimeoutError
        return HostUnreachable(
            where, f"no SSH answer within {options.connect_timeout:g}s (host down, a firewall, or not an SSH server)"
        )
    if isinstance(exc, ConnectionRefusedError):
        return HostUnreachable(where, "connection refused (nothing listens on that port)")
    if isinstance(exc, UnicodeError):  # Python's IDNA codec: an empty or over-long label ("lab..example")
        return HostUnreachable(where, f"{host!r} is not a valid host name")
    if isinstance(exc, socket.gaierror):
        return HostUnreachable(where, f"cannot resolve host name {host!r} ({exc.strerror or exc})")
    if isinstance(exc, asyncssh.ConnectionLost):
        return HostUnreachable(where, "the host closed the connection before login")
    if isinstance(exc, asyncssh.DisconnectError):
        return HostUnreachable(where, f"the host ended the connection: {one_line(exc)}")
    if isinstance(exc, OSError):
        return HostUnreachable(where, f"unreachable ({exc.strerror or one_line(exc)})")
    return None


def _host_key_cause(check: HostKeyCheck, options: ConnectionOptions) -> str:
    key = check.presented
    if key is None:
        return "host key refused (revoked, or a certificate not trusted)"
    shown = f"{fingerprint(key)} ({key.get_algorithm()})"
    if check.expected:
        trusted = ", ".join(sorted({fingerprint(k) for k in check.expected}))
        where = ", ".join(map(str, check.holders())) or "the known-hosts files"
        return (
            f"host key changed: it presents {shown}, {where} trust {trusted}; refused "
            "(a reinstalled host or an attack: ask its administrator before removing the old line)"
        )
    return (
        f"unknown host key {shown}; if its administrator confirms that fingerprint, "
        f"connect once with -o host_key_policy=accept-new to pin it in {check.pins}"
    )


# -- remote commands ---------------------------------------------------------


def link_destination(conn: asyncssh.SSHClientConnection) -> str:
    """``user@host:port`` of a connection made by :func:`connect`, for messages."""
    return _link(conn).destination


@contextlib.asynccontextmanager
async def session_slot(conn: asyncssh.SSHClientConnection) -> AsyncIterator[None]:
    """Hold one of the connection's :data:`MAX_SESSIONS` session slots while the block runs.

    Wrap every session opened on ``conn`` (``create_process``, ``start_sftp_client``,
    a forwarded channel's lifetime...), opened through :func:`open_session`, so
    that no more than ``sshd`` allows are open at once; the extra ones wait.
    Release it only once the session is closed (``close()`` then
    ``await wait_closed()``). :func:`run_remote` does all this itself.
    """
    async with _link(conn).sessions:
        yield


async def open_session(conn: asyncssh.SSHClientConnection, opener: Callable[[], Awaitable[T]]) -> T:
    """``await opener()``, a call that opens one session on ``conn`` (``create_process``, ``start_sftp_client``...).

    sshd frees a closed session only once it has read what follows on the
    connection, so a session opened right after another one closed can be
    refused although fewer than ``MaxSessions`` are open: such a refusal is
    asked again, a few times over about two seconds. Call it inside
    :func:`session_slot`.
    """
    for delay in _REOPEN_DELAYS:
        try:
            return await opener()
        except asyncssh.ChannelOpenError:
            if conn.is_closed():
                raise
        await asyncio.sleep(delay)
    return await opener()


def remote_command(
    argv: Sequence[str | PurePath], *, cwd: str | PurePath | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The shell command line that runs ``argv`` exactly as given, in ``cwd``, with ``env`` added to its environment.

    Every argument, the folder and every value is quoted (``shlex.join``), and
    the program replaces the shell (``exec``), so signals reach it and no word
    of ``argv`` is ever read as a variable assignment. Raises
    ``ValueError`` for what no command line can carry: an empty ``argv``, a NUL
    byte, an environment variable name that is not a name.
    """
    words = [str(a) for a in argv]
    if not words:
        raise ValueError("a remote command needs a program")
    env = dict(env or {})
    bad = [name for name in env if not _ENV_NAME.fullmatch(name)]
    if bad:
        raise ValueError(f"environment variable name {bad[0]!r} is not a name")
    if any("\0" in w for w in [*words, *env.values(), str(cwd or "")]):
        raise ValueError("a remote command cannot carry a NUL byte")
    steps = [f"cd -- {shlex.quote(str(cwd))}"] if cwd is not None else []
    steps += [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    return " && ".join([*steps, f"exec {shlex.join(words)}"])


async def run_remote(
    conn: asyncssh.SSHClientConnection,
    argv: Sequence[str | PurePath],
    *,
    cwd: str | PurePath | None = None,
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    check: bool = True,
    timeout: float | None = None,
    encoding: str | None = "utf-8",
) -> asyncssh.SSHCompletedProcess:
    """Run ``argv`` on the host of ``conn`` and wait for it; see :func:`remote_command` for how it is quoted.

    Output is text (``encoding``, undecodable bytes escaped) or bytes when
    ``encoding`` is None. A ``timeout`` (seconds) that passes, or with
    ``check`` a non-zero exit, raises :class:`RemoteCommandFailed` naming the
    host, the program and the last line it wrote to stderr. A program still
    running on a timeout or a cancellation is killed (SIGKILL).
    """
    command = remote_command(argv, cwd=cwd, env=env)
    where = link_destination(conn)
    async with session_slot(conn):
        process = await open_session(
            conn, lambda: conn.create_process(command, input=input, encoding=encoding, errors="surrogateescape")
        )
        try:
            done = await process.wait(check=False, timeout=timeout)
        except asyncssh.TimeoutError:
            raise RemoteCommandFailed(where, [str(a) for a in argv], f"did not finish within {timeout:g}s") from None
        finally:
            if process.exit_status is None:  # timed out or cancelled: without a terminal, closing the channel would not stop it
                with contextlib.suppress(asyncssh.Error, OSError):
                    process.kill()
            process.close()
            await process.wait_closed()  # sshd counts the session until the channel is closed on both sides
    if check and done.exit_status != 0:
        stderr = done.stderr if isinstance(done.stderr, str) else (done.stderr or b"").decode(errors="replace")
        last = stderr.strip().splitlines()[-1:] or ["no error output"]
        status = f"exited with {done.exit_status}" if done.exit_signal is None else f"was killed by {done.exit_signal[0]}"
        raise RemoteCommandFailed(where, [str(a) for a in argv], f"{status}: {last[0]}", done.exit_status, stderr)
    return done


def _link(conn: asyncssh.SSHClientConnection) -> _Link:
    try:
        return _links[conn]
    except (KeyError, TypeError):  # TypeError: not even weakly referable
        raise TypeError("this connection was not opened by agilab_executor_ssh.connection.connect") from None
