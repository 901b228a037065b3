"""The ``agilab`` command.

Exit codes scripts can rely on: 0 every item ok; 1 the run finished with failed
items (or its executor broke mid-way); 2 usage, configuration or input error,
nothing ran; 3 an internal error (a bug: rerun with ``--debug`` and report it);
130 interrupted by Ctrl-C (SIGINT), 143 stopped by SIGTERM — both leave an
``interrupted`` record. Errors are one line on stderr; ``--debug`` adds
tracebacks. Everything printed from data (file names, values, messages) has
its control characters and console markup escaped.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import traceback
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from agilab_core.errors import AgilabError
from agilab_core.settings import split_assignments

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 130, 143
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interruption so runs end the way Ctrl-C ends them."""


def plain(value: Any) -> str:
    """``value`` as text safe for a terminal: control characters shown as ``\\xNN``, never sent raw."""
    text = value if isinstance(value, str) else str(value)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def safe(value: Any) -> str:
    """``value`` for a rich console: :func:`plain`, with markup such as ``[/x]`` escaped."""
    from rich.markup import escape

    return escape(plain(value))


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


class _Commands(click.Group):
    """The built-in commands, then the plugins' (``register_commands``), loaded only when a name is not built in.

    A built-in command never loads a plugin; ``agilab --help`` loads them all,
    and shows the built-in commands alone (with a warning) if that fails.
    """

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        meta = ctx.find_root().meta
        if "agilab.commands" not in meta:
            from agilab_core.plugins import load_plugins

            meta["agilab.commands"] = load_plugins(builtin_commands=self.commands).commands
        commands: dict[str, click.Command] = meta["agilab.commands"]
        return commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        try:
            return sorted({*self.commands, *self._plugin_commands(ctx)})
        except Exception as exc:  # noqa: BLE001 - help stays readable whatever a plugin does
            click.echo(f"warning: plugin commands not listed: {_message(exc)}", err=True)
            return sorted(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.commands.get(cmd_name) or self._plugin_commands(ctx).get(cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@_debug_option
@click.version_option(package_name="agilab-core", prog_name="agilab")
def cli() -> None:
    """AGILab: run apps on pluggable executors and keep evidence of every run."""


# -- plugins ----------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_debug_option
def plugins(as_json: bool) -> None:
    """List installed plugins (apps, executors, pages, commands) and their load status."""
    from agilab_core.plugins import load_plugins
    from agilab_core.settings import unstructure

    rows = [unstructure(p) for p in load_plugins(builtin_commands=cli.commands).plugins]
    if as_json:
        _emit_json(rows)
        return
    from rich.table import Table

    table = Table("name", "kind", "distribution", "version", "status", "error", box=None)
    colours = {"loaded": "green", "blocked": "yellow", "failed": "red"}
    for r in rows:
        status = f"[{colours.get(r['status'], 'red')}]{safe(r['status'])}[/]"
        table.add_row(safe(r["name"]), safe(r["kind"]), safe(r["distribution"]), safe(r["version"]), status, safe(r["error"] or ""))
    _console().print(table)


# -- plan and run -------------------------------------------------------------------


def _request(app: str | None, executor: str | None, workers: str | None, sets: tuple[str, ...], options: tuple[str, ...], home: Path | None, **more: Any) -> Any:
    from agilab_core.runner import RunRequest

    if not app:
        raise click.UsageError("give an APP (or --resume RUN_ID)")
    return RunRequest(
        app=app, executor=executor, workers=workers, args=split_assignments(sets, "--set"),
        executor_options=split_assignments(options, "-o"), home=home, **more,
    )


@cli.command()
@_run_options
def plan(app: str, executor: str | None, workers: str | None, sets: tuple[str, ...], options: tuple[str, ...], as_json: bool, home: Path | None) -> None:
    """Show the work plan per worker slot; nothing is run."""
    from agilab_core.runner import Agi

    result = Agi().get_distrib(_request(app, executor, workers, sets, options, home))
    data = result.to_dict()
    if as_json:
        _emit_json(data)
        return
    from rich.table import Table

    console = _console()
    console.print(f"[bold]{safe(data['app'])}[/] on [bold]{safe(data['executor'])}[/] (--workers {safe(data['workers'])}): {data['items']} items")
    table = Table("worker", "items", "weight", "expected load", "capacity", box=None)
    for slot in data["slots"]:
        cap = data["capacities"].get(slot["host"])
        table.add_row(safe(slot["worker"]), str(len(slot["items"])), _human(slot["weight"]), f"{slot['load']:.4g}", f"{cap:.3g} B/s" if cap else "unmeasured")
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

    request = _request(app, executor, workers, (), options, home, cython=cython)
    if as_json:
        _emit_json(Agi().install(request).to_dict())
        return
    with _console(stderr=True).status(f"packaging the worker of {safe(app)}") as status:
        package = Agi().install(request, report=lambda message: status.update(safe(message)))
    if package.kind == "inplace":
        _console().print(f"{safe(package.app)}: workers run in the manager's environment [bold]{package.env_hash}[/] ({safe(package.python)}); nothing to build", soft_wrap=True)
        return
    what = "reused" if package.cached else (f"rebuilt ({safe(package.rebuilt)})" if package.rebuilt else "built")
    where = package.venv or package.python
    _console().print(f"{safe(package.app)}: worker environment [bold]{package.env_hash}[/] ({package.runtime}) {what} in {package.seconds:.2f} s: {safe(where)}", soft_wrap=True)


@cli.command()
@click.argument("app", required=False)
@click.option("--executor", "-e", help="Executor name (default from settings, else local).")
@click.option("--workers", "-w", help="N, or HOST[:PORT]=N[,HOST=N...].")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override an app argument.")
@click.option("-o", "options", multiple=True, metavar="KEY=VALUE", help="Set an executor option.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_cython_option
@click.option("--out", help="Write outputs here instead of the run folder (empty, or an earlier output folder of APP).")
@click.option("--resume", metavar="RUN_ID", help="Complete RUN_ID: run only its items that are not ok, into its output folder.")
@_home_option
@_debug_option
def run(
    app: str | None, executor: str | None, workers: str | None, sets: tuple[str, ...], options: tuple[str, ...], as_json: bool,
    cython: bool | None, out: str | None, resume: str | None, home: Path | None,
) -> None:
    """Run APP and record its evidence. Exit 0 all ok, 1 items failed, 2 bad request."""
    from agilab_core.runner import Agi

    if resume and not app:
        app = _app_of_run(resume, home)
    request = _request(app, executor, workers, sets, options, home, out=out, cython=cython, resume=resume)
    agi = Agi()
    report = lambda message: _console(stderr=True).print(safe(message), soft_wrap=True)  # noqa: E731
    if as_json:
        result = agi.run(request, report=report)
        _emit_json(result.to_dict())
    else:
        result = _run_with_progress(agi, request, report)
        _print_summary(result)
    sys.exit(EXIT_OK if result.ok else EXIT_FAILED)


def _app_of_run(run_id: str, home: Path | None) -> str:
    from agilab_core.runs import find_run, read_manifest

    return str(read_manifest(find_run(_runs_root(home), run_id))["app"]["name"])


def _run_with_progress(agi: Any, request: Any, report: Callable[[str], None]) -> Any:
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
        state["task"] = progress.add_task(f"{safe(run.app)} {run.run_id}", total=total, failed=0)

    def on_result(result: Any) -> None:
        if not result.ok:
            state["failed"] += 1
            progress.update(state["task"], advance=1, failed=state["failed"])
        else:
            progress.advance(state["task"])

    with progress:
        return agi.run(request, on_start=on_start, on_result=on_result, report=report)


def _print_summary(result: Any) -> None:
    console = _console()
    colour = "green" if result.ok else "red"
    items = result.items
    console.print(
        f"[{colour}]{result.status}[/] {safe(result.app)} run [bold]{result.run_id}[/] on {safe(result.executor)}: "
        f"{items['ok']}/{items['total']} items ok, {items['failed']} failed"
        + (f", {items['unfinished']} unfinished" if items.get("unfinished") else "")
        + f", {result.seconds:.2f} s"
    )
    if result.error:
        console.print(f"[red]error:[/] {safe(result.error)}")
    failed = result.failed()
    for r in failed[:10]:
        console.print(f"  [red]failed[/] {safe(r.item_id)}: {safe(r.error.type)}: {safe(r.error.message)}" if r.error else f"  failed {safe(r.item_id)}")
        if _State.debug and r.error and r.error.traceback:
            _console(stderr=True).print(plain(r.error.traceback), markup=False)
    if len(failed) > 10:
        console.print(f"  ... and {len(failed) - 10} more (agilab show {result.run_id})")
    console.print(f"manifest: {safe(result.manifest)}", soft_wrap=True)
    console.print(f"outputs:  {safe(result.outputs)}", soft_wrap=True)


# -- runs and show ----------------------------------------------------------------------


def _runs_root(home: Path | None) -> Path:
    from agilab_core.env import resolve_home

    return resolve_home(home) / "runs"


def _field(data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]...``, or None where a level is missing or not a mapping (damaged evidence)."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _count(items: Any, key: str) -> int:
    value = _field(items, key)
    return value if isinstance(value, int) else 0


def _seconds(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) and value == value else "-"


@cli.command()
@click.argument("app", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_home_option
@_debug_option
def runs(app: str | None, as_json: bool, home: Path | None) -> None:
    """List recorded runs (of APP, or of every app), oldest first; damaged records are named on stderr."""
    from agilab_core.runs import list_runs

    root = _runs_root(home)
    found, problems = list_runs(root, app)
    for problem in problems:
        click.echo(f"warning: {plain(problem)}", err=True)
    rows = [
        {
            "run_id": m["run_id"],
            "app": m["app"]["name"],
            "executor": _field(m, "executor", "name"),
            "status": m["status"],
            "items": m.get("items"),
            "started": m.get("started"),
            "seconds": m.get("seconds"),
            "manifest": str(root / m["app"]["name"] / m["run_id"] / "manifest.json"),
        }
        for m in found
    ]
    if as_json:
        _emit_json(rows)
        return
    from rich.table import Table

    table = Table(box=None)
    widest = max((len(r["run_id"]) for r in rows), default=3)
    table.add_column("run", no_wrap=True, min_width=widest)  # ids are what `agilab show` needs: never cut
    for name in ("app", "executor", "status", "items ok", "seconds", "started"):
        table.add_column(name)
    for r in rows:
        table.add_row(
            safe(r["run_id"]), safe(r["app"]), safe(r["executor"] or "-"), safe(r["status"]),
            f"{_count(r['items'], 'ok')}/{_count(r['items'], 'total')}", _seconds(r["seconds"]), _when(r["started"]),
        )
    _console().print(table)


@cli.command("settings")
@click.argument("app")
@click.option("--diff", is_flag=True, help="Show only the values that differ from the app's defaults.")
@click.option("--reset", is_flag=True, help="Rewrite the settings from the app's defaults; the old file is kept as a numbered .bak.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_home_option
@_debug_option
def settings_command(app: str, diff: bool, reset: bool, as_json: bool, home: Path | None) -> None:
    """Show the settings APP runs with (its copy in the home), diff them against its defaults, or reset them."""
    from agilab_core.effective_settings import lines, settings_of

    view, note = settings_of(app, home, reset_first=reset)
    if note:
        click.echo(plain(note), err=True)
    if as_json:
        _emit_json(view.as_json())
        return
    for line in lines(view, diff):
        click.echo(plain(line))


@cli.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest.")
@_home_option
@_debug_option
def show(run_id: str, as_json: bool, home: Path | None) -> None:
    """Show one run (a unique prefix of its id is enough)."""
    from agilab_core.redaction import redact
    from agilab_core.runs import find_run, read_run

    path = find_run(_runs_root(home), run_id)
    m = redact(read_run(path))  # again: a manifest written by an older release, or edited by hand
    if as_json:
        _emit_json(m)
        return
    console = _console()
    items = m.get("items")
    version = _field(m, "app", "version") or ""
    console.print(f"[bold]{safe(m['run_id'])}[/] {safe(m['app']['name'])} {safe(version)} on {safe(_field(m, 'executor', 'name'))} (--workers {safe(m.get('workers'))})")
    console.print(
        f"status: {safe(m['status'])}, {_count(items, 'ok')}/{_count(items, 'total')} items ok, "
        f"started {_when(m.get('started'))}, {_seconds(m.get('seconds') or 0)} s"
    )
    console.print(f"environment: {safe(_field(m, 'environment', 'hash'))}")
    if m.get("resumed_from"):
        console.print(f"resumed from: {safe(m['resumed_from'])}")
    if m.get("error"):
        console.print(f"[red]error:[/] {safe(m['error'])}")
    results = m.get("results")
    for r in results if isinstance(results, list) else []:
        if isinstance(r, dict) and r.get("status") != "ok":
            error = r.get("error")
            err: dict[str, Any] = error if isinstance(error, dict) else {}
            console.print(f"  [red]failed[/] {safe(r.get('item_id'))}: {safe(err.get('type'))}: {safe(err.get('message'))}")
            if _State.debug and err.get("traceback"):
                console.print(plain(err["traceback"]), markup=False)
    unfinished = m.get("unfinished")
    if isinstance(unfinished, list) and unfinished:
        console.print(f"unfinished: {len(unfinished)} items (agilab run --resume {safe(m['run_id'])})")
    if m.get("summary"):
        console.print(safe(json.dumps(m["summary"], default=str, indent=2)))
    console.print(f"manifest: {safe(path)}", soft_wrap=True)
    console.print(f"outputs:  {safe(m.get('outputs'))}", soft_wrap=True)


# -- pages of runs ---------------------------------------------------------------------------


@cli.command()
@click.argument("page")
@click.argument("run_id", required=False)
@click.option("--out", type=click.Path(path_type=Path), help="Also write the page to this file.")
@click.option("--open", "open_page", is_flag=True, help="Open the page in the default web browser.")
@click.option("-o", "options", multiple=True, metavar="KEY=VALUE", help="Set a page option (a TOML literal or text).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_home_option
@_debug_option
def view(page: str, run_id: str | None, out: Path | None, open_page: bool, options: tuple[str, ...], as_json: bool, home: Path | None) -> None:
    """Render PAGE of RUN_ID (default: the latest run it can show) into the run's views/ folder; print the path."""
    from agilab_core.pages import write_page
    from agilab_core.plugins import load_plugins
    from agilab_core.settings import parse_value, split_assignments

    given = {key: parse_value(raw) for key, raw in split_assignments(options, "-o").items()}
    written = write_page(load_plugins().page(page), _runs_root(home), run_id, out, options=given)
    if written.warning:
        click.echo(f"warning: {plain(written.warning)}", err=True)
    if as_json:
        _emit_json({"page": written.page, "run_id": written.run_id, "app": written.app, "view": written.view, "out": written.out, "path": written.path})
    else:
        click.echo(plain(written.path))
    if open_page:
        import webbrowser

        if not webbrowser.open(written.path.resolve().as_uri()):
            click.echo(f"warning: no web browser found to open {plain(written.path)}", err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_debug_option
def pages(as_json: bool) -> None:
    """List installed pages and the apps whose runs they show."""
    from agilab_core.pages import shown_apps
    from agilab_core.plugins import load_plugins

    registry = load_plugins()
    rows = [
        {
            "name": name, "apps": list(spec.apps) or None, "shows": shown_apps(spec, sorted(registry.apps)),
            "distribution": registry.distribution("page", name)[0], "description": spec.description,
        }
        for name, spec in sorted(registry.pages.items())
    ]
    if as_json:
        _emit_json(rows)
        return
    from rich.table import Table

    table = Table("page", "apps", "distribution", "description", box=None)
    for r in rows:
        table.add_row(safe(r["name"]), safe(", ".join(r["apps"] or ["any"])), safe(r["distribution"]), safe(r["description"]))
    _console().print(table)


@cli.command()
@click.argument("run_id")
@click.option("--notebook", type=click.Path(path_type=Path), required=True, help="Write the run as a Jupyter notebook (FILE.ipynb).")
@_home_option
@_debug_option
def export(run_id: str, notebook: Path, home: Path | None) -> None:
    """Export RUN_ID as a notebook: its outputs in polars, summary, pages, and the same run again."""
    from agilab_core.env import resolve_home
    from agilab_core.notebook import write_notebook
    from agilab_core.pages import pages_showing, run_record
    from agilab_core.plugins import load_plugins

    home_dir = resolve_home(home)
    record = run_record(home_dir / "runs", run_id)
    shown, _ = pages_showing(load_plugins().pages, record)
    click.echo(plain(write_notebook(record, home_dir, shown, notebook)))


def _when(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# -- entry point ----------------------------------------------------------------------------


def _message(error: Any) -> str:
    """An error for the terminal: credentials masked, control characters escaped."""
    from agilab_core.redaction import redact_text

    return plain(redact_text(str(error)))


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
    """Warnings as one line on stderr (``agilab: `` prefixes dropped), never a source excerpt."""
    text = str(message).removeprefix("agilab: ")
    click.echo(f"warning: {_message(text)}", err=True)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to one line and a documented exit code."""
    argv = sys.argv[1:] if argv is None else argv
    _State.debug = "--debug" in argv
    signal.signal(signal.SIGTERM, _on_sigterm)
    warnings.showwarning = _show_warning
    try:
        cli.main(args=argv, prog_name="agilab", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {_message(exc.format_message())}", err=True)
        sys.exit(EXIT_USAGE)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        # click turns an interruption into Abort; the cause tells SIGTERM from Ctrl-C
        if isinstance(exc, Terminated) or isinstance(exc.__context__, Terminated):
            click.echo("terminated", err=True)
            sys.exit(EXIT_SIGTERM)
        click.echo("interrupted", err=True)
        sys.exit(EXIT_SIGINT)
    except AgilabError as exc:
        if _State.debug:
            traceback.print_exc()
        click.echo(f"error: {_message(exc)}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - a bug: one line unless --debug
        if _State.debug:
            traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: {_message(exc)} (rerun with --debug for the traceback)", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)


if __name__ == "__main__":
    main()
