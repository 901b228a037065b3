"""The ``agilab`` command.

Exit codes scripts can rely on: 0 every item ok; 1 the run finished with failed
items (or its executor broke mid-way); 2 usage, configuration or input error,
nothing ran; 3 an internal error (a bug: rerun with ``--debug`` and report it).
Errors are one line on stderr; ``--debug`` adds tracebacks.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from agilab_core.errors import AgilabError
from agilab_core.settings import split_assignments

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _State:
    debug = False


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _debug_option(f: Callable[..., Any]) -> Callable[..., Any]:
    def set_debug(ctx: click.Context, _: click.Parameter, value: bool) -> None:
        if value:
            _State.debug = True

    return click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=set_debug, help="Show tracebacks.")(f)


def _home_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="AGILAB_HOME", help="AGILab home (default $AGILAB_HOME or ~/.agilab).")(f)


def _run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.argument("app"),
            click.option("--executor", "-e", help="Executor name (default from settings, else local)."),
            click.option("--workers", "-w", help="N, or HOST[:PORT]=N[,HOST=N...]."),
            click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override an app argument."),
            click.option("-o", "options", multiple=True, metavar="KEY=VALUE", help="Set an executor option."),
            click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
        ]
    ):
        f = option(f)
    return _home_option(_debug_option(f))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@_debug_option
@click.version_option(package_name="agilab-core", prog_name="agilab")
def cli() -> None:
    """AGILab: run apps on pluggable executors and keep evidence of every run."""


# -- plugins ----------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_debug_option
def plugins(as_json: bool) -> None:
    """List installed plugins (apps, executors, pages) and their load status."""
    from agilab_core.plugins import load_plugins
    from agilab_core.settings import unstructure

    rows = [unstructure(p) for p in load_plugins().plugins]
    if as_json:
        _emit_json(rows)
        return
    from rich.table import Table

    table = Table("name", "kind", "distribution", "version", "status", "error", box=None)
    colours = {"loaded": "green", "blocked": "yellow", "failed": "red"}
    for r in rows:
        table.add_row(r["name"], r["kind"], r["distribution"], r["version"], f"[{colours[r['status']]}]{r['status']}[/]", r["error"] or "")
    _console().print(table)


# -- plan and run -------------------------------------------------------------------


@cli.command()
@_run_options
def plan(app: str, executor: str | None, workers: str | None, sets: tuple[str, ...], options: tuple[str, ...], as_json: bool, home: Path | None) -> None:
    """Show the work plan per worker slot; nothing is run."""
    from agilab_core.runner import Agi

    result = Agi().get_distrib(app, executor, workers, split_assignments(sets, "--set"), split_assignments(options, "-o"), home)
    data = result.to_dict()
    if as_json:
        _emit_json(data)
        return
    from rich.table import Table

    console = _console()
    console.print(f"[bold]{data['app']}[/] on [bold]{data['executor']}[/] (--workers {data['workers']}): {data['items']} items")
    table = Table("worker", "items", "weight", "expected load", "capacity", box=None)
    for slot in data["slots"]:
        cap = data["capacities"].get(slot["host"])
        table.add_row(slot["worker"], str(len(slot["items"])), _human(slot["weight"]), f"{slot['load']:.4g}", f"{cap:.3g} B/s" if cap else "unmeasured")
    console.print(table)


_cython_option = click.option(
    "--cython/--no-cython", default=None, help="Compile the app's Cython modules into its worker venv (default: [cluster] cython)."
)


@cli.command()
@click.argument("app")
@click.option("--executor", "-e", help="Executor the workers run on (default from settings, else local).")
@click.option("--workers", "-w", help="N, or HOST[:PORT]=N[,HOST=N...].")
@_cython_option
@click.option("-o", "options", multiple=True, metavar="KEY=VALUE", help="Set an executor option.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_home_option
@_debug_option
def install(app: str, executor: str | None, workers: str | None, cython: bool | None, options: tuple[str, ...], as_json: bool, home: Path | None) -> None:
    """Build APP's worker venv for an executor, or reuse it when nothing changed."""
    from agilab_core.runner import Agi

    request = dict(app=app, executor=executor, workers=workers, cython=cython, executor_options=split_assignments(options, "-o"), home=home)
    if as_json:
        _emit_json(Agi().install(**request).to_dict())
        return
    with _console(stderr=True).status(f"packaging the worker of {app}") as status:
        package = Agi().install(**request, report=status.update)
    if package.kind == "inplace":
        _console().print(f"{package.app}: workers run in the manager's environment [bold]{package.env_hash}[/] ({package.python}); nothing to build", soft_wrap=True)
        return
    what = "reused" if package.cached else "built"
    where = package.venv or package.python
    _console().print(f"{package.app}: worker environment [bold]{package.env_hash}[/] ({package.runtime}) {what} in {package.seconds:.2f} s: {where}", soft_wrap=True)


@cli.command()
@_run_options
@_cython_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write outputs here instead of the run folder.")
def run(
    app: str, executor: str | None, workers: str | None, sets: tuple[str, ...], options: tuple[str, ...], as_json: bool, home: Path | None, cython: bool | None, out: Path | None
) -> None:
    """Run APP and record its evidence. Exit 0 all ok, 1 items failed, 2 bad request."""
    from agilab_core.runner import Agi

    agi = Agi()
    request = dict(
        app=app,
        executor=executor,
        workers=workers,
        args=split_assignments(sets, "--set"),
        executor_options=split_assignments(options, "-o"),
        out=out,
        home=home,
        cython=cython,
        report=lambda message: _console(stderr=True).print(message),
    )
    if as_json:
        result = agi.run(**request)
        _emit_json(result.to_dict())
    else:
        result = _run_with_progress(agi, request)
        _print_summary(result)
    sys.exit(EXIT_OK if result.ok else EXIT_FAILED)


