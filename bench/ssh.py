"""Benchmarks of the ssh executor: flight through two SSH hosts against dask with two workers, installs, first runs.

    python bench/ssh.py [--repeat N] [--files N] [--rows N]

Two hosts are real OpenSSH servers on 127.0.0.2 and 127.0.0.3, each logging
in as a throw-away user of its own (the machinery of the executor's tests,
plugins/executor-ssh/tests/sshd.py), so it needs root and `sshd`; both are
removed at the end.

(a) flight: whole `agilab run flight` processes, `ssh` with one worker on
    each host against `dask` with 2 workers, on the same data set, interleaved
    (target <= 1.3x). Hosts are this machine: what is measured is what SSH adds
    (transfers, forwarding), not a network.
(b) install per host: the first `agilab install flight -e ssh` (wheels fetched,
    uploaded, venv built on both hosts at once) and the second (nothing to do),
    as each host's progress line reports it.
(c) first run: the first ssh run after the install sends every input; later
    runs find them in the hosts' caches. Its extra cost is first minus best warm.
    Items do not always run on the same host from one run to the next (the
    plan follows the hosts' measured capacities, idle workers take queued
    batches), so the runs after the first still send what a host lacks:
    warm-up runs go on until one sends at most 1 % of the inputs, and only
    then is (a) timed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
AGILAB = str(Path(sys.executable).with_name("agilab"))
WENV = HERE / ".data" / "wenv"
TESTS = HERE.parent / "plugins" / "executor-ssh" / "tests"
Row = tuple[str, str, float, "float | None", str]
#: Runs after the first, before timing, until one sends at most 1 % of the inputs.
WARM_UP = 6


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, str, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd[:6])} ...\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout, proc.stderr


def _hosts(root: Path) -> tuple[list, str, dict]:
    """Two test hosts, the ``--workers`` and the ``-o`` options reaching them."""
    sys.path.insert(0, str(TESTS))
    import sshd  # the executor tests' host machinery (beside its tests)

    server = shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin:/sbin")
    if os.geteuid() != 0 or not server:
        raise RuntimeError("needs root and openssh-server (sshd) to start two throw-away hosts")
    key = sshd.new_client_key(root)
    hosts = sshd.open_hosts(["127.0.0.2", "127.0.0.3"], root / "hosts", Path(server), key)
    (root / "known_hosts").write_text(sshd.known_hosts_text(hosts))
    # Both "hosts" share this machine's cores with the manager: one math thread per worker,
    # as the dask executor's two workers get, instead of each host's cores / its workers.
    options = {"client_keys": [str(key)], "known_hosts": str(root / "known_hosts"), "remote_python": "/usr/bin/python3", "threads_per_worker": 1}
    # Each host's files on the same scratch as the manager's (see scratch.py), not in its home on this disk.
    remote = root / "remote"
    remote.mkdir(mode=0o711)
    for host in hosts:
        folder = remote / host.user
        folder.mkdir(mode=0o700)
        shutil.chown(folder, host.user, host.user)
        options[f"remote_dir.{host.address}"] = str(folder)
    return hosts, ",".join(f"{h.user}@{h.address}:{h.port}=1" for h in hosts), options


def _install(workers: str, options: dict) -> tuple[float, list[float]]:
    """Install flight on the hosts (in this process); the whole time and what each host's progress line reports."""
    from agilab_core.runner import Agi

    lines: list[str] = []

    def report(line: str) -> None:
        print(f"  {line}", flush=True)
        lines.append(line)

    start = time.perf_counter()
    Agi().install("flight", executor="ssh", workers=workers, executor_options=options, report=report)
    elapsed = time.perf_counter() - start
    return elapsed, [float(m) for line in lines for m in re.findall(r"worker venv \w+ \([^)]*\) in ([0-9.]+) s", line)]


def _sent(out: str) -> int:
    """Files the run of ``out`` (its ``--json``) sent to its hosts."""
    manifest = json.loads(Path(json.loads(out)["manifest"]).read_text(encoding="utf-8"))
    return sum(h["traffic"]["sent_files"] for h in manifest["executor"]["info"]["hosts"].values())


