"""``agilab export RUN_ID --notebook``: a notebook of a real flight run, executed by a real Jupyter kernel (nbclient + ipykernel).

Executing it reads the run's outputs with polars, shows its summary and its
maps page (rendered by the installed ``maps`` page), and runs the flight app
again with the same arguments: a second run appears in the same home.
Nothing in it needs the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from agilab_app_flight.sample import generate
from nbclient import NotebookClient

AGILAB = str(Path(sys.executable).with_name("agilab"))


def agilab(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGILAB_HOME": str(home)}
    env.pop("AGILAB_DISABLE_PLUGINS", None)
    return subprocess.run([AGILAB, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def flight_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    data = tmp_path_factory.mktemp("flights")
    generate(data, files=3, rows=200, seed=11, min_rows=150, max_rows=250)
    home = tmp_path_factory.mktemp("export-home")
    proc = agilab("run", "flight", "--set", f"data_in={data}", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    return home, json.loads(proc.stdout)


def outputs_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            pytest.fail(f"cell failed: {output['ename']}: {output['evalue']}")
        data = output.get("data", {})
        parts.append(data.get("text/html") or data.get("text/plain") or output.get("text", ""))
    return "\n".join(parts)


def test_the_exported_notebook_runs_and_shows_the_run_its_map_and_a_rerun(flight_run, tmp_path):
    home, run = flight_run
    path = tmp_path / "run.ipynb"
    proc = agilab("export", run["run_id"][:12], "--notebook", str(path), home=home)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{path}\n", "")
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    texts = [outputs_text(c) for c in code]
    assert texts[0] == "('ok', 3)"
    rows = run["summary"]["rows"]
    assert f"shape: ({rows}, " in texts[1] or f"({rows}, " in texts[1]  # the outputs, read with polars
    assert f"'rows': {rows}" in texts[2]  # the app's summary
    (map_text,) = [t for c, t in zip(code, texts, strict=True) if "registry.page(" in c.source]
    assert map_text.startswith("<div><iframe srcdoc=") and "leaflet" in map_text.lower()
    rerun = texts[-1]
    assert rerun.startswith("('ok', '") and "'total': 3, 'ok': 3" in rerun
    runs = sorted(p.name for p in (home / "runs" / "flight").iterdir())
    assert run["run_id"] in runs and len(runs) == 2


def test_the_notebook_re_runs_with_the_recorded_arguments_and_executor(flight_run, tmp_path):
    home, run = flight_run
    path = tmp_path / "run.ipynb"
    assert agilab("export", run["run_id"], "--notebook", str(path), home=home).returncode == 0
    (rerun,) = [c.source for c in nbformat.read(path, as_version=4).cells if "AGI.run" in c.source]
    manifest = json.loads(Path(run["manifest"]).read_text())
    assert "app='flight'" in rerun and "executor='local'" in rerun
    assert f"args={manifest['args']!r}" in rerun
    assert "home=HOME" in rerun


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nosuchrun", "--notebook", "{tmp}/n.ipynb"), "error: no run 'nosuchrun' under "),
        (("{run}", "--notebook", "{tmp}"), "error: --notebook {tmp}: is a folder; give a file name"),
        (("{run}", "--notebook", "{tmp}/n.txt"), "error: --notebook {tmp}/n.txt: give a file name ending in .ipynb"),
        (("{run}", "--notebook", "{tmp}/missing/n.ipynb"), "error: --notebook {tmp}/missing/n.ipynb: folder {tmp}/missing does not exist"),
        (("{run}",), "error: Missing option '--notebook'."),
    ],
)
def test_export_mistakes_are_one_line_exit_2(flight_run, tmp_path, args, message):
    home, run = flight_run
    proc = agilab("export", *(a.format(tmp=tmp_path, run=run["run_id"]) for a in args), home=home)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(message.format(tmp=tmp_path)), proc.stderr
