"""The worker side stays light, and no kernel module imports itself back.

A worker process imports ``agilab_core.task`` (and ``agilab_core`` for the app
contract) before its first item: it must not pay for the manager's plugin
machinery (pluggy), settings (cattrs), environment resolution or packaging.
Checked in fresh interpreters, since this test process has imported everything.

Import cycles are found by reading the sources (module-level and
function-level imports alike; ``if TYPE_CHECKING:`` blocks are for type
checkers only), so an import moved inside a function to dodge a cycle fails too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import agilab_core

KERNEL = Path(agilab_core.__file__).resolve().parent
MANAGER_SIDE = ("pluggy", "cattrs", "agilab_core.hookspecs", "agilab_core.settings", "agilab_core.plugins", "agilab_core.env", "agilab_core.packaging")


def _imported_after(code: str) -> set[str]:
    probe = code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import agilab_core.task",
        "from agilab_core import WorkerTask, ItemOutput, Worker, atomic_path, environment_hash",
        # what a worker does before its first item: build the task it was sent, check its environment
        "from agilab_core.task import WorkerTask\nWorkerTask('a', 'r', 'json:JSONDecoder', None, '.').check_environment()",
    ],
)
def test_the_worker_side_needs_neither_pluggy_nor_cattrs(code: str) -> None:
    loaded = _imported_after(code)
    assert sorted(loaded & set(MANAGER_SIDE)) == []


def test_manager_side_names_are_still_importable_from_the_package() -> None:
    loaded = _imported_after("from agilab_core import AGI, AgiEnv, WorkerPackage, hookimpl, balance, Run, PageSpec, threads_per_worker")
    assert {"pluggy", "cattrs", "agilab_core.runner", "agilab_core.packaging"} <= loaded


def test_every_public_name_resolves_and_is_listed() -> None:
    for name in agilab_core.__all__:
        assert getattr(agilab_core, name) is not None, name
    assert set(agilab_core.__all__) <= set(dir(agilab_core))
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        agilab_core.no_such_name  # noqa: B018


# -- import cycles ----------------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement anywhere in ``tree`` (functions included), except under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(folder: Path, package: str) -> dict[str, set[str]]:
    """Which modules of ``package`` (sources in ``folder``) each of its modules imports."""
    modules = {package if p.stem == "__init__" else f"{package}.{p.stem}": p for p in sorted(folder.glob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        here = name if path.stem == "__init__" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = here if node.level else ""
                for _ in range(max(node.level - 1, 0)):
                    base = base.rpartition(".")[0]
                base = ".".join(filter(None, [base, node.module or ""]))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, a]``) per group of modules that import each other (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(_a_cycle(graph, set(group)))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def _a_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A path from the group's first module back to itself, through the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                frontier.append(nxt)
    raise AssertionError(f"no cycle through {sorted(group)}")


def test_no_kernel_module_imports_itself_back() -> None:
    cycles = import_cycles(import_graph(KERNEL, "agilab_core"))
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_kernel_graph_sees_the_imports_that_matter() -> None:
    graph = import_graph(KERNEL, "agilab_core")
    assert "agilab_core.identity" in graph["agilab_core.task"]
    assert "agilab_core.wenv" in graph["agilab_core.packaging"]  # the default packager builds venvs
    assert "agilab_core.packaging" not in graph["agilab_core.wenv"] | graph["agilab_core.wheels"]


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def test_the_cycle_checker_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    pkg = _write(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "a.py": "from pkg.b import thing\n",
            "b.py": "def thing():\n    from pkg import c\n    return c\n",
            "c.py": "from . import a\n",
            "d.py": "import pkg.a\n",
        },
    )
    assert import_cycles(import_graph(pkg, "pkg")) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_the_cycle_checker_ignores_type_checking_imports_and_other_packages(tmp_path: Path) -> None:
    pkg = _write(
        tmp_path / "pkg",
        {
            "__init__.py": "from pkg.a import A\n",
            "a.py": "import typing\nimport json\nif typing.TYPE_CHECKING:\n    from pkg.b import B\nclass A: ...\n",
            "b.py": "from pkg.a import A\nclass B(A): ...\n",
        },
    )
    graph = import_graph(pkg, "pkg")
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": set(), "pkg.b": {"pkg.a"}}
    assert import_cycles(graph) == []