def _steps(out: str) -> str:
    """Per host of the run of ``out``: seconds of its upload, run and download (where a slow run spent its time)."""
    manifest = json.loads(Path(json.loads(out)["manifest"]).read_text(encoding="utf-8"))
    hosts = manifest["executor"]["info"]["hosts"]
    return "; ".join(f"{name} " + ", ".join(f"{k} {v['seconds'][k]:.1f} s" for k in ("upload", "run", "download")) for name, v in hosts.items())


def bench(repeat: int, files: int, rows: int) -> list[Row]:
    from run import flight_data  # beside this file
    from scratch import make_scratch

    data, total = flight_data(files, rows, 0.33)
    root = make_scratch("agilab-bench-ssh-")
    root.chmod(0o711)  # the hosts' users reach their own remote_dir in it, and nothing else
    hosts: list = []
    saved = dict(os.environ)
    try:
        try:
            hosts, workers, options = _hosts(root)
        except RuntimeError as exc:
            print(f"ssh: not measured: {exc}", flush=True)
            return []
        (root / "home").mkdir(mode=0o700)
        os.environ.update(AGILAB_HOME=str(root / "home"), AGILAB_WENV=str(WENV))
        env = dict(os.environ)
        subprocess.run([AGILAB, "install", "flight", "-e", "dask"], capture_output=True, env=env, check=True)
        _install(workers, options)  # the manager's own worker venv and the hosts' wheels, fetched once
        for host in hosts:
            for stale in (root / "remote" / host.user).iterdir():  # cold: nothing on the hosts
                shutil.rmtree(stale)
        cold_s, cold = _install(workers, options)
        warm_s, warm = _install(workers, options)
        words = ["-w", workers, *(w for k, v in options.items() for w in ("-o", f"{k}={json.dumps(v) if isinstance(v, list) else v}"))]
        run = ["run", "flight", "--set", f"data_in={data}", "--json"]
        first, out, _ = _run([AGILAB, *run, "-e", "ssh", *words], env)
        print(f"  ssh, first run: {first:.2f} s, {_sent(out)} inputs sent; per host: {_steps(out)}", flush=True)
        for n in range(1, WARM_UP + 1):  # items move between hosts from run to run: each host gets the inputs it lacks
            elapsed, out, _ = _run([AGILAB, *run, "-e", "ssh", *words], env)
            print(f"  ssh, warm-up run {n}: {elapsed:.2f} s, {_sent(out)} inputs sent", flush=True)
            if _sent(out) <= files // 100:
                break
        times: dict[str, list[float]] = {"ssh": [], "dask": []}
        for _ in range(repeat):
            for name, extra in (("ssh", ["-e", "ssh", *words]), ("dask", ["-e", "dask", "-w", "2", "-o", "dashboard="])):
                elapsed, out, _ = _run([AGILAB, *run, *extra], env)
                assert json.loads(out)["status"] == "ok", out
                times[name].append(elapsed)
                print(f"  {name}: {elapsed:.2f} s" + (f", {_sent(out)} inputs sent" if name == "ssh" else ""), flush=True)
        best = {k: min(v) for k, v in times.items()}
        return [
            ("flight", f"`agilab run` (ssh, 2 hosts x 1) / `agilab run` (dask, 2 workers), {total:,} rows", best["ssh"] / best["dask"], 1.3,
             f"{best['ssh']:.2f} s vs {best['dask']:.2f} s"),
            ("install", "ssh, cold, per host, seconds", max(cold or [cold_s]), None,
             f"hosts {', '.join(f'{s:.1f} s' for s in cold)} at once (wheels already on the manager); the whole install {cold_s:.1f} s"),
            ("install", "ssh, warm, per host, seconds", max(warm or [warm_s]), None,
             f"hosts {', '.join(f'{s:.2f} s' for s in warm)}; the whole install {warm_s:.2f} s"),
            ("first run", "ssh, first run minus a warm run (every input sent), seconds", first - best["ssh"], None,
             f"{first:.2f} s vs {best['ssh']:.2f} s"),
        ]  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(saved)  # the benches after this one use their own homes
        if hosts:
            import sshd

            sshd.close_hosts(hosts)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=1600, help="mean rows per file")
    opts = parser.parse_args()
    from run import print_table

    print_table(bench(opts.repeat, opts.files, opts.rows), opts.repeat)


if __name__ == "__main__":
    main()
