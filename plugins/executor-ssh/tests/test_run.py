"""Install and run ``flight`` on two real SSH hosts: the same outputs as ``pool``, brought home and verified."""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from agilab_app_flight.sample import generate
from agilab_executor_ssh.workers import launch_command
from hypothesis import assume, given
from hypothesis import strategies as st

from agilab_core import sha256_file

from .lab import cli_options, flights, frame, hashes, known_hosts, manifest, options_for, workers_of  # noqa: F401 - fixtures

AGILAB = str(Path(sys.executable).with_name("agilab"))


def test_flight_on_two_hosts_gives_the_outputs_of_pool(agi, no_host_processes_left, ssh_hosts, known_hosts, flights):  # noqa: F811
    options = options_for(ssh_hosts, known_hosts)
    lines: list[str] = []
    package = agi.install("flight", executor="ssh", workers=workers_of(ssh_hosts), executor_options=options, report=lines.append)
    assert package.kind == "venv"
    for host in ssh_hosts:
        assert any(f"{host.user}@{host.address}" in line and "Python 3.11" in line for line in lines), lines

    venvs = {h.user: sorted(Path(h.remote_dir, "wenv").iterdir()) for h in ssh_hosts}
    stamps = {v: v.stat().st_mtime_ns for vs in venvs.values() for v in vs}
    again: list[str] = []
    agi.install("flight", executor="ssh", workers=workers_of(ssh_hosts), executor_options=options, report=again.append)
    current = [line for line in again if "worker venv current" in line]
    assert len(current) == 2 and all("0 sent" in line for line in current), again  # nothing uploaded, nothing rebuilt
    assert {v: v.stat().st_mtime_ns for vs in venvs.values() for v in vs} == stamps
    assert {h.user: sorted(Path(h.remote_dir, "wenv").iterdir()) for h in ssh_hosts} == venvs

    pool = agi.run("flight", executor="pool", workers=2, args={"data_in": str(flights)})
    ssh = agi.run("flight", executor="ssh", workers=workers_of(ssh_hosts), executor_options=options, args={"data_in": str(flights)}, report=lines.append)
    assert ssh.status == "ok", ssh.error
    assert [t.name for t in threading.enumerate() if t.name.startswith("agilab-ssh")] == []  # the connections' loop is gone
    assert ssh.items == pool.items == {"total": 12, "ok": 12, "failed": 0}
    assert frame(ssh.outputs).equals(frame(pool.outputs))  # same rows, same distances, bit for bit
    assert ssh.summary == pool.summary
    assert hashes(ssh.outputs) == hashes(pool.outputs)

    record = manifest(ssh)
    ran_on = {r["host"] for r in record["results"]}
    assert ran_on == {f"{h.user}@{h.address}" for h in ssh_hosts}  # both hosts ran items, and each result says which
    info = record["executor"]["info"]
    traffic = [info["hosts"][f"{h.user}@{h.address}"]["traffic"] for h in ssh_hosts]
    assert sum(t["received_files"] for t in traffic) == sum(len(r["outputs"]) for r in record["results"])
    if info["batches"] < ssh.items["total"]:  # some batch held two items or more: their outputs came in a bundle
        assert sum(t["received_bundles"] for t in traffic) > 0
    for host in ssh_hosts:
        facts = info["hosts"][f"{host.user}@{host.address}"]
        assert facts["python"].startswith("3.11") and facts["remote_dir"] == str(host.remote_dir)
        assert set(facts["seconds"]) == {"connect", "install", "upload", "run", "download"}
        assert facts["seconds"]["run"] > 0 and facts["traffic"]["received_files"] > 0
        assert not (Path(facts["remote_dir"]) / "runs" / ssh.run_id).exists()  # the run's files on the host are gone


