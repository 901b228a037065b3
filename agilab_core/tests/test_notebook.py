"""The exported notebook's cells, built from a run folder (executing one is tests/test_export.py's job)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from agilab_core.atomic import write_json
from agilab_core.errors import UsageError
from agilab_core.notebook import build_notebook, write_notebook
from agilab_core.views import RunRecord


def _record(tmp_path: Path, outputs: list[str], args: dict | None = None) -> RunRecord:
    run_dir = tmp_path / "home" / "runs" / "alpha" / "r1"
    result = {
        "item_id": "a", "status": "ok", "worker": "w", "host": "h", "started": 1.0, "finished": 2.0,
        "outputs": [{"path": p, "sha256": "", "bytes": 1} for p in outputs],
    }
    write_json(run_dir / "manifest.json", {
        "run_id": "r1", "status": "ok", "app": {"name": "alpha"}, "args": args or {"n": 3},
        "executor": {"name": "pool", "options": {"password": "***", "retries": 1}}, "workers": "2", "results": [result],
    })
    return RunRecord.from_run_dir(run_dir)


def _sources(notebook) -> str:
    return "\n".join(c.source for c in notebook.cells)


def test_the_notebook_reads_the_kind_of_output_the_run_wrote_most(tmp_path):
    notebook = build_notebook(_record(tmp_path, ["x/1.csv", "x/2.csv", "s.json"]), tmp_path / "home", [])
    assert "pl.read_csv(f) for f in files" in _sources(notebook) and ".endswith('.csv')" in _sources(notebook)
    nbformat.validate(notebook)


def test_a_run_without_tabular_outputs_says_so(tmp_path):
    notebook = build_notebook(_record(tmp_path, ["model.bin"]), tmp_path / "home", [])
    assert "recorded no output file polars reads" in _sources(notebook) and "frame = None" in _sources(notebook)


def test_the_rerun_uses_the_recorded_request_and_names_masked_secrets(tmp_path):
    notebook = build_notebook(_record(tmp_path, [], args={"n": 3, "label": "a'b"}), tmp_path / "home", ["maps"])
    source = _sources(notebook)
    assert "app='alpha'" in source and "executor='pool'" in source and "workers='2'" in source
    assert "args={'n': 3, 'label': \"a'b\"}" in source
    assert "executor_options={'password': '***', 'retries': 1}" in source
    assert "were secrets: put them back" in source
    assert "registry.page('maps')" in source


def test_without_nbformat_export_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nbformat", None)  # what an install without the notebook extra sees
    with pytest.raises(UsageError, match=r"^notebook export needs nbformat: pip install 'agilab-core\[notebook\]'$"):
        write_notebook(_record(tmp_path, []), tmp_path / "home", [], tmp_path / "n.ipynb")
    assert not (tmp_path / "n.ipynb").exists()
