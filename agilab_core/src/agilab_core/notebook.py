"""A run as a Jupyter notebook: its outputs in polars, its summary, its pages, and the same run again.

``agilab export RUN_ID --notebook FILE.ipynb`` writes a notebook whose cells
read the run through the library (:class:`~agilab_core.views.RunRecord`), load
its output files with polars, show its summary and items, show every page
that can show the run (rendered through the library when the page's package is
installed, in an ``<iframe srcdoc>`` so a page stays one self-contained
document), and re-run the app with the run's arguments, executor and workers
through ``AGI.run(RunRequest(...))``. The notebook holds paths and arguments,
not data: it reads the run's files when it runs.

nbformat is imported only here (the ``notebook`` extra), so the kernel does
not depend on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agilab_core.errors import UsageError
from agilab_core.pages import check_out_path, write_file
from agilab_core.redaction import MASK
from agilab_core.views import RunRecord

#: Output file kinds the notebook loads, and the polars function that reads one.
READERS = {".parquet": "pl.read_parquet", ".csv": "pl.read_csv", ".json": "pl.read_json", ".ndjson": "pl.read_ndjson"}


def _nbformat() -> Any:
    try:
        import nbformat
    except ImportError:
        raise UsageError("notebook export needs nbformat: pip install 'agilab-core[notebook]'") from None
    return nbformat


def _literal(value: Any) -> str:
    """``value`` as Python source (JSON builtins only: what a manifest holds)."""
    return repr(json.loads(json.dumps(value, default=str)))


def _masked(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_masked(v) for v in value.values())
    if isinstance(value, list):
        return any(_masked(v) for v in value)
    return value == MASK


def _outputs_cell(record: RunRecord) -> tuple[str, str]:
    """Markdown and code loading the run's most common kind of output file (``None`` when it wrote none)."""
    suffixes = [Path(o.path).suffix.lower() for r in record.results for o in r.outputs]
    known = [s for s in suffixes if s in READERS]
    if not known:
        return ("## Outputs\n\nThis run recorded no output file polars reads (Parquet, CSV, JSON).", "frame = None")
    suffix = max(sorted(set(known)), key=known.count)
    code = (
        "import polars as pl\n\n"
        f"files = sorted(record.output_dir / o.path for r in record.results for o in r.outputs if o.path.lower().endswith({suffix!r}))\n"
        f"frame = pl.concat([{READERS[suffix]}(f) for f in files], how='diagonal_relaxed')\n"
        "frame"
    )
    return (f"## Outputs\n\nThe run's `{suffix}` files ({known.count(suffix)}), read with polars.", code)


def _page_cell(name: str) -> str:
    return (
        "import html\n"
        "from IPython.display import HTML\n\n"
        f"if {name!r} in registry.pages:\n"
        f"    page = render_page(registry.page({name!r}), record)\n"
        "    shown = HTML(f'<div><iframe srcdoc=\"{html.escape(page)}\" style=\"width:100%;height:620px;border:0\"></iframe></div>')\n"
        "else:\n"
        f"    shown = 'page {name} is not installed here'\n"
        "shown"
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _rerun_cell(record: RunRecord) -> str:
    manifest = record.manifest_dict()
    executor = _mapping(manifest.get("executor"))
    fields = {
        "app": record.app,
        "executor": executor.get("name"),
        "workers": manifest.get("workers"),
        "args": _mapping(manifest.get("args")),
        "executor_options": _mapping(executor.get("options")),
    }
    lines = [f"    {key}={_literal(value)}," for key, value in fields.items() if value not in (None, {})]
    return (
        "from agilab_core import AGI, RunRequest\n\n"
        "request = RunRequest(\n" + "\n".join(lines) + "\n    home=HOME,\n)\n"
        "again = AGI.run(request)\n"
        "again.status, again.run_id, again.items"
    )


def build_notebook(record: RunRecord, home: Path, pages: list[str]) -> Any:
    """The notebook (an ``nbformat`` node) for ``record``, showing ``pages`` (names of pages that can show it)."""
    nbf = _nbformat().v4
    manifest = record.manifest_dict()
    items = _mapping(manifest.get("items"))
    outputs_md, outputs_code = _outputs_cell(record)
    rerun_md = "## The same run again\n\nThe app, arguments, executor, its options and workers of this run, through the library API."
    if _masked(manifest.get("args")) or _masked(manifest.get("executor")):
        rerun_md += f" Values recorded as `{MASK}` were secrets: put them back before running this cell."
    cells = [
        nbf.new_markdown_cell(
            f"# Run `{record.run_id}` of `{record.app}`\n\n"
            f"Status **{record.status}**: {items.get('ok', 0)}/{items.get('total', 0)} items ok, {items.get('failed', 0)} failed.\n"
            f"Evidence: `{record.run_dir}`."
        ),
        nbf.new_code_cell(
            "from pathlib import Path\n\n"
            "from agilab_core.plugins import load_plugins\n"
            "from agilab_core.views import RunRecord, render_page\n\n"
            f"HOME = Path({str(home)!r})\n"
            f"record = RunRecord.from_run_dir(Path({str(record.run_dir)!r}))\n"
            "registry = load_plugins()\n"
            "record.status, len(record.results)"
        ),
        nbf.new_markdown_cell(outputs_md),
        nbf.new_code_cell(outputs_code),
        nbf.new_markdown_cell("## Summary\n\nWhat the app's `reduce` recorded, then one line per item."),
        nbf.new_code_cell("record.manifest_dict().get('summary')"),
        nbf.new_code_cell(
            "import polars as pl\n\n"
            "pl.DataFrame(\n"
            "    [{'item': r.item_id, 'status': r.status, 'host': r.host, 'worker': r.worker, 'seconds': r.finished - r.started,\n"
            "      'rows': r.rows, 'attempts': r.attempts, 'error': r.error.message if r.error else None} for r in record.results],\n"
            "    infer_schema_length=None,\n"
            ")"
        ),
    ]
    for name in pages:
        cells += [nbf.new_markdown_cell(f"## Page `{name}`"), nbf.new_code_cell(_page_cell(name))]
    cells += [nbf.new_markdown_cell(rerun_md), nbf.new_code_cell(_rerun_cell(record))]
    notebook = nbf.new_notebook(
        cells=cells,
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}, "language_info": {"name": "python"}},
    )
    _nbformat().validate(notebook)
    return notebook


def write_notebook(record: RunRecord, home: Path, pages: list[str], path: Path) -> Path:
    """Write the notebook of ``record`` to ``path`` (a ``.ipynb`` file), whole or not at all."""
    check_out_path(path, "--notebook")
    if path.suffix != ".ipynb":
        raise UsageError(f"--notebook {path}: give a file name ending in .ipynb")
    return write_file(path, _nbformat().writes(build_notebook(record, home, pages)))