def test_agilab_run_json_on_two_hosts_gives_the_outputs_of_pool(no_host_processes_left, ssh_hosts, known_hosts, flights, tmp_path, agilab_wenv):  # noqa: F811
    """The command a user types: ``agilab run flight -e ssh -w USER@HOST:PORT=1,... -o ... --json``, one JSON object
    on stdout, its outputs those of ``agilab run flight -e pool -w 2 --json``."""
    env = {**os.environ, "AGILAB_HOME": str(tmp_path / "home"), "AGILAB_WENV": str(agilab_wenv)}
    common = ["--set", f"data_in={flights}", "--json"]
    ssh_words = ["-e", "ssh", "-w", workers_of(ssh_hosts), *cli_options(options_for(ssh_hosts, known_hosts))]
    done = {
        name: subprocess.run([AGILAB, "run", "flight", *words, *common], capture_output=True, text=True, env=env, timeout=600)
        for name, words in (("ssh", ssh_words), ("pool", ["-e", "pool", "-w", "2"]))
    }
    assert done["ssh"].returncode == 0, done["ssh"].stderr
    assert done["pool"].returncode == 0, done["pool"].stderr
    ssh, pool = (json.loads(done[name].stdout) for name in ("ssh", "pool"))
    assert (ssh["executor"], ssh["status"], ssh["error"]) == ("ssh", "ok", None)
    assert ssh["items"] == pool["items"] == {"total": 12, "ok": 12, "failed": 0}
    assert ssh["summary"] == pool["summary"]
    assert hashes(Path(ssh["outputs"])) == hashes(Path(pool["outputs"]))
    assert {r["host"] for r in json.loads(Path(ssh["manifest"]).read_text())["results"]} == {f"{h.user}@{h.address}" for h in ssh_hosts}


def test_inputs_sent_with_their_batches_give_the_same_outputs(agi, no_host_processes_left, ssh_hosts, known_hosts, flights, monkeypatch):  # noqa: F811
    """Only each worker's first item has its inputs sent before the run starts; every other batch takes its own along."""
    from agilab_executor_ssh import session

    monkeypatch.setattr(session, "STAGED_AHEAD", 1)
    options = options_for(ssh_hosts, known_hosts)
    pool = agi.run("flight", executor="pool", workers=2, args={"data_in": str(flights)})
    ssh = agi.run("flight", executor="ssh", workers=workers_of(ssh_hosts), executor_options=options, args={"data_in": str(flights)})
    assert ssh.status == "ok", ssh.error
    assert ssh.items == pool.items == {"total": 12, "ok": 12, "failed": 0}
    assert hashes(ssh.outputs) == hashes(pool.outputs)
    assert {r["host"] for r in manifest(ssh)["results"]} == {f"{h.user}@{h.address}" for h in ssh_hosts}


def test_a_later_run_reads_only_the_inputs_that_changed(agi, no_host_processes_left, ssh_hosts, known_hosts, flights, tmp_path, monkeypatch):  # noqa: F811
    """Input hashes are remembered between runs; an input rewritten with its old size and modification time is read
    again, sent again, and its item's outputs are those of its new content (pool's on the same files)."""
    from agilab_executor_ssh import sums

    monkeypatch.setattr(sums, "SETTLED_SECONDS", 0.0)  # the files were written a moment ago
    data = tmp_path / "flights"
    shutil.copytree(flights, data)
    options = options_for(ssh_hosts, known_hosts)
    run = functools.partial(agi.run, "flight", executor="ssh", workers=workers_of(ssh_hosts), executor_options=options, args={"data_in": str(data)})
    first, second = run(), run()
    assert first.status == second.status == "ok"
    assert manifest(first)["executor"]["info"]["inputs_hashed"] == 12 and manifest(second)["executor"]["info"]["inputs_hashed"] == 0

    target = sorted(data.glob("*.csv"))[0]
    before, lines = target.stat(), target.read_bytes().splitlines(keepends=True)
    moved = lines[2].replace(b",-4", b",-3", 1)  # one point ten degrees away: another distance, the same size
    assert moved != lines[2] and len(moved) == len(lines[2])
    target.write_bytes(b"".join([*lines[:2], moved, *lines[3:]]))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    third = run()
    pool = agi.run("flight", executor="pool", workers=2, args={"data_in": str(data)})
    assert third.status == "ok" and manifest(third)["executor"]["info"]["inputs_hashed"] == 1
    assert hashes(third.outputs) == hashes(pool.outputs) != hashes(first.outputs)
    new_content = sha256_file(target)
    assert any((Path(h.remote_dir) / "cache" / new_content).is_file() for h in ssh_hosts)  # sent: the hosts had only the old
    sent = sum(h["traffic"]["sent_files"] for h in manifest(third)["executor"]["info"]["hosts"].values())
    assert 1 <= sent < 12  # the new content, and maybe inputs of a batch an idle worker took from the other host


