"""The `agilab` command end to end: real processes, real sample data, real plugins.

Every bad input gets a one-line error naming what is at fault, the documented
exit code, and no traceback.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import psutil
import pytest
from agilab_app_flight.sample import generate
from agilab_core.atomic import sha256_file

AGILAB = str(Path(sys.executable).with_name("agilab"))
ROOT = Path(__file__).resolve().parents[1]


def agilab(*args: str, home: Path, env: dict[str, str] | None = None, check: int | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "AGILAB_HOME": str(home), **(env or {})}
    full_env.pop("AGILAB_DISABLE_PLUGINS", None)
    proc = subprocess.run([AGILAB, *args], capture_output=True, text=True, env=full_env, timeout=300)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def flights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("flights")
    generate(folder, files=12, rows=300, seed=3, min_rows=100, max_rows=900)
    return folder


@pytest.fixture
def home(tmp_path: Path, agilab_wenv: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGILAB_WENV", str(agilab_wenv))  # worker venvs built once per session
    return tmp_path / "home"


# -- plugins ----------------------------------------------------------------------------


def test_plugins_json_lists_the_flight_app_and_every_executor(home):
    rows = json.loads(agilab("plugins", "--json", home=home, check=0).stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name["flight"]["kind"] == "app" and by_name["flight"]["distribution"] == "agilab-app-flight"
    assert by_name["local"]["kind"] == by_name["pool"]["kind"] == by_name["dask"]["kind"] == "executor"
    assert by_name["dask"]["distribution"] == "agilab-executor-dask"
    for name in ("flight", "local", "pool", "dask"):
        assert by_name[name]["status"] == "loaded" and by_name[name]["error"] is None
        assert by_name[name]["version"]


def test_disabled_plugins_are_listed_as_blocked_and_cannot_run(home, flights):
    env = {"AGILAB_DISABLE_PLUGINS": "pool"}
    full = {**os.environ, "AGILAB_HOME": str(home), **env}
    rows = json.loads(subprocess.run([AGILAB, "plugins", "--json"], capture_output=True, text=True, env=full, check=True).stdout)
    assert {r["name"]: r["status"] for r in rows}["pool"] == "blocked"
    proc = subprocess.run([AGILAB, "run", "flight", "--executor", "pool", "--set", f"data_in={flights}"], capture_output=True, text=True, env=full)
    assert proc.returncode == 2
    assert "unknown executor 'pool' (blocked)" in one_line_error(proc)


def test_a_broken_plugin_package_is_reported_and_the_others_keep_working(tmp_path, home, flights):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(ROOT / "tests/fixtures/agilab-app-broken")],
        check=True,
        capture_output=True,
    )
    env = {"PYTHONPATH": str(site)}
    rows = json.loads(agilab("plugins", "--json", home=home, env=env, check=0).stdout)
    broken = next(r for r in rows if r["name"] == "broken")
    assert broken["status"] == "failed" and broken["kind"] == "app" and broken["distribution"] == "agilab-app-broken"
    assert "agilab_dependency_that_is_not_installed" in broken["error"] and "\n" not in broken["error"]
    assert {r["name"] for r in rows if r["status"] == "loaded"} >= {"flight", "local", "pool"}
    out = json.loads(agilab("run", "flight", "--set", f"data_in={flights}", "--json", home=home, env=env, check=0).stdout)
    assert out["status"] == "ok"
    strict = agilab("plugins", home=home, env={**env, "AGILAB_STRICT_PLUGINS": "1"})
    assert strict.returncode != 0 and "agilab_dependency_that_is_not_installed" in strict.stderr


# -- run ------------------------------------------------------------------------------------


def test_run_json_reports_the_run_and_leaves_its_evidence(home, flights):
    out = json.loads(agilab("run", "flight", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    assert out["app"] == "flight" and out["executor"] == "local" and out["status"] == "ok"
    assert out["items"] == {"total": 12, "ok": 12, "failed": 0}
    assert out["seconds"] > 0
    manifest = json.loads(Path(out["manifest"]).read_text())
    assert manifest["run_id"] == out["run_id"] and manifest["status"] == "ok"
    assert Path(out["manifest"]).parent == home / "runs" / "flight" / out["run_id"]
    outputs = Path(out["outputs"])
    parts = sorted(outputs.glob("aircraft=*/*.parquet"))
    assert len(parts) == 12
    assert json.loads((outputs / "summary.json").read_text())["rows"] == manifest["summary"]["rows"]
    assert (home / "apps" / "flight" / "app_settings.toml").exists()


def test_pool_gives_the_same_rows_and_distances_as_local(home, flights):
    local = json.loads(agilab("run", "flight", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    pool = json.loads(agilab("run", "flight", "-e", "pool", "-w", "2", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    assert pool["executor"] == "pool" and pool["items"] == local["items"]

    def frame(run):
        return pl.read_parquet(Path(run["outputs"]) / "**/*.parquet").sort("aircraft", "date")

    a, b = frame(local), frame(pool)
    assert a.height == b.height == local["summary"]["rows"]
    assert a.equals(b)
    assert local["summary"]["distance_m"] == pytest.approx(pool["summary"]["distance_m"])


def test_dask_gives_the_same_rows_and_distances_as_pool(home, flights):
    pool = json.loads(agilab("run", "flight", "-e", "pool", "-w", "2", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    dask = json.loads(agilab("run", "flight", "--executor", "dask", "--workers", "2", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    assert dask["executor"] == "dask" and dask["status"] == "ok" and dask["items"] == pool["items"] == {"total": 12, "ok": 12, "failed": 0}

    def frame(run):
        return pl.read_parquet(Path(run["outputs"]) / "**/*.parquet").sort("aircraft", "date")

    a, b = frame(pool), frame(dask)
    assert a.height == b.height == pool["summary"]["rows"]
    assert a.equals(b)  # same rows, same distances, bit for bit
    assert dask["summary"] == pool["summary"]
    manifest = json.loads(Path(dask["manifest"]).read_text())
    assert manifest["executor"]["info"]["cluster"] == "embedded"
    assert {r["worker"] for r in manifest["results"]} == {"localhost/0", "localhost/1"}
    assert manifest["environment"]["kind"] == "venv"  # dask workers ran in the app's worker venv
    assert manifest["executor"]["info"]["python"] == manifest["environment"]["python"]


def test_dask_workers_run_the_compiled_kernel_with_cython(home, flights):
    out = json.loads(agilab("run", "flight", "-e", "dask", "-w", "2", "--cython", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    manifest = json.loads(Path(out["manifest"]).read_text())
    assert manifest["environment"]["runtime"] == "cython"
    assert {r["runtime"] for r in manifest["results"]} == {"cython"}  # what each dask worker loaded, item by item
    assert manifest["executor"]["info"]["python"] == manifest["environment"]["python"]


@pytest.fixture(scope="module")
def many_flights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("many-flights")
    generate(folder, files=200, rows=2000, seed=4, min_rows=1000, max_rows=4000)
    return folder


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone, or a zombie not yet reaped
        return ""


def _connected(process: psutil.Process) -> bool:
    try:
        return any(c.status == psutil.CONN_ESTABLISHED for c in process.net_connections(kind="tcp"))
    except psutil.Error:
        return False


@pytest.mark.parametrize("moment", ["launched", "connected"])  # Dask still importing; workers connected, items running
def test_ctrl_c_on_a_dask_run_closes_every_process_and_records_the_interruption(home, many_flights, moment):
    agilab("install", "flight", "-e", "dask", home=home, check=0)  # the worker venv is ready: interrupt the run, not the build
    env = {**os.environ, "AGILAB_HOME": str(home)}
    cmd = [AGILAB, "run", "flight", "-e", "dask", "-w", "2", "-o", "dashboard=", "--set", f"data_in={many_flights}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    manager = psutil.Process(proc.pid)
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            workers = [p for p in manager.children(recursive=True) if "dask_spec" in _cmdline(p)]
        except psutil.Error:  # the manager is gone: the assertion below says so
            break
        if len(workers) == 2 and (moment == "launched" or all(_connected(w) for w in workers)):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == [] and len(gone) == 2
    (run_dir,) = (home / "runs" / "flight").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["unfinished"]
    assert len(manifest["results"]) + len(manifest["unfinished"]) == 200  # every item accounted for


def test_install_cython_twice_reuses_the_venv_and_runs_report_the_cython_runtime(home, flights, tmp_path, monkeypatch):
    # A folder of its own: a worker of an earlier test still exiting cannot touch this venv between the two installs.
    monkeypatch.setenv("AGILAB_WENV", str(tmp_path / "wenv"))
    first = json.loads(agilab("install", "flight", "-e", "pool", "--cython", "--json", home=home, check=0).stdout)
    again = json.loads(agilab("install", "flight", "-e", "pool", "--cython", "--json", home=home, check=0).stdout)
    assert first["runtime"] == again["runtime"] == "cython" and first["kind"] == "venv"
    assert again["cached"] is True and again["env_hash"] == first["env_hash"] and again["venv"] == first["venv"], (first, again)
    assert again["seconds"] < first["seconds"] or first["cached"]  # the second did no work
    compiled = json.loads(agilab("run", "flight", "-e", "pool", "-w", "2", "--cython", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    plain = json.loads(agilab("run", "flight", "-e", "pool", "-w", "2", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    manifests = [json.loads(Path(r["manifest"]).read_text()) for r in (compiled, plain)]
    assert manifests[0]["environment"]["hash"] == first["env_hash"] and manifests[0]["environment"]["cached"] is True
    assert {r["runtime"] for r in manifests[0]["results"]} == {"cython"}
    assert {r["runtime"] for r in manifests[1]["results"]} == {"python"}
    assert manifests[1]["environment"]["hash"] != first["env_hash"]

    def frame(run):
        return pl.read_parquet(Path(run["outputs"]) / "**/*.parquet").sort("aircraft", "date")

    a, b = frame(compiled), frame(plain)
    assert a.drop("distance_m", "speed_mps").equals(b.drop("distance_m", "speed_mps"))
    assert a["distance_m"].is_null().to_list() == b["distance_m"].is_null().to_list()
    assert (a["distance_m"] - b["distance_m"]).abs().max() < 1e-6  # libm and polars agree to the micrometre
    assert compiled["summary"]["distance_m"] == pytest.approx(plain["summary"]["distance_m"], rel=1e-12)


def test_install_without_a_worker_venv_says_where_workers_run(home):
    out = json.loads(agilab("install", "flight", "--json", home=home, check=0).stdout)
    assert out["kind"] == "inplace" and out["python"] == sys.executable and out["venv"] is None
    proc = agilab("install", "flight", "--cython", home=home, check=2)
    assert one_line_error(proc) == (
        "error: --cython needs a worker venv, but executor local runs items in this process; use an executor such as pool or dask"
    )


def test_run_without_json_prints_a_short_summary(home, flights):
    proc = agilab("run", "flight", "--set", f"data_in={flights}", "--set", "nfile=3", home=home, check=0)
    assert "3/3 items ok" in proc.stdout
    assert "manifest:" in proc.stdout and "outputs:" in proc.stdout


def test_out_sends_outputs_elsewhere(home, flights, tmp_path):
    target = tmp_path / "elsewhere"
    out = json.loads(agilab("run", "flight", "--set", f"data_in={flights}", "--out", str(target), "--json", home=home, check=0).stdout)
    assert Path(out["outputs"]) == target.resolve()
    assert len(list(target.glob("aircraft=*/*.parquet"))) == 12


def test_two_runs_at_once_keep_separate_folders(home, flights):
    env = {**os.environ, "AGILAB_HOME": str(home)}
    cmd = [AGILAB, "run", "flight", "--set", f"data_in={flights}", "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0]["run_id"] != outs[1]["run_id"]
    for out in outs:
        assert len(list(Path(out["outputs"]).glob("aircraft=*/*.parquet"))) == 12
        assert json.loads(Path(out["manifest"]).read_text())["items"]["ok"] == 12


# -- plan, runs, show ------------------------------------------------------------------------------


def test_plan_places_every_file_once_and_runs_nothing(home, flights):
    data = json.loads(agilab("plan", "flight", "-e", "pool", "-w", "3", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    assert data["items"] == 12 and len(data["slots"]) == 3
    placed = [i for s in data["slots"] for i in s["items"]]
    assert sorted(placed) == sorted(p.name for p in flights.glob("*.csv"))
    assert not (home / "runs").exists()


def test_runs_and_show_read_the_evidence_back(home, flights):
    out = json.loads(agilab("run", "flight", "--set", f"data_in={flights}", "--set", "nfile=2", "--json", home=home, check=0).stdout)
    runs = json.loads(agilab("runs", "flight", "--json", home=home, check=0).stdout)
    assert [r["run_id"] for r in runs] == [out["run_id"]]
    assert runs[0]["status"] == "ok" and runs[0]["items"]["total"] == 2
    assert json.loads(agilab("runs", "nosuchapp", "--json", home=home, check=0).stdout) == []
    shown = json.loads(agilab("show", out["run_id"][:-2], "--json", home=home, check=0).stdout)
    assert shown["run_id"] == out["run_id"] and len(shown["results"]) == 2
    text = agilab("show", out["run_id"], home=home, check=0).stdout
    assert out["run_id"] in text and "2/2 items ok" in text
    assert "no run" in one_line_error(agilab("show", "19990101-000000-zzzzzz", home=home, check=2))


# -- bad input ------------------------------------------------------------------------------------


def test_unknown_app_lists_the_installed_ones(home):
    line = one_line_error(agilab("run", "nosuchapp", home=home, check=2))
    assert "unknown app 'nosuchapp'" in line and "flight" in line


def test_unknown_executor_lists_the_installed_ones(home, flights):
    line = one_line_error(agilab("run", "flight", "--executor", "warp", "--set", f"data_in={flights}", home=home, check=2))
    assert "unknown executor 'warp'" in line and "local" in line and "pool" in line


def test_a_bad_value_names_the_field(home, flights):
    line = one_line_error(agilab("run", "flight", "--set", "nfile=abc", "--set", f"data_in={flights}", home=home, check=2))
    assert "nfile" in line and "--set" in line
    assert not (home / "runs" / "flight").exists() or not any((home / "runs" / "flight").iterdir())


def test_an_unknown_field_lists_the_known_ones(home, flights):
    line = one_line_error(agilab("run", "flight", "--set", "nfiles=3", home=home, check=2))
    assert "nfiles" in line and "nfile" in line.split("known:")[1]


def test_a_bad_workers_spec_is_a_usage_error(home, flights):
    line = one_line_error(agilab("run", "flight", "-e", "pool", "--workers", "0", "--set", f"data_in={flights}", home=home, check=2))
    assert "--workers" in line


def test_a_broken_settings_file_names_the_file_and_line(home, flights):
    agilab("plan", "flight", "--set", f"data_in={flights}", home=home, check=0)  # seeds the settings file
    settings = home / "apps" / "flight" / "app_settings.toml"
    settings.write_text(settings.read_text() + "\nnfile = = 3\n")
    line = one_line_error(agilab("run", "flight", home=home, check=2))
    assert str(settings) in line and "line" in line


def test_missing_data_in_names_the_folder(home, tmp_path):
    missing = tmp_path / "nowhere"
    line = one_line_error(agilab("run", "flight", "--set", f"data_in={missing}", home=home, check=2))
    assert str(missing) in line and "data_in" in line


def test_an_empty_folder_is_refused_with_the_reason(home, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_line_error(agilab("run", "flight", "--set", f"data_in={empty}", home=home, check=2))
    assert "no files matching" in line and str(empty) in line


def test_a_malformed_row_fails_its_item_naming_file_and_line(home, flights, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for src in sorted(flights.glob("*.csv"))[:3]:
        (data / src.name).write_bytes(src.read_bytes())
    bad = sorted(data.glob("*.csv"))[1]
    lines = bad.read_text().splitlines()
    fields = lines[5].split(",")
    fields[3] = "not-a-number"
    lines[5] = ",".join(fields)
    bad.write_text("\n".join(lines) + "\n")
    proc = agilab("run", "flight", "--set", f"data_in={data}", "--json", home=home, check=1)
    out = json.loads(proc.stdout)
    assert out["status"] == "failed" and out["items"] == {"total": 3, "ok": 2, "failed": 1}
    (failure,) = out["failed"]
    assert failure["item"] == bad.name
    assert bad.name in failure["error"] and "line 6" in failure["error"]
    manifest = json.loads(Path(out["manifest"]).read_text())
    (result,) = [r for r in manifest["results"] if r["status"] == "failed"]
    assert "Traceback" in result["error"]["traceback"]
    assert not list(Path(out["outputs"]).glob(f"aircraft=*/{bad.stem}.*"))


def test_debug_shows_the_real_traceback_of_a_failing_item(home, flights, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "60_1.csv").write_text(",date,aircraft,lat\n0,2021-01-01 00:00:00,60,1.0\n")
    plain = agilab("run", "flight", "--set", f"data_in={data}", home=home, check=1)
    assert "Traceback" not in plain.stdout + plain.stderr
    assert "long" in plain.stdout  # the missing column is named
    debug = agilab("run", "flight", "--set", f"data_in={data}", "--debug", home=home, check=1)
    assert "Traceback" in debug.stderr and "agilab_app_flight" in debug.stderr


def test_a_value_refused_by_a_validator_is_blamed_on_set(home, flights):
    line = one_line_error(agilab("run", "flight", "--set", "nfile=-2", "--set", f"data_in={flights}", home=home, check=2))
    assert line.startswith("error: --set:") and "nfile" in line


# -- evidence that survives anything ---------------------------------------------------------
# Real signals on every executor, a real full disk (a small tmpfs: root is needed,
# which CI and the test machines have), hostile file names, damaged evidence.


@pytest.fixture(scope="module")
def busy_flights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough flight files that a run is still going when it is signalled."""
    folder = tmp_path_factory.mktemp("busy-flights")
    generate(folder, files=240, rows=1500, seed=7, min_rows=800, max_rows=3000)
    return folder


