"""A plugin adding one ``agilab`` sub-command, ``greet``."""

import click
from agilab_core.errors import UsageError

from agilab_core import hookimpl


@click.command()
@click.argument("who")
def greet(who: str) -> None:
    """Greet WHO (a fixture command)."""
    if who == "nobody":
        raise UsageError("greet: nobody to greet")
    click.echo(f"hello {who}")


@hookimpl
def register_commands():
    return [greet]