def test_a_hosts_cache_and_venvs_removed_between_runs_are_sent_and_built_again(agi, no_host_processes_left, ssh_hosts, known_hosts, flights):  # noqa: F811
    """Freeing a host's disk as documented (its cache and worker venvs removed while nothing runs there): the next
    install sends that host its wheels and builds its venv again, the other host's venv stays current, and the run
    sends the inputs the emptied cache lacks and gives pool's outputs."""
    options = options_for(ssh_hosts, known_hosts)
    workers = workers_of(ssh_hosts)
    agi.install("flight", executor="ssh", workers=workers, executor_options=options)
    emptied, kept = ssh_hosts
    shutil.rmtree(Path(emptied.remote_dir, "cache"))
    shutil.rmtree(Path(emptied.remote_dir, "wenv"))
    shutil.rmtree(Path(kept.remote_dir, "cache"))  # its venv's wheels are hard links: the venv does not need the cache

    lines: list[str] = []
    agi.install("flight", executor="ssh", workers=workers, executor_options=options, report=lines.append)
    said = {host: next(line for line in lines if f"ssh {host.user}@{host.address}:" in line and "worker venv" in line) for host in ssh_hosts}
    assert "worker venv built" in said[emptied] and " 0 sent" not in said[emptied], said
    assert "worker venv current" in said[kept] and " 0 sent" in said[kept], said

    ssh = agi.run("flight", executor="ssh", workers=workers, executor_options=options, args={"data_in": str(flights)})
    pool = agi.run("flight", executor="pool", workers=2, args={"data_in": str(flights)})
    assert ssh.status == "ok", ssh.error
    assert hashes(ssh.outputs) == hashes(pool.outputs)
    traffic = {name: facts["traffic"]["sent_files"] for name, facts in manifest(ssh)["executor"]["info"]["hosts"].items()}
    assert all(sent > 0 for sent in traffic.values()), traffic  # both caches were emptied: each host got its items' inputs


@pytest.mark.parametrize("found", [True, False], ids=["bundles", "bundles-not-found"])
def test_batches_outputs_come_in_bundles_or_one_by_one(agi, no_host_processes_left, ssh_hosts, known_hosts, flights, monkeypatch, found):  # noqa: F811
    """Batches of 4 items: their outputs come in bundles; when the manager looks for every bundle under
    another name than the hosts wrote, all outputs come on their own, and the run gives pool's outputs either way."""
    from agilab_executor_ssh import bundle

    if not found:
        layout = bundle.layout
        monkeypatch.setattr(bundle, "layout", lambda results: None if (planned := layout(results)) is None else ("0" * 32, planned[1]))
    options = options_for(ssh_hosts, known_hosts, batch_size=4)
    pool = agi.run("flight", executor="pool", workers=2, args={"data_in": str(flights)})
    ssh = agi.run("flight", executor="ssh", workers=workers_of(ssh_hosts), executor_options=options, args={"data_in": str(flights)})
    assert ssh.status == "ok", ssh.error
    assert hashes(ssh.outputs) == hashes(pool.outputs)
    record = manifest(ssh)
    traffic = [h["traffic"] for h in record["executor"]["info"]["hosts"].values()]
    assert (sum(t["received_bundles"] for t in traffic) > 0) is found
    assert sum(t["received_files"] for t in traffic) == sum(len(r["outputs"]) for r in record["results"])


def test_compiled_workers_run_on_the_hosts_and_say_so(agi, no_host_processes_left, ssh_hosts, known_hosts, flights):  # noqa: F811
    # The worker wheel is compiled here, by the manager's Python, and installed into
    # each host's venv of its own interpreter (/usr/bin/python3).
    options = options_for(ssh_hosts, known_hosts)
    pool = agi.run("flight", executor="pool", workers=2, args={"data_in": str(flights)})
    ssh = agi.run("flight", executor="ssh", workers=workers_of(ssh_hosts), executor_options=options, args={"data_in": str(flights)}, cython=True)
    assert ssh.status == "ok", ssh.error
    results = manifest(ssh)["results"]
    assert {r["runtime"] for r in results} == {"cython"}
    assert {r["host"] for r in results} == {f"{h.user}@{h.address}" for h in ssh_hosts}
    compiled, plain = frame(ssh.outputs), frame(pool.outputs)
    assert compiled.drop("distance_m", "speed_mps").equals(plain.drop("distance_m", "speed_mps"))
    assert (compiled["distance_m"] - plain["distance_m"]).abs().max() < 1e-6  # the compiled kernel, not polars: not bit for bit


