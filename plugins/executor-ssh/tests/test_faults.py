"""Faults on real SSH hosts: a host killed mid-run, Ctrl-C, a killed manager, a venv that cannot build, a missing Python.

``no_host_processes_left`` fails a test that leaves any process of a host's
user behind, and restarts a host a test killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from agilab_app_flight.sample import generate
from agilab_executor_ssh.probe import HostFacts

from agilab_core import ConfigError

from .lab import cli_options, flights, frame, known_hosts, manifest, options_for, workers_of  # noqa: F401 - fixtures
from .sshd import SshHost, wait_for_no_processes

AGILAB = str(Path(sys.executable).with_name("agilab"))


@pytest.fixture(scope="module")
def busy_flights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough flight files that a run is still going when it is signalled."""
    folder = tmp_path_factory.mktemp("busy-flights")
    generate(folder, files=120, rows=1500, seed=7, min_rows=800, max_rows=3000)
    return folder


def journal_lines(home: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in (home / "runs" / "flight").glob("*/items.jsonl"))


def remote_workers(hosts: list[SshHost]) -> list[psutil.Process]:
    return [p for h in hosts for p in h.processes() if "agilab_executor_ssh.launcher" in " ".join(p.cmdline())]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "manager-killed"])
def test_an_interrupted_or_killed_manager_leaves_no_process_on_any_host(
    sig, no_host_processes_left, known_hosts, busy_flights, flights, tmp_path, agilab_wenv  # noqa: F811
):
    hosts = no_host_processes_left
    home = tmp_path / "home"
    env = {**os.environ, "AGILAB_HOME": str(home), "AGILAB_WENV": str(agilab_wenv)}
    words = ["-e", "ssh", "-w", workers_of(hosts, 2), *cli_options(options_for(hosts, known_hosts))]
    installed = subprocess.run([AGILAB, "install", "flight", *words], capture_output=True, text=True, env=env)
    assert installed.returncode == 0, installed.stderr  # signal the run, not the venv build
    cmd = [AGILAB, "run", "flight", *words, "--set", f"data_in={busy_flights}", "--set", "output_format=csv"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline and journal_lines(home) < 3:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be signalled"
    assert len(remote_workers(hosts)) == 4  # two workers on each host, running items
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (130 if sig == signal.SIGINT else -9), err
    assert "Traceback" not in err
    (run_dir,) = (home / "runs" / "flight").iterdir()
    on_hosts = [Path(h.remote_dir) / "runs" / run_dir.name for h in hosts]
    if sig == signal.SIGINT:
        assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"
        assert not any(f.exists() for f in on_hosts) and not list((home / "ssh" / "runs").iterdir())  # its teardown removed them
    else:  # no teardown: its folders stay on the hosts until the next run of this home reaches them
        assert all(f.is_dir() for f in on_hosts) and [p.stem for p in (home / "ssh" / "runs").iterdir()] == [run_dir.name]
        assert not wait_for_no_processes(hosts)  # the launchers saw their connection drop, and took their workers down
        after = subprocess.run([*cmd[:-4], "--set", f"data_in={flights}"], capture_output=True, text=True, env=env, timeout=600)
        assert after.returncode == 0, after.stderr
        assert not any(f.exists() for f in on_hosts), "the killed run's folders are still on the hosts"
        assert not list((home / "ssh" / "runs").iterdir())
    # no_host_processes_left: every launcher, worker and what they started is gone from both hosts


def test_items_of_a_host_killed_mid_run_finish_on_the_other(agi, no_host_processes_left, known_hosts, busy_flights):  # noqa: F811
    hosts = no_host_processes_left
    victim, survivor = hosts[1], hosts[0]
    options = options_for(hosts, known_hosts)
    workers = workers_of(hosts)
    agi.install("flight", executor="ssh", workers=workers, executor_options=options)
    killed: list[str] = []

    def kill_once(result) -> None:
        if not killed and result.host == f"{survivor.user}@{survivor.address}":
            victim.kill()  # sshd, its connections and every process of its user: a dead machine
            killed.append(result.item_id)

    run = agi.run("flight", executor="ssh", workers=workers, executor_options=options, args={"data_in": str(busy_flights)}, on_result=kill_once)
    assert killed, "no item finished on the surviving host"
    assert run.status == "ok", [(r.item_id, r.error) for r in run.failed()][:3]
    assert run.items == {"total": 120, "ok": 120, "failed": 0}
    record = manifest(run)
    lost = record["executor"]["info"]["hosts"][f"{victim.user}@{victim.address}"]
    assert lost["lost"] == "connection lost"
    planned_there = {i for slot in record["plan"]["slots"] if slot["host"] == f"{victim.user}@{victim.address}" for i in slot["items"]}
    moved = [r for r in record["results"] if r["item_id"] in planned_there and r["host"] == f"{survivor.user}@{survivor.address}"]
    assert moved  # the victim's items, finished by the survivor
    pool = agi.run("flight", executor="pool", workers=2, args={"data_in": str(busy_flights)})
    assert frame(run.outputs).equals(frame(pool.outputs))


def test_a_scheduler_that_fails_to_start_leaves_no_launched_worker(agi, no_host_processes_left, known_hosts, flights, monkeypatch):  # noqa: F811
    """Workers are launched before the scheduler is up (they import Dask meanwhile): when it cannot start, the run
    fails saying why, and the launched workers, still waiting for its address, are stopped on both hosts."""
    from agilab_executor_ssh import session

    hosts = no_host_processes_left
    options = options_for(hosts, known_hosts)
    workers = workers_of(hosts)
    agi.install("flight", executor="ssh", workers=workers, executor_options=options)
    seen: list[int] = []

    def no_scheduler(self):
        deadline = time.monotonic() + 60
        while len(remote_workers(hosts)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        seen.append(len(remote_workers(hosts)))
        raise ConfigError("scheduler: no port left on this machine")

    monkeypatch.setattr(session.RunSession, "_start_scheduler", no_scheduler)
    run = agi.run("flight", executor="ssh", workers=workers, executor_options=options, args={"data_in": str(flights)})
    assert seen == [2]  # both launchers were up, waiting for the scheduler's address
    assert run.status == "failed" and "no port left" in str(run.error)
    # no_host_processes_left: both launchers and their workers are gone


def test_a_venv_that_cannot_build_on_one_host_fails_the_install_naming_it(agi, no_host_processes_left, known_hosts):  # noqa: F811
    hosts = no_host_processes_left
    broken = hosts[1]
    remote_dir = broken.home / "broken-agilab"
    remote_dir.mkdir()
    (remote_dir / "wenv").write_text("a file where the venvs' folder should be\n")
    uid = broken.home.stat().st_uid
    for path in (remote_dir, remote_dir / "wenv"):
        os.chown(path, uid, uid)
    options = options_for(hosts, known_hosts)
    options["remote_dir_options"][f"{broken.user}@{broken.address}"] = str(remote_dir)
    with pytest.raises(ConfigError) as refused:
        agi.install("flight", executor="ssh", workers=workers_of(hosts), executor_options=options)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"host {broken.user}@{broken.address}: cannot build the worker venv {remote_dir}/wenv/flight-")
    assert hosts[0].user not in message


def test_a_missing_remote_python_is_refused_naming_the_host(agi, no_host_processes_left, known_hosts):  # noqa: F811
    hosts = no_host_processes_left
    options = options_for(hosts, known_hosts, remote_python_options={f"{hosts[0].user}@{hosts[0].address}": "/opt/no/python3.13"})
    with pytest.raises(ConfigError) as refused:
        agi.install("flight", executor="ssh", workers=workers_of(hosts), executor_options=options)
    assert str(refused.value) == (
        f"host {hosts[0].user}@{hosts[0].address}: remote_python '/opt/no/python3.13' was not found there (set -o remote_python=PATH)"
    )


def probe_answer(version: tuple[int, int], implementation: str = "cpython") -> str:
    """What the probe prints on a host with that Python (the fields as :data:`~agilab_executor_ssh.probe.PROBE` writes them)."""
    return json.dumps({
        "os": "Linux", "machine": "x86_64", "platform": "linux-x86_64", "python": f"{version[0]}.{version[1]}.2",
        "version": list(version), "implementation": implementation, "executable": "/usr/bin/python3", "libc": ["glibc", "2.31"],
        "home": "/home/lab", "venv": True, "cores": 4,
    })  # fmt: skip


def test_a_python_too_old_is_refused_saying_what_was_found():
    # No Python older than 3.11 exists on this machine to log in to: the refusal is checked on the probe's answer.
    with pytest.raises(ConfigError) as refused:
        HostFacts.parse("lab@old-host", "python3", 0, probe_answer((3, 9)), "")
    assert str(refused.value) == "host lab@old-host: remote_python 'python3' is Python 3.9.2, workers need 3.11 or newer (set -o remote_python=PATH)"
    facts = HostFacts.parse("lab@new-host", "python3", 0, probe_answer((3, 12)), "")
    assert (facts.abi, facts.python_version) == ("cp312", "3.12")
    assert facts.platforms()[0] == "manylinux_2_31_x86_64" and "manylinux2014_x86_64" in facts.platforms()


def test_a_remote_python_too_old_is_refused_over_ssh_naming_the_host(agi, no_host_processes_left, known_hosts):  # noqa: F811
    # No Python older than 3.11 exists on this machine (Debian's is 3.11): a stand-in on
    # the host answers the probe, over a real SSH session, as a Python 3.9 would.
    hosts = no_host_processes_left
    old = hosts[1]
    stand_in = old.home / "python3.9"
    stand_in.write_text(f"#!/bin/sh\necho '{probe_answer((3, 9))}'\n")
    uid = old.home.stat().st_uid
    os.chown(stand_in, uid, uid)
    stand_in.chmod(0o755)
    options = options_for(hosts, known_hosts, remote_python_options={f"{old.user}@{old.address}": str(stand_in)})
    with pytest.raises(ConfigError) as refused:
        agi.install("flight", executor="ssh", workers=workers_of(hosts), executor_options=options)
    assert str(refused.value) == (
        f"host {old.user}@{old.address}: remote_python '{stand_in}' is Python 3.9.2, workers need 3.11 or newer (set -o remote_python=PATH)"
    )


def test_a_worker_killed_on_a_host_that_stays_up_is_started_again(agi, no_host_processes_left, known_hosts, busy_flights):  # noqa: F811
    hosts = no_host_processes_left
    victim, survivor = hosts[1], hosts[0]
    options = options_for(hosts, known_hosts)
    workers = workers_of(hosts)
    agi.install("flight", executor="ssh", workers=workers, executor_options=options)
    killed: list[float] = []

    def dask_workers(host: SshHost) -> list[psutil.Process]:
        return [p for p in host.processes() if "distributed.cli.dask_spec" in " ".join(p.cmdline())]

    def kill_once(result) -> None:
        if not killed and result.host == f"{survivor.user}@{survivor.address}":
            (worker,) = dask_workers(victim)
            worker.kill()  # as an item that killed its worker would: the host and its connection stay
            worker.wait(30)
            killed.append(time.time())
            deadline = time.monotonic() + 120  # the dispatch waits meanwhile: most items are still to run
            while not [p for p in dask_workers(victim) if p.pid != worker.pid and joined(p)] and time.monotonic() < deadline:
                time.sleep(0.05)

    def joined(process: psutil.Process) -> bool:
        """The worker is connected to the scheduler (through its host's forward)."""
        try:
            return any(c.status == psutil.CONN_ESTABLISHED for c in process.net_connections("tcp"))
        except psutil.Error:
            return False

    run = agi.run("flight", executor="ssh", workers=workers, executor_options=options, args={"data_in": str(busy_flights)}, on_result=kill_once)
    assert killed and run.status == "ok", [(r.item_id, r.error) for r in run.failed()][:3]
    later = [r for r in run.results if r.host == f"{victim.user}@{victim.address}" and r.started > killed[0]]
    assert later, "no item ran on the host after its worker was killed: it was not started again"
    assert manifest(run)["executor"]["info"]["hosts"][f"{victim.user}@{victim.address}"]["lost"] is None


def test_ctrl_c_during_the_venv_build_leaves_no_process_on_the_hosts(no_host_processes_left, known_hosts, tmp_path, agilab_wenv):  # noqa: F811
    hosts = no_host_processes_left
    env = {**os.environ, "AGILAB_HOME": str(tmp_path / "home"), "AGILAB_WENV": str(agilab_wenv)}
    options = options_for(hosts, known_hosts, remote_dir_options={f"{h.user}@{h.address}": str(h.home / "interrupted") for h in hosts})
    proc = subprocess.Popen([AGILAB, "install", "flight", "-e", "ssh", "-w", workers_of(hosts), *cli_options(options)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip

    def building() -> bool:
        return any("pip" in " ".join(p.cmdline()) for h in hosts for p in h.processes() if p.is_running())

    deadline = time.monotonic() + 300
    while proc.poll() is None and not building() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the install ended before its venv build could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    psutil.wait_procs([p for h in hosts for p in h.processes()], timeout=120)  # an orphaned build would finish meanwhile
    for host in hosts:
        assert not list((host.home / "interrupted" / "wenv").glob("*/agilab-env.json"))  # it went with the manager: no venv counts as built
