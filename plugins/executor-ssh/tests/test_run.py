"""Install and run ``flight`` on two real SSH hosts: the same outputs as ``pool``, brought home and verified."""

from __future__ import annotations

from pathlib import Path

import pytest

from .lab import flights, frame, hashes, known_hosts, manifest, options_for, workers_of  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("no_host_processes_left")


def test_flight_on_two_hosts_gives_the_outputs_of_pool(agi, ssh_hosts, known_hosts, flights):  # noqa: F811
    options = options_for(ssh_hosts, known_hosts)
    lines: list[str] = []
    package = agi.install("flight", executor="ssh", workers=workers_of(ssh_hosts), executor_options=options, report=lines.append)
    assert package.kind == "venv"
    for host in ssh_hosts:
        assert any(f"{host.user}@{host.address}" in line and "Python 3.11" in line for line in lines), lines

    pool = agi.run("flight", executor="pool", workers=2, args={"data_in": str(flights)})
    ssh = agi.run("flight", executor="ssh", workers=workers_of(ssh_hosts), executor_options=options, args={"data_in": str(flights)}, report=lines.append)
    assert ssh.status == "ok", ssh.error
    assert ssh.items == pool.items == {"total": 12, "ok": 12, "failed": 0}
    assert frame(ssh.outputs).equals(frame(pool.outputs))  # same rows, same distances, bit for bit
    assert ssh.summary == pool.summary
    assert hashes(ssh.outputs) == hashes(pool.outputs)

    record = manifest(ssh)
    ran_on = {r["host"] for r in record["results"]}
    assert ran_on == {f"{h.user}@{h.address}" for h in ssh_hosts}  # both hosts ran items, and each result says which
    info = record["executor"]["info"]
    for host in ssh_hosts:
        facts = info["hosts"][f"{host.user}@{host.address}"]
        assert facts["python"].startswith("3.11") and facts["remote_dir"] == str(host.remote_dir)
        assert set(facts["seconds"]) == {"connect", "install", "upload", "run", "download"}
        assert facts["seconds"]["run"] > 0 and facts["traffic"]["received_files"] > 0
        assert not (Path(facts["remote_dir"]) / "runs" / ssh.run_id).exists()  # the run's files on the host are gone
