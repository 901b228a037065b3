"""Rendering a template into a new project folder, through cookiecutter as a library.

Offline and without prompts: the template is a folder of this package (never a
download), every answer comes from ``extra_context``, and cookiecutter's user
configuration and replay files are left out (nothing is read from or written
to the user's home). A project folder is never overwritten, and a failed
rendering leaves none behind.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from agilab_core import UsageError, one_line

from agilab_templates.names import PluginNames

DATAFRAMES = ("polars", "pandas", "none")


def template_dir(kind: str) -> Path:
    """The cookiecutter template of ``kind`` shipped in this package."""
    return Path(str(resources.files("agilab_templates") / "templates" / kind))


def project_dir(names: PluginNames, output_dir: Path) -> Path:
    return output_dir / names.folder


def check_free(target: Path) -> None:
    """Refuse (one line) a project folder that exists already or cannot be looked at (a name too long...)."""
    try:
        taken = target.exists() or target.is_symlink()
    except OSError as exc:
        raise UsageError(f"--output-dir {target.parent}: {exc.strerror or one_line(exc)}") from None
    if taken:
        raise UsageError(f"{target} already exists; choose another NAME or --output-dir")


def render(names: PluginNames, output_dir: Path, answers: dict[str, Any] | None = None) -> Path:
    """Render ``names.kind``'s template into ``output_dir/<kind>-<name>``; return that folder.

    ``answers`` are the template's other questions (``dataframe`` for apps).
    """
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_context, generate_files
    from cookiecutter.prompt import prompt_for_config

    template = template_dir(names.kind)
    target = project_dir(names, output_dir)
    check_free(target)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--output-dir {output_dir}: cannot create it: {exc.strerror or one_line(exc)}") from None
    extra = {**names.context(), **(answers or {})}
    try:
        context = generate_context(context_file=str(template / "cookiecutter.json"), extra_context=extra)
        context["cookiecutter"] = prompt_for_config(context, no_input=True)
        context["cookiecutter"]["_template"] = str(template)
        done = Path(generate_files(repo_dir=template, context=context, output_dir=str(output_dir)))
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise UsageError(f"--output-dir {output_dir}: cannot write the project: {exc.strerror or one_line(exc)}") from None
    except CookiecutterException as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise UsageError(f"template {names.kind}: {one_line(exc)}") from None
    if done.resolve() != target.resolve():  # the template names its folder from the same context
        raise RuntimeError(f"template {names.kind} rendered {done}, expected {target}")
    return done
