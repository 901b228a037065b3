"""Errors the kernel reports as one line, without a traceback (exit code 2).

Anything raised as an :class:`AgilabError` means "nothing ran because the
request was wrong": an unknown name, a bad setting, missing input. Failures of
individual items are not exceptions at this level; they are recorded results.
"""

from __future__ import annotations


class AgilabError(Exception):
    """Base of the errors that stop a command before any item runs."""

    exit_code = 2


class UsageError(AgilabError):
    """Unknown app/executor/run, malformed command-line values."""


class ConfigError(AgilabError):
    """A settings file or option that does not fit its schema."""


class InputError(AgilabError):
    """The app's input cannot be planned (missing folder, nothing to do)."""


class PluginError(AgilabError):
    """A plugin that cannot be loaded or that registers something invalid."""


class EnvironmentMismatch(AgilabError):
    """A worker runs in another environment than the one its run was packaged for."""


def one_line(exc: BaseException) -> str:
    """``str(exc)`` squeezed onto one line (first line, or the type name)."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
