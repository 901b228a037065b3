"""Write docs/hook-reference.md from ``agilab_core.hookspecs``: every hook's signature and docstring, in source order.

    python docs/tools/hook_reference.py          # rewrite docs/hook-reference.md
    python docs/tools/hook_reference.py --check  # exit 1 when the file is out of date

``tests/test_docs.py`` fails when the committed file differs from what this
writes, so the reference cannot drift from the hook specifications.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

from agilab_core import hookspecs

TARGET = Path(__file__).resolve().parents[1] / "hook-reference.md"
HEADER = """# Hook reference

Generated from `agilab_core/hookspecs.py` by `python docs/tools/hook_reference.py`;
edit the docstrings there, not this file. [hooks](hooks.md) explains how to
implement them.
"""


def _hooks() -> list[tuple[str, str, bool]]:
    """``(name, signature, firstresult)`` of each hook spec, in the order of the source."""
    tree = ast.parse(inspect.getsource(hookspecs))
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any("hookspec" in ast.unparse(d) for d in node.decorator_list):
            first = any("firstresult=True" in ast.unparse(d) for d in node.decorator_list)
            args = ", ".join(ast.unparse(a) for a in node.args.args)
            returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            found.append((node.name, f"{node.name}({args}){returns}", first))
    return found


def render() -> str:
    parts = [HEADER]
    for name, signature, first in _hooks():
        kind = "decision hook: stops at the first non-None result" if first else "called on every implementation"
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        parts.append(f"\n## `{name}`\n\n```python\n{signature}\n```\n\n*{kind}*\n\n{doc}\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        return 0 if current == text else 1
    TARGET.write_text(text, encoding="utf-8")
    print(TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
