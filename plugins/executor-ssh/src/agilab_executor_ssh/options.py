"""``-o`` options of the ``ssh`` executor (or ``[cluster.options]`` in the app's settings).

Options that differ per host take a default and per-host overrides: ``-o
remote_python=/usr/bin/python3`` for every host, ``-o
remote_python.lab2=/opt/python3.12/bin/python3`` for host ``lab2`` (the host
as ``--workers`` names it, with or without ``USER@``). In a settings file the
overrides are a table: ``remote_python_options = {lab2 = "/opt/..."}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from agilab_core import in_range

if TYPE_CHECKING:
    from agilab_executor_ssh.connection import ConnectionOptions

#: ``host_key_policy`` values (as :mod:`.hostkeys` names them; that module imports asyncssh, which
#: every ``agilab`` command would then pay for: options are read before any connection).
STRICT = "strict"
POLICIES = (STRICT, "accept-new")

WEEK = 7 * 24 * 3600.0


def _paths_list(_: object, attribute: attrs.Attribute, value: list[str]) -> None:
    if any(len(path) <= 1 for path in value):  # a bare string, split into characters
        raise ValueError(f'{attribute.name} is a list of paths: -o \'{attribute.name}=["PATH"]\'')


def _strings(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(value or {}).items()}  # type: ignore[call-overload]


@attrs.frozen
class SshOptions:
    """How the ``ssh`` executor reaches its hosts and what it does there."""

    #: Login name for hosts given without ``USER@`` (default: ``~/.ssh/config``'s, else the local user).
    username: str | None = None
    #: Private key files to offer, a list (``-o 'client_keys=["~/.ssh/lab"]'``); default: ``~/.ssh/config``'s, ``~/.ssh/id_*``, ssh-agent's.
    client_keys: list[str] = attrs.field(factory=list, validator=_paths_list)
    #: A known-hosts file to trust instead of ``~/.ssh/known_hosts`` (AGILab's pins and the system's are read too).
    known_hosts: str | None = None
    #: ``strict`` (unknown host keys refused) or ``accept-new`` (pinned on first contact); changed keys are always refused.
    host_key_policy: str = attrs.field(default=STRICT, validator=attrs.validators.in_(POLICIES))
    #: Seconds to reach a host and log in.
    connect_timeout: float = attrs.field(default=10.0, validator=in_range(0, 3600, above=True))
    #: The Python on the hosts that worker venvs are made from.
    remote_python: str = "python3"
    #: Per-host ``remote_python`` (``-o remote_python.HOST=PATH``).
    remote_python_options: dict[str, str] = attrs.field(factory=dict, converter=_strings)
    #: Folder on the hosts for the cache, worker venvs and runs (relative: to the login's home).
    remote_dir: str = ".agilab-ssh"
    #: Per-host ``remote_dir`` (``-o remote_dir.HOST=PATH``).
    remote_dir_options: dict[str, str] = attrs.field(factory=dict, converter=_strings)
    #: A folder the manager and every host see at this same path: inputs and outputs under it are not transferred.
    shared_dir: str | None = None
    #: Seconds to wait for the workers to join, and how long a run waits once every worker is gone.
    worker_timeout: float = attrs.field(default=120.0, validator=in_range(0, WEEK, above=True))
    #: Times an item that killed its worker is sent again.
    retries: int = attrs.field(default=1, validator=in_range(0, 100))
    #: Items per batch (0: adaptive, about 0.2 s of work each).
    batch_size: int = attrs.field(default=0, validator=in_range(0, 1_000_000))
    #: Math-library threads per worker process on a host (0: the host's cores / its workers).
    threads_per_worker: int = attrs.field(default=0, validator=in_range(0, 4096))

    def connection(self) -> ConnectionOptions:
        """The options :func:`~agilab_executor_ssh.connection.connect` takes."""
        from agilab_executor_ssh.connection import ConnectionOptions

        return ConnectionOptions(
            username=self.username, client_keys=tuple(self.client_keys), known_hosts=self.known_hosts,
            host_key_policy=self.host_key_policy, connect_timeout=self.connect_timeout,
        )

    def python_for(self, host: str) -> str:
        return _per_host(self.remote_python_options, host) or self.remote_python

    def dir_for(self, host: str) -> str:
        return _per_host(self.remote_dir_options, host) or self.remote_dir


def _per_host(overrides: dict[str, str], host: str) -> str | None:
    """The override for ``host`` (``user@address``), by its full name first, then by address."""
    return overrides.get(host) or overrides.get(host.rpartition("@")[2])
