"""The launcher on its own (run here as a host runs it): its worker lives exactly as long as its stdin."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: Far longer than the test waits: a worker that is gone by then was stopped by its launcher,
#: not by Dask giving up on a scheduler it never reached.
DEATH_TIMEOUT = 600


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


#: The launcher as ``python -m`` runs it, with :data:`HELD_THROUGH_BIND` as given (False: what a host other than Linux does).
LAUNCH = "import sys; from agilab_executor_ssh import launcher; launcher.HELD_THROUGH_BIND = {held}; sys.exit(launcher.main(sys.argv[1:]))"


@pytest.fixture
def launcher(tmp_path: Path, request: pytest.FixtureRequest):
    held = getattr(request, "param", True)
    config = {
        "name": "w-test", "host": "here", "output_dir": str(tmp_path / "out"), "data_dir": None,
        "log": str(tmp_path / "logs" / "worker.log"), "preload": "", "death_timeout": DEATH_TIMEOUT, "env": {},
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH.format(held=held), json.dumps(config)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    started = json.loads(proc.stdout.readline())
    yield proc, started
    if _group_alive(started["pgid"]):
        os.killpg(started["pgid"], 9)
    proc.wait(timeout=10)


def _wait_gone(proc: subprocess.Popen[bytes], pgid: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while (proc.poll() is None or _group_alive(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_end_of_stdin_takes_the_worker_and_the_launcher_down(launcher) -> None:
    proc, started = launcher
    port = _closed_port()
    proc.stdin.write(json.dumps({"scheduler": f"tcp://127.0.0.1:{port}", "contact": "tcp://127.0.0.1:1"}).encode() + b"\n")
    proc.stdin.flush()
    time.sleep(1)  # the worker is up, retrying a scheduler that is not there
    assert proc.poll() is None and _group_alive(started["pgid"])
    proc.stdin.close()  # what the manager closing the channel, or its connection dropping, looks like
    _wait_gone(proc, started["pgid"])
    assert proc.poll() is not None, "the launcher outlived the end of its stdin"
    assert not _group_alive(started["pgid"]), "a process of the worker's group is left"


def test_end_of_stdin_before_the_addresses_stops_the_worker(launcher) -> None:
    proc, started = launcher
    proc.stdin.close()
    _wait_gone(proc, started["pgid"])
    assert proc.returncode == -9  # its last act: SIGKILL to its whole group, itself included
    assert not _group_alive(started["pgid"])


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("launcher", [True, False], ids=["held-through-bind", "let-go-before-bind"], indirect=True)
def test_the_workers_port_is_held_for_it_until_it_listens_there(launcher) -> None:
    """The worker binds its port seconds after it was chosen (it imports Dask first): meanwhile
    nothing else on the host may take it, and then the worker itself must be able to, whether
    the launcher holds it through the worker's bind (Linux) or lets it go just before."""
    proc, started = launcher
    port = started["port"]
    with socket.socket() as other, pytest.raises(OSError) as taken:
        other.bind(("127.0.0.1", port))
    assert taken.value.errno == errno.EADDRINUSE
    assert not _listening(port)
    proc.stdin.write(json.dumps({"scheduler": f"tcp://127.0.0.1:{_closed_port()}", "contact": "tcp://127.0.0.1:1"}).encode() + b"\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not _listening(port) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _listening(port), "the worker did not listen on the port held for it"