def test_hostile_file_names_reach_the_hosts_and_come_back_as_they_are(agi, no_host_processes_left, ssh_hosts, known_hosts, tmp_path):  # noqa: F811
    folder = tmp_path / "data $(touch pwned); 'x'"
    generate(folder, files=3, rows=200, seed=5, min_rows=100, max_rows=300)
    hostile = ["a b'c;$(touch pwned).csv", 'q"uote`id`;rm -rf ~.csv', "new\nline $HOME.csv"]
    for path, name in zip(sorted(folder.glob("*.csv")), hostile, strict=True):
        path.rename(folder / name)
    options = options_for(ssh_hosts, known_hosts)
    ssh = agi.run("flight", executor="ssh", workers=workers_of(ssh_hosts), executor_options=options, args={"data_in": str(folder)})
    pool = agi.run("flight", executor="pool", workers=2, args={"data_in": str(folder)})
    assert ssh.status == "ok", [(r.item_id, r.error) for r in ssh.failed()]
    assert sorted(r.item_id for r in ssh.results) == sorted(r.item_id for r in pool.results)
    assert frame(ssh.outputs).equals(frame(pool.outputs))
    assert hashes(ssh.outputs) == hashes(pool.outputs)
    for host in ssh_hosts:
        assert not list(host.home.rglob("pwned")) and (host.home / ".ssh").is_dir()  # no name was ever run by a shell


def test_agilab_plugins_lists_ssh():
    listed = subprocess.run([str(Path(sys.executable).with_name("agilab")), "plugins", "--json"], capture_output=True, text=True, check=True)
    (ssh,) = [p for p in json.loads(listed.stdout) if p["name"] == "ssh"]
    assert (ssh["kind"], ssh["distribution"], ssh["status"]) == ("executor", "agilab-executor-ssh", "loaded")


@given(st.text(min_size=1), st.dictionaries(st.sampled_from(["host", "output_dir", "data_dir", "log"]), st.text()))
def test_a_launch_command_reaches_the_host_as_one_word_per_argument(python, config):
    assume("\0" not in python and not any("\0" in v for v in config.values()))
    words = shlex.split(launch_command(python, config))
    assert words[:4] == ["exec", python, "-m", "agilab_executor_ssh.launcher"]
    assert json.loads(words[4]) == config and len(words) == 5


def test_a_shared_dir_is_read_and_written_in_place(agi, no_host_processes_left, ssh_hosts, known_hosts, tmp_path_factory):  # noqa: F811
    shared = Path(tempfile.mkdtemp(prefix="agilab-shared-", dir="/tmp"))  # what every host sees at the same path (an NFS mount)
    try:
        shared.chmod(0o777)
        data, out = shared / "flights", shared / "outputs"
        generate(data, files=4, rows=200, seed=11, min_rows=100, max_rows=300)
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        for path in [data, *data.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        options = options_for(ssh_hosts, known_hosts, shared_dir=str(shared))
        host = ssh_hosts[:1]  # one login writing the outputs (two test users could not write into each other's folders)
        ssh = agi.run("flight", executor="ssh", workers=workers_of(host, 2), executor_options=options, args={"data_in": str(data)}, out=out)
        assert ssh.status == "ok", [(r.item_id, r.error) for r in ssh.failed()]
        pool = agi.run("flight", executor="pool", workers=2, args={"data_in": str(data)})
        assert frame(ssh.outputs).equals(frame(pool.outputs))
        for facts in manifest(ssh)["executor"]["info"]["hosts"].values():
            assert facts["seconds"]["upload"] == 0.0 and facts["seconds"]["download"] == 0.0  # no input sent, no output fetched
            assert facts["traffic"]["received_files"] == 0
    finally:
        shutil.rmtree(shared, ignore_errors=True)
