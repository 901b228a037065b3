"""The {{ cookiecutter.name }} app as the kernel sees it: registered, shipped with its settings, run on ``local`` and ``pool``."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import pytest
from {{ cookiecutter.__package }}.manager import {{ cookiecutter.__title }}Manager
from {{ cookiecutter.__package }}.sample import generate
from hypothesis import given
from hypothesis import strategies as st

from agilab_core import ItemResult, Run, WorkerTask, WorkItem, load_plugins

NAME = "{{ cookiecutter.name }}"
PACKAGE = "{{ cookiecutter.__package }}"


def kept_rows(path: Path, min_value: float) -> list[dict[str, str]]:
    """The rows of a sample file the worker should keep, read with the standard library."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.DictReader(fh) if float(row["value"]) >= min_value]


def test_it_is_registered_and_its_worker_side_derived() -> None:
    spec = load_plugins().app(NAME)
    assert spec.manager is {{ cookiecutter.__title }}Manager
    assert spec.worker == f"{PACKAGE}.worker:{{ cookiecutter.__title }}Worker"
    assert {f"{PACKAGE}.worker", f"{PACKAGE}.args"} <= set(spec.worker_modules)
    assert f"{PACKAGE}.manager" not in spec.worker_modules
{%- if cookiecutter.dataframe != "none" %}
    assert "{{ cookiecutter.dataframe }}" in spec.worker_requirements  # what the worker venv installs
{%- endif %}


def test_the_settings_file_is_package_data() -> None:
    """Without package-data a normal install has no settings file and the app fails at run time."""
    assert (resources.files(PACKAGE) / "app_settings.toml").is_file()


@pytest.mark.parametrize("executor", ["local", "pool"])
def test_it_runs_on_its_sample_data(agilab_agi, agilab_home: Path, executor: str) -> None:
    result = agilab_agi.run(NAME, executor=executor, workers="2" if executor == "pool" else None, args={"min_value": 10.0})
    assert result.ok, result.error or [r.error for r in result.failed]
    data = agilab_home / "data" / NAME  # seeded on first use
    inputs = sorted(data.glob("*.csv"))
    assert inputs and result.items == {"total": len(inputs), "ok": len(inputs), "failed": 0}
    for path in inputs:
        expected = kept_rows(path, 10.0)
        with (result.outputs / "kept" / path.name).open(encoding="utf-8", newline="") as fh:
            written = list(csv.DictReader(fh))
        assert [row["id"] for row in written] == [row["id"] for row in expected]
    summary = json.loads((result.outputs / "summary.json").read_text(encoding="utf-8"))
    assert summary == result.summary and summary["rows_kept"] == sum(len(kept_rows(p, 10.0)) for p in inputs)


def test_a_bad_file_fails_alone_naming_itself(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(data, files=2, rows=5)
    (data / "broken.csv").write_text("id,value\n1,2.5\n2,not-a-number\n", encoding="utf-8")
    args = {{ cookiecutter.__title }}Manager.args_type(data_in=str(data))
    task = WorkerTask(app=NAME, run_id="test", worker=load_plugins().app(NAME).worker, args=args, output_dir=tmp_path / "out", data_dir=data)
    session = task.start("localhost/0")
    try:
        results = {name: session.run(WorkItem(name, inputs=(name,))) for name in ("part-000.csv", "broken.csv", "part-001.csv")}
    finally:
        session.stop()
    assert results["part-000.csv"].ok and results["part-001.csv"].ok
    failed = results["broken.csv"]
    assert not failed.ok and "broken.csv" in failed.error.message
    assert (tmp_path / "out" / "kept" / "part-000.csv").is_file()
    assert not (tmp_path / "out" / "kept" / "broken.csv").exists()


@given(values=st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=12), seed=st.randoms(use_true_random=False))
def test_the_summary_does_not_depend_on_the_order_results_arrive_in(values: list[float], seed, tmp_path_factory) -> None:
    """Pool and Dask hand results over as they finish: a float total must not change with that order."""
    results = [
        ItemResult(item_id=f"part-{i:03}.csv", status="ok", worker="w", host="h", started=0.0, finished=1.0, rows=1, metrics={"rows_in": 2, "value_kept": v})
        for i, v in enumerate(values)
    ]
    shuffled = list(results)
    seed.shuffle(shuffled)
    out = tmp_path_factory.mktemp("out")
    run = Run(run_id="r", app=NAME, executor="local", args=None, run_dir=out, output_dir=out, started=0.0)
    assert {{ cookiecutter.__title }}Manager().reduce(shuffled, run) == {{ cookiecutter.__title }}Manager().reduce(results, run)
