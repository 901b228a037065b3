"""Dask workers on a host, reached through its SSH connection alone.

Per host, one remote port forward makes the manager's scheduler reachable
on the host (``127.0.0.1:R`` there leads to the scheduler here). Per worker,
the host runs :mod:`.launcher` in the worker venv; it reports the loopback
port ``P`` its worker will listen on, the manager opens a local port forward
(``127.0.0.1:L`` here leads to ``127.0.0.1:P`` there) and answers with both
addresses: the worker connects to ``tcp://127.0.0.1:R`` and tells the
scheduler to call it back at ``tcp://127.0.0.1:L``. Nothing but the SSH
connection crosses between the machines.

Stopping a worker closes its channel's stdin: the launcher takes its process
group down. A launcher that does not exit in time has its group killed by a
``kill`` command of its own, and the channel is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any

import asyncssh
import attrs

from agilab_core import ConfigError, one_line
from agilab_executor_ssh.connection import open_session, remote_command
from agilab_executor_ssh.launcher import GRACE_SECONDS


@attrs.define(eq=False)
class RemoteWorker:
    """One Dask worker process on a host: its channel, its forward, its process group there."""

    name: str
    host: str
    process: asyncssh.SSHClientProcess[str]
    pgid: int
    forward: asyncssh.SSHListener
    contact: str

    def join(self, scheduler_port: int) -> None:
        """Tell the worker (importing Dask meanwhile) where the scheduler is on its host, and where it is reached from here."""
        self.process.stdin.write(json.dumps({"scheduler": f"tcp://127.0.0.1:{scheduler_port}", "contact": self.contact}) + "\n")

    async def stop(self, conn: asyncssh.SSHClientConnection | None) -> None:
        """End the worker and everything it started on the host (a lost connection has ended them already)."""
        with contextlib.suppress(Exception):
            self.process.stdin.write_eof()
        try:
            await asyncio.wait_for(self.process.wait_closed(), GRACE_SECONDS + 2)
        except (TimeoutError, asyncssh.Error, OSError):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.run(f"kill -KILL -- -{int(self.pgid)}"), 5)
        finally:
            self.process.close()
            self.forward.close()


def launch_command(python: str, config: dict[str, Any]) -> str:
    """The command line that starts :mod:`.launcher` with ``config``: every word quoted for the remote shell."""
    return remote_command([python, "-m", "agilab_executor_ssh.launcher", json.dumps(config)])


async def launch_worker(conn: asyncssh.SSHClientConnection, host: str, python: str, config: dict[str, Any], timeout: float) -> RemoteWorker:
    """Launch a worker on ``host``; it imports Dask and the app's worker module until :meth:`RemoteWorker.join` says where the scheduler is."""
    process = await open_session(conn, lambda: conn.create_process(launch_command(python, config), encoding="utf-8"))
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout)
        if not line.strip():
            said = await _last_words(process)
            raise ConfigError(f"host {host}: worker {config['name']} did not start: {said}")
        started = json.loads(line)
        forward = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", int(started["port"]))
    except TimeoutError:
        process.close()
        raise ConfigError(f"host {host}: worker {config['name']} did not start within {timeout:g} s") from None
    except (asyncssh.Error, OSError, ValueError, KeyError) as exc:
        process.close()
        raise ConfigError(f"host {host}: worker {config['name']} did not start: {one_line(exc)}") from None
    except BaseException:
        process.close()
        raise
    return RemoteWorker(config["name"], host, process, int(started["pgid"]), forward, f"tcp://127.0.0.1:{forward.get_port()}")


async def _last_words(process: asyncssh.SSHClientProcess[str]) -> str:
    try:
        text = await asyncio.wait_for(process.stderr.read(), 5)
    except (TimeoutError, asyncssh.Error):
        text = ""
    return why_it_stopped(text) if text.strip() else f"exit status {process.exit_status}"


#: A line that ends a Python traceback: the exception's type and message.
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Timeout)\b:?")


def why_it_stopped(log: str) -> str:
    """Why a worker stopped, from its log: the exception at the root of the last one, not Dask's wrapper.

    Dask ends a worker that cannot start with ``RuntimeError: Worker failed to
    start.``, raised from the actual cause (an address in use, a scheduler out
    of reach): the cause is what a user can act on.
    """
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    if not lines:
        return "no message"
    raised = [line for line in lines if _EXCEPTION.match(line)]
    if not raised:
        return lines[-1]
    last = raised[-1]
    if "failed to start" in last and len(raised) > 1:
        return f"{last.rstrip('.')}: {raised[-2]}"
    return last