def _run_with_progress(agi: Any, request: dict[str, Any]) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console(stderr=True),
        transient=True,
    )
    state: dict[str, Any] = {"failed": 0}

    def on_start(run: Any, total: int) -> None:
        state["task"] = progress.add_task(f"{run.app} {run.run_id}", total=total, failed=0)

    def on_result(result: Any) -> None:
        if not result.ok:
            state["failed"] += 1
            progress.update(state["task"], advance=1, failed=state["failed"])
        else:
            progress.advance(state["task"])

    with progress:
        return agi.run(**request, on_start=on_start, on_result=on_result)


def _print_summary(result: Any) -> None:
    console = _console()
    colour = "green" if result.ok else "red"
    items = result.items
    console.print(
        f"[{colour}]{result.status}[/] {result.app} run [bold]{result.run_id}[/] on {result.executor}: "
        f"{items['ok']}/{items['total']} items ok, {items['failed']} failed, {result.seconds:.2f} s"
    )
    if result.error:
        console.print(f"[red]error:[/] {result.error}")
    failed = result.failed()
    for r in failed[:10]:
        console.print(f"  [red]failed[/] {r.item_id}: {r.error.type}: {r.error.message}" if r.error else f"  failed {r.item_id}")
        if _State.debug and r.error and r.error.traceback:
            _console(stderr=True).print(r.error.traceback, markup=False)
    if len(failed) > 10:
        console.print(f"  ... and {len(failed) - 10} more (agilab show {result.run_id})")
    console.print(f"manifest: {result.manifest}", soft_wrap=True)
    console.print(f"outputs:  {result.outputs}", soft_wrap=True)


# -- runs and show ----------------------------------------------------------------------


def _runs_root(home: Path | None) -> Path:
    from agilab_core.env import default_home

    return (home.expanduser() if home else default_home()) / "runs"


@cli.command()
@click.argument("app", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_home_option
@_debug_option
def runs(app: str | None, as_json: bool, home: Path | None) -> None:
    """List recorded runs (of APP, or of every app), oldest first."""
    from agilab_core.evidence import list_runs

    root = _runs_root(home)
    rows = [
        {
            "run_id": m.get("run_id"),
            "app": (m.get("app") or {}).get("name"),
            "executor": (m.get("executor") or {}).get("name"),
            "status": m.get("status"),
            "items": m.get("items"),
            "started": m.get("started"),
            "seconds": m.get("seconds"),
            "manifest": str(root / (m.get("app") or {}).get("name", "") / m.get("run_id", "") / "manifest.json"),
        }
        for m in list_runs(root, app)
    ]
    if as_json:
        _emit_json(rows)
        return
    from rich.table import Table

    table = Table(box=None)
    widest = max((len(r["run_id"] or "") for r in rows), default=3)
    table.add_column("run", no_wrap=True, min_width=widest)  # ids are what `agilab show` needs: never cut
    for name in ("app", "executor", "status", "items ok", "seconds", "started"):
        table.add_column(name)
    for r in rows:
        items = r["items"] or {}
        table.add_row(
            r["run_id"], r["app"], r["executor"], r["status"], f"{items.get('ok', 0)}/{items.get('total', 0)}",
            f"{r['seconds']:.2f}" if r["seconds"] is not None else "-", _when(r["started"]),
        )
    _console().print(table)


@cli.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest.")
@_home_option
@_debug_option
def show(run_id: str, as_json: bool, home: Path | None) -> None:
    """Show one run (a unique prefix of its id is enough)."""
    from agilab_core.evidence import find_run, read_manifest

    path = find_run(_runs_root(home), run_id)
    m = read_manifest(path)
    if as_json:
        _emit_json(m)
        return
    console = _console()
    items = m.get("items", {})
    console.print(f"[bold]{m['run_id']}[/] {m['app']['name']} {m['app'].get('version', '')} on {m['executor']['name']} (--workers {m.get('workers')})")
    console.print(f"status: {m['status']}, {items.get('ok', 0)}/{items.get('total', 0)} items ok, started {_when(m.get('started'))}, {m.get('seconds') or 0:.2f} s")
    console.print(f"environment: {m.get('environment', {}).get('hash')}")
    if m.get("error"):
        console.print(f"[red]error:[/] {m['error']}")
    for r in m.get("results", []):
        if r.get("status") != "ok":
            err = r.get("error") or {}
            console.print(f"  [red]failed[/] {r['item_id']}: {err.get('type')}: {err.get('message')}")
            if _State.debug and err.get("traceback"):
                console.print(err["traceback"], markup=False)
    if m.get("summary"):
        console.print_json(json.dumps(m["summary"], default=str))
    console.print(f"manifest: {path}", soft_wrap=True)
    console.print(f"outputs:  {m.get('outputs')}", soft_wrap=True)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# -- entry point ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to one line and a documented exit code."""
    argv = sys.argv[1:] if argv is None else argv
    _State.debug = "--debug" in argv
    try:
        cli.main(args=argv, prog_name="agilab", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except AgilabError as exc:
        if _State.debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - a bug: one line unless --debug
        if _State.debug:
            traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)


if __name__ == "__main__":
    main()
