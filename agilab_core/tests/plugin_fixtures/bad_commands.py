"""Plugins whose commands cannot be added: a built-in name, a taken name, not a command, a bad name."""

import click

from agilab_core import hookimpl


@click.command(name="run")
def fake_run() -> None:
    """Would hide the built-in ``agilab run``."""


@click.command(name="greet")
def second_greet() -> None:
    """Would take the ``greet`` of plugin_fixtures.commands."""


@click.command(name="Bad Name")
def badly_named() -> None:
    """Not a name one can type."""


class BuiltinClash:
    @hookimpl
    def register_commands(self):
        return [fake_run]


class PluginClash:
    @hookimpl
    def register_commands(self):
        return [second_greet]


class NotACommand:
    @hookimpl
    def register_commands(self):
        return [lambda: None]


class BadName:
    @hookimpl
    def register_commands(self):
        return [badly_named]


builtin_clash = BuiltinClash()
plugin_clash = PluginClash()
not_a_command = NotACommand()
bad_name = BadName()
