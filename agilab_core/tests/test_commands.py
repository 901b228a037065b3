"""Plugin sub-commands (``register_commands``): added to ``agilab``, built-in names always win.

Entry points come from a real fixture distribution (see ``conftest.fixture_dist``)
fed through ``agilab_core.plugins._entry_points``, the loader's one seam.
"""

from __future__ import annotations

from importlib import metadata

import pytest
from agilab_core.cli import cli, main
from agilab_core.plugins import STATUS_FAILED, STATUS_LOADED, load_plugins

from agilab_core import plugins


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch, fixture_dist):
    monkeypatch.delenv("AGILAB_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("AGILAB_STRICT_PLUGINS", raising=False)

    def _install(entries: dict[str, str]) -> None:
        eps = fixture_dist(entries)
        installed = list(metadata.entry_points(group=plugins.GROUP))
        monkeypatch.setattr(plugins, "_entry_points", lambda: installed + eps)

    return _install


def agilab(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


BROKEN = {
    "builtin_clash": "plugin_fixtures.bad_commands:builtin_clash",
    "plugin_clash": "plugin_fixtures.bad_commands:plugin_clash",
    "not_a_command": "plugin_fixtures.bad_commands:not_a_command",
    "bad_name": "plugin_fixtures.bad_commands:bad_name",
}


def test_a_plugin_command_runs_as_an_agilab_sub_command(install, capsys):
    install({"commands": "plugin_fixtures.commands"})
    assert agilab(capsys, "greet", "world") == (0, "hello world\n", "")
    code, out, _ = agilab(capsys, "--help")
    assert code == 0 and "greet" in out and "run" in out


def test_a_plugin_command_s_usage_error_is_one_line_exit_2(install, capsys):
    install({"commands": "plugin_fixtures.commands"})
    assert agilab(capsys, "greet", "nobody") == (2, "", "error: greet: nobody to greet\n")


def test_plugins_lists_a_command_with_its_distribution(install, capsys):
    install({"commands": "plugin_fixtures.commands"})
    registry = load_plugins(builtin_commands=cli.commands)
    (info,) = [p for p in registry.plugins if p.kind == "command" and p.entry_point == "commands"]
    assert (info.name, info.status, info.distribution) == ("greet", STATUS_LOADED, "agilab-fixture-plugins")
    assert registry.commands["greet"].name == "greet"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("builtin_clash", "command 'run' is a built-in agilab command"),
        ("not_a_command", "register_commands returned function, expected Command"),
        ("bad_name", "command name 'Bad Name' is invalid"),
        ("plugin_clash", "command 'greet' is already registered by agilab-fixture-plugins"),
    ],
)
def test_an_unusable_command_fails_its_plugin_and_nothing_else(install, capsys, entry, reason):
    install({"commands": "plugin_fixtures.commands", entry: BROKEN[entry]})
    registry = load_plugins(builtin_commands=cli.commands)
    (failed,) = [p for p in registry.plugins if p.status == STATUS_FAILED and p.distribution == "agilab-fixture-plugins"]
    assert failed.name == entry and reason in (failed.error or "") and "\n" not in (failed.error or "")
    assert "greet" in registry.commands
    code, out, _ = agilab(capsys, "plugins", "--json")
    assert code == 0 and f'"name": "{entry}"' in out and '"status": "failed"' in out


def test_built_in_commands_win_and_never_load_plugins(install, capsys, monkeypatch):
    install({"clash": "plugin_fixtures.bad_commands:builtin_clash", "broken": "plugin_fixtures.broken_import"})
    calls = []
    real = plugins.load_plugins
    monkeypatch.setattr(plugins, "load_plugins", lambda **kw: calls.append(kw) or real(**kw))
    code, out, _ = agilab(capsys, "runs", "--help")
    assert code == 0 and "List recorded runs" in out
    assert calls == []  # a built-in command never pays for (or trips on) a plugin


def test_help_lists_built_in_commands_when_plugins_fail_strictly(install, capsys, monkeypatch):
    install({"broken": "plugin_fixtures.broken_import"})
    monkeypatch.setenv("AGILAB_STRICT_PLUGINS", "1")
    code, out, err = agilab(capsys, "--help")
    assert code == 0 and "run" in out and "show" in out
    assert err.startswith("warning: plugin commands not listed:") and "fixture plugin cannot import" in err


def test_an_unknown_command_is_one_line_exit_2(install, capsys):
    install({"commands": "plugin_fixtures.commands"})
    code, out, err = agilab(capsys, "nosuchcommand")
    assert code == 2 and err.count("\n") == 1 and "nosuchcommand" in err
