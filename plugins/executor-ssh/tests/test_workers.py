"""Why a worker stopped, read from the log a real Dask worker writes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from agilab_executor_ssh.workers import why_it_stopped
from hypothesis import given
from hypothesis import strategies as st


def test_a_worker_that_cannot_start_is_explained_by_its_cause_not_by_dasks_wrapper() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        spec = {"cls": "distributed.Worker", "opts": {"nthreads": 1, "dashboard": False, "death_timeout": 5, "host": "127.0.0.1", "port": taken.getsockname()[1]}}
        code = f"from distributed.cli.dask_spec import main; main(['tcp://127.0.0.1:1', '--spec', {json.dumps(spec)!r}])"
        log = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stderr
    assert "RuntimeError: Worker failed to start." in log.splitlines()[-1]
    assert why_it_stopped(log) == "RuntimeError: Worker failed to start: OSError: [Errno 98] Address already in use"


def test_a_log_without_a_traceback_gives_its_last_line() -> None:
    assert why_it_stopped("") == "no message"
    assert why_it_stopped("starting\n  killed by the OOM killer  \n\n") == "killed by the OOM killer"
    assert why_it_stopped("Traceback (most recent call last):\n  File 'x'\nKeyError: 'name'\nlater noise\n") == "KeyError: 'name'"


@given(st.lists(st.one_of(st.text(), st.sampled_from(["Traceback (most recent call last):", "OSError: [Errno 98] x", "RuntimeError: Worker failed to start.", "  File 'a'", ""]))))
def test_the_reason_is_one_line_taken_from_the_log(lines: list[str]) -> None:
    log = "\n".join(lines)
    reason = why_it_stopped(log)
    assert reason and "\n" not in reason and "\r" not in reason
    said = [line.strip() for line in log.splitlines() if line.strip()]
    if not said:
        assert reason == "no message"
    else:
        assert reason in said or any(reason.endswith(": " + line) for line in said)