def _journal_lines(home: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in (home / "runs" / "flight").glob("*/items.jsonl"))


def _descendants(proc: psutil.Process, seen: dict[int, psutil.Process]) -> None:
    try:
        for child in proc.children(recursive=True):
            seen.setdefault(child.pid, child)
    except psutil.Error:
        pass


@pytest.mark.parametrize(
    ("executor", "sig"),
    [("local", signal.SIGKILL), ("local", signal.SIGTERM), ("pool", signal.SIGKILL), ("pool", signal.SIGTERM), ("dask", signal.SIGTERM), ("dask", signal.SIGKILL)],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else v,
)
def test_a_killed_run_keeps_its_finished_items_and_resume_completes_it(home, busy_flights, executor, sig):
    options = ["-w", "2"] if executor != "local" else []
    if executor == "dask":
        options += ["-o", "dashboard="]
    if executor != "local":
        agilab("install", "flight", "-e", executor, home=home, check=0)  # kill the run, not the venv build
    env = {**os.environ, "AGILAB_HOME": str(home)}
    cmd = [AGILAB, "run", "flight", "-e", executor, *options, "--set", f"data_in={busy_flights}", "--set", "output_format=csv"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    manager = psutil.Process(proc.pid)
    children: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline and _journal_lines(home) < 5:
        _descendants(manager, children)
        time.sleep(0.01)
    _descendants(manager, children)
    assert proc.poll() is None, "the run ended before it could be signalled"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (-9 if sig == signal.SIGKILL else 143), err
    assert "Traceback" not in err
    _, alive = psutil.wait_procs(list(children.values()), timeout=60)
    assert [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == [], "processes left behind"

    (run_dir,) = (home / "runs" / "flight").iterdir()
    run_id = run_dir.name
    shown = json.loads(agilab("show", run_id, "--json", home=home, check=0).stdout)
    assert shown["status"] == "interrupted"
    ok = [r for r in shown["results"] if r["status"] == "ok"]
    assert len(ok) >= 5 or sig == signal.SIGTERM  # SIGTERM may finish items before the record closes
    for r in ok:  # every finished item's outputs are there, as hashed
        for out in r["outputs"]:
            assert sha256_file(Path(shown["outputs"]) / out["path"]) == out["sha256"]
    text = agilab("show", run_id, home=home, check=0).stdout
    assert "interrupted" in text and f"agilab run --resume {run_id}" in text

    resumed = json.loads(agilab("run", "--resume", run_id, "-e", executor, *options, "--json", home=home, check=0).stdout)
    assert resumed["status"] == "ok" and resumed["items"] == {"total": 240, "ok": 240, "failed": 0}
    manifest = json.loads(Path(resumed["manifest"]).read_text())
    assert manifest["resumed_from"] == run_id and len(manifest["carried_over"]) >= len(ok)
    ids = [r["item_id"] for r in manifest["results"]]
    assert sorted(ids) == sorted(p.name for p in busy_flights.glob("*.csv"))  # each item once
    recorded = [out["path"] for r in manifest["results"] for out in r["outputs"]]
    on_disk = sorted(p.relative_to(resumed["outputs"]).as_posix() for p in Path(resumed["outputs"]).rglob("*.csv"))
    assert sorted(recorded) == on_disk  # each output once, none stray
    assert resumed["summary"]["files"] == 240


def test_a_full_disk_leaves_a_readable_record_and_no_traceback(home, busy_flights, mounted):
    small_home = mounted("small-disk", "size=2m") / "home"
    proc = agilab("run", "flight", "--set", f"data_in={busy_flights}", "--set", "output_format=csv", "--json", home=small_home)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "failed"
    assert "No space left on device" in json.dumps(out)
    (run_dir,) = (small_home / "runs" / "flight").iterdir()
    shown = agilab("show", run_dir.name, "--json", home=small_home)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["status"] in ("failed", "interrupted")
    assert record["items"]["ok"] >= 1  # what finished before the disk filled is on record
    listed = agilab("runs", "--json", home=small_home, check=0)
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [run_dir.name]


def _copy(flights: Path, target: Path, names: list[bytes]) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    sources = sorted(flights.glob("*.csv"))
    for src, name in zip(sources, names, strict=False):
        with open(os.path.join(os.fsencode(target), name), "wb") as fh:
            fh.write(src.read_bytes())
    return target


def test_file_names_with_markup_and_escape_sequences_never_reach_the_terminal_raw(home, busy_flights, tmp_path):
    names = [b"[x].csv", b"\x1b[31mred\x1b[0m.csv", b"[bold]loud.csv", b"plain.csv"]
    data = _copy(busy_flights, tmp_path / "data", names)
    broken = (data / "plain.csv").read_text().splitlines()
    fields = broken[3].split(",")
    fields[3] = "[/x]"  # markup in a value, quoted back in the error message
    broken[3] = ",".join(fields)
    with open(os.path.join(os.fsencode(data), b"[red]broken.csv"), "w") as fh:
        fh.write("\n".join(broken) + "\n")
    proc = agilab("run", "flight", "--set", f"data_in={data}", home=home)
    assert proc.returncode == 1, proc.stderr  # the broken file fails alone
    assert "\x1b" not in proc.stdout + proc.stderr
    assert "[red]broken.csv" in proc.stdout and "[/x]" in proc.stdout  # shown literally, not as markup
    run_id = next((home / "runs" / "flight").iterdir()).name
    for args in (("show", run_id), ("runs",), ("runs", "--json"), ("show", run_id, "--json")):
        shown = agilab(*args, home=home)
        assert shown.returncode == 0, shown.stderr
        assert "\x1b" not in shown.stdout + shown.stderr
    assert "[red]broken.csv" in agilab("show", run_id, home=home).stdout


def test_a_relative_home_is_resolved_once(tmp_path, busy_flights, agilab_wenv):
    env = {**os.environ, "AGILAB_WENV": str(agilab_wenv)}
    env.pop("AGILAB_HOME", None)
    data = _copy(busy_flights, tmp_path / "data", [b"a.csv", b"b.csv"])
    run = subprocess.run([AGILAB, "run", "flight", "--home", "rel-home", "--set", f"data_in={data}", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    manifest = Path(json.loads(run.stdout)["manifest"])
    assert manifest.is_absolute() and manifest.is_relative_to(tmp_path / "rel-home")
    listed = subprocess.run([AGILAB, "runs", "--home", "rel-home", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert len(json.loads(listed.stdout)) == 1


def test_out_must_be_a_deliberate_folder(home, busy_flights, tmp_path):
    data = _copy(busy_flights, tmp_path / "data", [b"a.csv", b"b.csv"])
    flight = ["run", "flight", "--set", f"data_in={data}"]
    assert "--out is empty" in one_line_error(agilab(*flight, "--out", "", home=home, check=2))
    assert "is inside the app's input folder" in one_line_error(agilab(*flight, "--out", str(data / "out"), home=home, check=2))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    assert "is not empty and holds no earlier outputs of flight" in one_line_error(agilab(*flight, "--out", str(foreign), home=home, check=2))
    assert not (home / "runs").exists() or not any((home / "runs").rglob("manifest.json"))  # refused before any run folder
    mine = tmp_path / "mine"
    agilab(*flight, "--out", str(mine), home=home, check=0)
    agilab(*flight, "--out", str(mine), home=home, check=0)  # an earlier output folder of this app may be reused


def test_damaged_manifests_are_named_and_the_other_runs_still_list(home, busy_flights, tmp_path):
    data = _copy(busy_flights, tmp_path / "data", [b"a.csv"])
    good = json.loads(agilab("run", "flight", "--set", f"data_in={data}", "--json", home=home, check=0).stdout)
    for name, content in (("20000101-000000-trunc", b'{"run_id": "x", "sta'), ("20000101-000000-list", b"[1]"), ("20000101-000000-bin", b"\xff\x00\x1b[31m")):
        folder = home / "runs" / "flight" / name
        folder.mkdir()
        (folder / "manifest.json").write_bytes(content)
    listed = agilab("runs", "--json", home=home, check=0)
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [good["run_id"]]
    warnings = listed.stderr.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith("warning: ") and "manifest.json" in w for w in warnings)
    assert "\x1b" not in listed.stderr
    assert "not a readable manifest" in one_line_error(agilab("show", "20000101-000000-list", home=home, check=2))
    agilab("runs", home=home, check=0)


@pytest.mark.parametrize("content", ["Infinity", '{"hosts": {"localhost": {"bytes_per_s": NaN}}}', "[1, 2", "\udcff"])
def test_a_damaged_capacity_file_is_one_warning_and_is_repaired_by_the_next_run(home, busy_flights, tmp_path, content):
    data = _copy(busy_flights, tmp_path / "data", [b"a.csv", b"b.csv"])
    home.mkdir(parents=True)
    (home / "capacity.json").write_text(content, errors="surrogateescape")
    planned = agilab("plan", "flight", "--set", f"data_in={data}", home=home, check=0)
    (warning,) = [line for line in planned.stderr.splitlines() if line.strip()]
    assert warning.startswith(f"warning: {home / 'capacity.json'}: ")
    agilab("run", "flight", "--set", f"data_in={data}", home=home, check=0)
    assert agilab("plan", "flight", "--set", f"data_in={data}", home=home, check=0).stderr == ""
    hosts = json.loads((home / "capacity.json").read_text())["hosts"]
    assert all(0 < v["bytes_per_s"] < float("inf") for v in hosts.values())


def test_a_binary_settings_file_is_one_line_naming_the_file(home):
    settings = home / "apps" / "flight" / "app_settings.toml"
    settings.parent.mkdir(parents=True)
    settings.write_bytes(b"\xff\xfe[args]\x00\x01")
    for command in ("plan", "run", "install"):
        line = one_line_error(agilab(command, "flight", home=home, check=2))
        assert str(settings) in line


# -- pages: view, pages, plugin commands ---------------------------------------------------------


def test_view_maps_writes_the_newest_flight_run_s_map_and_pages_lists_it(home, flights, tmp_path):
    first = json.loads(agilab("run", "flight", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    second = json.loads(agilab("run", "flight", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    written = agilab("view", "maps", home=home, check=0)
    path = Path(written.stdout.strip())
    assert path == home / "runs" / "flight" / second["run_id"] / "views" / "maps.html"
    html = path.read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and second["run_id"] in html
    assert not re.search(r"""<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing loaded from elsewhere
    out = tmp_path / "first.html"
    data = json.loads(agilab("view", "maps", first["run_id"], "--out", str(out), "--json", home=home, check=0).stdout)
    assert data["run_id"] == first["run_id"] and data["path"] == str(out) and first["run_id"] in out.read_text()
    assert Path(data["view"]).is_file()
    pages = {r["name"]: r for r in json.loads(agilab("pages", "--json", home=home, check=0).stdout)}
    assert pages["maps"]["apps"] == ["flight"] and pages["maps"]["shows"] == ["flight"]
    plugins = {(r["name"], r["kind"]): r for r in json.loads(agilab("plugins", "--json", home=home, check=0).stdout)}
    assert plugins[("maps", "page")]["status"] == "loaded"
    assert plugins[("ui", "command")]["distribution"] == "agilab-ui" and plugins[("ui", "command")]["status"] == "loaded"


def test_view_mistakes_are_one_line_exit_2(home, flights, tmp_path):
    assert "no run under" in one_line_error(agilab("view", "maps", home=home, check=2))
    run = json.loads(agilab("run", "flight", "--set", f"data_in={flights}", "--json", home=home, check=0).stdout)
    assert one_line_error(agilab("view", "nosuchpage", home=home, check=2)).startswith("error: unknown page 'nosuchpage'")
    assert one_line_error(agilab("view", "maps", "nosuchrun", home=home, check=2)).startswith("error: no run 'nosuchrun'")
    line = one_line_error(agilab("view", "maps", run["run_id"], "--out", str(tmp_path), home=home, check=2))
    assert line == f"error: --out {tmp_path}: is a folder; give a file name"
