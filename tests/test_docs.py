"""The documentation covers every public hook and every CLI command and option."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import attrs
import click
import pytest
from agilab_core.cli import cli

from agilab_core import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _hook_names() -> list[str]:
    return [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if getattr(fn, f"{hookspecs.PROJECT}_spec", None) is not None
    ]


def test_there_are_hooks_to_document():
    assert {"register_apps", "register_executors", "register_pages", "resolve_env", "package_worker", "plan_work",
            "run_started", "item_finished", "run_finished"} <= set(_hook_names())


def test_every_hook_is_documented():
    text = (DOCS / "hooks.md").read_text()
    missing = [name for name in _hook_names() if not re.search(rf"`{name}\(", text)]
    assert missing == []


def test_every_hook_has_a_docstring_with_its_params():
    for name in _hook_names():
        fn = getattr(hookspecs, name)
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 40, name
        for param in inspect.signature(fn).parameters:
            assert f":param {param}:" in doc, f"{name} does not document {param}"


def test_every_command_and_option_is_documented():
    text = (DOCS / "cli.md").read_text()
    for name, command in cli.commands.items():
        assert f"`agilab {name}" in text, f"command {name} is not documented"
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "debug":
                assert any(f"`{opt}" in text for opt in param.opts), f"{name} {param.opts} is not documented"


@pytest.mark.parametrize(("executor", "page"), [("local", "executors.md"), ("pool", "executors.md"), ("dask", "executor-dask.md"), ("ssh", "executor-ssh.md")])
def test_every_option_of_the_bundled_executors_is_documented(executor, page):
    from agilab_core.plugins import load_plugins

    spec = load_plugins().executor(executor)
    text = (DOCS / page).read_text()
    assert f"`{executor}`" in (DOCS / "executors.md").read_text()
    fields = [f.name for f in attrs.fields(spec.config_type)] if spec.config_type is not None and attrs.has(spec.config_type) else []
    missing = [name for name in fields if f"| `{name}` |" not in text]
    assert missing == []


def test_every_fixture_and_conformance_test_of_the_pytest_plugin_is_documented():
    import ast

    from agilab_core import testing

    tree = ast.parse(Path(testing.__file__).read_text())
    fixtures = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list)
    ]
    conformance = [name for name in vars(testing.ExecutorConformance) if name.startswith("test_")]
    assert {"agilab_agi", "agilab_home"} <= set(fixtures) and len(conformance) >= 10
    text = (DOCS / "testing.md").read_text()
    missing = [name for name in fixtures + conformance if f"| `{name}` |" not in text]
    assert missing == []


def test_the_hook_reference_is_generated_from_the_hook_specifications():
    import importlib.util

    spec = importlib.util.spec_from_file_location("hook_reference", DOCS / "tools" / "hook_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render()
    assert [f"## `{name}`" in text for name in _hook_names()] == [True] * len(_hook_names())
    assert (DOCS / "hook-reference.md").read_text(encoding="utf-8") == text, "run: python docs/tools/hook_reference.py"
