"""``agilab new {app|executor|page} NAME``: a new plugin package, ready to install and test.

Registered through ``register_commands``, so the kernel stays free of
cookiecutter: ``pip install agilab-templates`` adds the command. Before
rendering, the name is checked against what is installed (a plugin of that
kind and name, the distribution, the entry point) and the target folder, so
the new package never fails to load for a clash found only later.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import click
from agilab_core import UsageError, hookimpl
from agilab_core.cli import plain

from agilab_templates.names import KINDS, PluginNames
from agilab_templates.render import DATAFRAMES, check_free, project_dir, render

GROUP = "agilab"


def clash(names: PluginNames) -> str | None:
    """Why ``names`` cannot be installed beside the plugins of this environment (one line), or None."""
    from agilab_core import load_plugins

    registry = load_plugins()
    table = {"app": registry.apps, "executor": registry.executors, "page": registry.pages}[names.kind]
    if names.name in table:
        owner = registry.distribution(names.kind, names.name)[0]
        return f"{names.kind} {names.name!r} is already registered by {owner}"
    try:
        metadata.distribution(names.distribution)
    except metadata.PackageNotFoundError:
        pass
    else:
        return f"distribution {names.distribution} is already installed"
    for ep in metadata.entry_points(group=GROUP):
        if ep.name == names.entry_point:
            owner = ep.dist.name if ep.dist else "another distribution"
            return f"entry point {names.entry_point!r} of group {GROUP!r} is already provided by {owner}"
    return None


def next_steps(folder: Path) -> list[str]:
    quoted = str(folder).replace("'", "'\\''")
    return [f"pip install -e '{quoted}[test]'", f"python -m pytest -q '{quoted}'"]


def create(kind: str, text: str, output_dir: Path, dataframe: str | None) -> dict[str, Any]:
    """Check ``text`` as a ``kind`` name, render the template, and describe the new project."""
    names = PluginNames.of(kind, text)
    if dataframe is not None and kind != "app":
        raise UsageError(f"--dataframe is for apps; a {kind} has no dataframe library")
    check_free(project_dir(names, output_dir))
    problem = clash(names)
    if problem:
        raise UsageError(f"NAME {text!r}: {problem}; choose another NAME")
    answers = {"dataframe": dataframe or DATAFRAMES[0]} if kind == "app" else {}
    folder = render(names, output_dir, answers)
    return {
        "kind": kind,
        "name": names.name,
        "typed": text,
        "normalised": names.normalised,
        "distribution": names.distribution,
        "package": names.package,
        "entry_point": names.entry_point,
        "path": str(folder),
        **answers,
        "next": next_steps(folder),
    }


@click.command(name="new")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("name")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to create the project in (as <kind>-<name>/).",
)
@click.option("--dataframe", type=click.Choice(DATAFRAMES), help="Apps: the dataframe library the worker uses (default polars).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def new(kind: str, name: str, output_dir: Path, dataframe: str | None, as_json: bool) -> None:
    """Create a new app, executor or page plugin package from its template."""
    done = create(kind, name, output_dir.expanduser().absolute(), dataframe)
    if as_json:
        click.echo(json.dumps(done, indent=2))
        return
    if done["normalised"]:
        click.echo(f"NAME {plain(repr(name))} becomes the {kind} name {done['name']!r}")
    click.echo(f"created {kind} {done['name']!r} in {plain(done['path'])} ({done['distribution']}, import {done['package']})")
    for step in done["next"]:
        click.echo(f"next: {plain(step)}")


@hookimpl
def register_commands() -> list[click.Command]:
    return [new]
