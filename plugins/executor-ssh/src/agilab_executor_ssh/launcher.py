"""On a host: one Dask worker process that lives exactly as long as the SSH channel that started it.

The manager runs ``VENV/bin/python -m agilab_executor_ssh.launcher CONFIG``
through its SSH connection, without a terminal. The launcher makes its
process group, reserves a loopback port for the worker (:func:`reserve_port`), starts the worker
process (which imports Dask and the app's worker module at once), prints
``{"port", "pid", "pgid"}`` on stdout, then reads one line from stdin: the
scheduler's address as this host reaches it (a remote port forward) and the
address the scheduler reaches the worker at (a local port forward on the
manager). The worker serves from then on.

When stdin reaches end-of-file (the manager closed the channel, or its
connection dropped because it was killed or the network went) the launcher
terminates its whole process group, the worker and anything the app started,
then kills what is left. No terminal means no SIGHUP: stdin is the signal.

This module runs on the host with the standard library only (the worker
process imports Dask, not the launcher).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

#: Seconds between SIGTERM and SIGKILL of the process group.
GRACE_SECONDS = 3.0

#: The worker process: ``python -c WORKER_MAIN PRELOAD SPEC``; the addresses arrive on stdin.
WORKER_MAIN = """\
import importlib, json, sys
spec = json.loads(sys.argv[2])
if sys.argv[1]:
    try:
        importlib.import_module(sys.argv[1])
    except Exception:
        pass  # the app's worker session reports it, with the run
from distributed.cli.dask_spec import main
line = sys.stdin.readline()
if line.strip():
    addresses = json.loads(line)
    spec["opts"]["contact_address"] = addresses["contact"]
    main([addresses["scheduler"], "--spec", json.dumps(spec)])
"""

#: Variables through which :class:`~agilab_executor_ssh.remote_task.HostTask` finds its host's folders.
HOST_VARIABLE = "AGILAB_SSH_HOST"
OUTPUT_VARIABLE = "AGILAB_SSH_OUTPUT_DIR"
DATA_VARIABLE = "AGILAB_SSH_DATA_DIR"
BUNDLE_VARIABLE = "AGILAB_SSH_BUNDLE_DIR"
CACHE_VARIABLE = "AGILAB_SSH_CACHE_DIR"
INDEX_VARIABLE = "AGILAB_SSH_INPUT_INDEX"


#: Whether the worker can bind its port while the launcher still holds it (Linux's ``SO_REUSEADDR``).
HELD_THROUGH_BIND = sys.platform.startswith("linux")


def reserve_port() -> socket.socket:
    """A loopback port held for the worker.

    The worker listens on it only once it has imported Dask and been told the
    addresses, seconds later. Meanwhile the port stays bound here, with
    ``SO_REUSEADDR`` and without listening: the kernel gives it to no other
    ``bind(0)`` or outgoing connection on the host. On Linux the worker, which
    binds with ``SO_REUSEADDR`` as Tornado does, can bind it while it is held
    (:data:`HELD_THROUGH_BIND`); elsewhere an exact duplicate binding is
    refused, so the launcher lets the port go just before the worker binds.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def worker_environment(config: dict) -> dict[str, str]:
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in config.get("env", {}).items()})
    env[HOST_VARIABLE] = config["host"]
    env[OUTPUT_VARIABLE] = config["output_dir"]
    if config.get("data_dir"):
        env[DATA_VARIABLE] = config["data_dir"]
    for key, variable in (("bundle_dir", BUNDLE_VARIABLE), ("cache_dir", CACHE_VARIABLE), ("input_index", INDEX_VARIABLE)):
        if config.get(key):
            env[variable] = config[key]
    env.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    return env


def start_worker(config: dict, port: int) -> subprocess.Popen[bytes]:
    spec = {
        "cls": "distributed.Worker",
        "opts": {
            "name": config["name"], "nthreads": 1, "memory_limit": 0, "dashboard": False,
            "death_timeout": config.get("death_timeout", 60), "host": "127.0.0.1", "port": port,
        },
    }
    os.makedirs(os.path.dirname(config["log"]), exist_ok=True)
    with open(config["log"], "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER_MAIN, config.get("preload", ""), json.dumps(spec)],
            env=worker_environment(config), stdin=subprocess.PIPE, stdout=log, stderr=log,
        )


def stop_group(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL to what is left after :data:`GRACE_SECONDS` (this process included).

    The launcher ignores SIGTERM from the moment its worker started (:func:`main`):
    here, in the thread that watches stdin, it could not change a signal's handling.
    """
    group = os.getpgrp()
    try:
        os.killpg(group, signal.SIGTERM)
    except OSError:
        pass
    deadline = time.monotonic() + GRACE_SECONDS
    while worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(group, signal.SIGKILL)


def watch_stdin(worker: subprocess.Popen[bytes]) -> None:
    """Block until stdin closes, then take the whole process group down."""
    while os.read(0, 65536):  # the raw fd, not sys.stdin: no lock held by a blocked daemon thread
        pass
    stop_group(worker)


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    if os.getpgrp() != os.getpid():
        os.setpgid(0, 0)  # a group of its own, whatever the remote shell did
    reservation = reserve_port()
    port = int(reservation.getsockname()[1])
    worker = start_worker(config, port)
    # The group's SIGTERM is for the worker and what it started: the launcher outlives it
    # to SIGKILL what is left. Set here, in the main thread (the only one that may), and
    # after the worker started (an ignored signal stays ignored in a child).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(json.dumps({"port": port, "pid": os.getpid(), "pgid": os.getpgrp()}), flush=True)
    line = sys.stdin.buffer.readline()
    if not line.strip():
        stop_group(worker)
        return 1
    assert worker.stdin is not None
    if not HELD_THROUGH_BIND:
        reservation.close()  # as late as can be: the worker binds it once it has read the addresses
    try:
        worker.stdin.write(line)
        worker.stdin.close()
    except OSError:
        pass  # it died while importing: its log says why
    threading.Thread(target=watch_stdin, args=(worker,), daemon=True).start()
    code = worker.wait()
    print(json.dumps({"exit": code}), flush=True)
    stop_group(worker)  # what the app may have left behind goes too
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
