"""``agilab new`` as a user runs it: projects rendered offline, refusals in one line with exit 2.

Installing and testing what it renders is ``tests/test_templates.py`` at the
repository's root (a fresh venv per session).
"""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agilab_templates.command import create
from agilab_templates.names import KINDS, PluginNames
from agilab_templates.render import render, template_dir

AGILAB = str(Path(sys.executable).with_name("agilab"))
REPO = Path(__file__).resolve().parents[3]


def agilab_new(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AGILAB_STRICT_PLUGINS"}
    return subprocess.run([AGILAB, "new", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def files_of(folder: Path) -> dict[str, str]:
    skipped = {"__pycache__", ".pytest_cache", ".hypothesis", "build", "dist"}
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not skipped & set(p.parts) and not any(part.endswith(".egg-info") for part in p.parts)
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("text", ["My Thing", "class", "Café-Bar", "x_1"])
def test_hostile_names_render_a_package_that_parses(tmp_path: Path, kind: str, text: str) -> None:
    done = create(kind, text, tmp_path, None)
    names = PluginNames.of(kind, text)
    folder = Path(done["path"])
    assert folder == tmp_path / names.folder
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == names.distribution
    assert project["entry-points"]["agilab"] == {names.entry_point: f"{names.package}.{ {'app': 'plugin', 'executor': 'executor', 'page': 'page'}[kind] }"}
    assert (folder / "src" / names.package / "__init__.py").is_file() and (folder / "README.md").is_file()
    sources = sorted(folder.rglob("*.py"))
    assert sources and not [p for p in folder.rglob("*") if "{{" in p.name or "{%" in p.name]
    for path in sources:
        text_ = path.read_text(encoding="utf-8")
        assert "{{" not in text_ and "{%" not in text_, path
        compile(text_, str(path), "exec")  # a SyntaxError fails the test


@pytest.mark.parametrize("dataframe", ["polars", "pandas", "none"])
def test_the_app_template_asks_for_the_dataframe_library(tmp_path: Path, dataframe: str) -> None:
    folder = Path(create("app", "tabular", tmp_path, dataframe)["path"])
    worker = (folder / "src" / "agilab_app_tabular" / "worker.py").read_text(encoding="utf-8")
    dependencies = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    for library in ("polars", "pandas"):
        assert (f"import {library}" in worker) == (library == dataframe)
        assert any(d.startswith(library) for d in dependencies) == (library == dataframe)
    assert ("import csv" in worker) == (dataframe == "none")
    package_data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    assert package_data == {"agilab_app_tabular": ["app_settings.toml"]}


def test_minimal_is_the_app_template_rendered(tmp_path: Path) -> None:
    """plugins/app-minimal is ``agilab new app minimal --dataframe none --output-dir plugins``, unedited."""
    fresh = render(PluginNames.of("app", "minimal"), tmp_path, {"dataframe": "none"})
    assert files_of(fresh) == files_of(REPO / "plugins" / "app-minimal")


def test_the_repository_cookiecutter_folder_is_the_packaged_templates() -> None:
    for kind in KINDS:
        assert filecmp.cmp(REPO / "cookiecutter" / kind / "cookiecutter.json", template_dir(kind) / "cookiecutter.json", shallow=False)


def test_json_describes_the_new_project(tmp_path: Path) -> None:
    done = agilab_new("executor", "Batch Queue", "--output-dir", str(tmp_path / "out"), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["name"] == "batch-queue" and data["normalised"] is True
    assert data["distribution"] == "agilab-executor-batch-queue" and data["package"] == "agilab_executor_batch_queue"
    assert Path(data["path"]) == tmp_path / "out" / "executor-batch-queue" and Path(data["path"]).is_dir()


def test_the_default_output_dir_is_the_current_folder(tmp_path: Path) -> None:
    done = agilab_new("page", "glance", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "page-glance" / "src" / "agilab_page_glance" / "page.py").is_file()
    assert "created page 'glance'" in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["app", ".."], "has no ASCII letter or digit"),
        (["executor", "3d"], "does not start with a letter"),
        (["app", "flight"], "app 'flight' is already registered by agilab-app-flight"),
        (["executor", "Pool"], "executor 'pool' is already registered by agilab-executor-local"),
        (["page", "x", "--dataframe", "polars"], "--dataframe is for apps"),
        (["widget", "x"], "'widget' is not one of"),
    ],
)
def test_refusals_are_one_line_with_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    done = agilab_new(*args, "--output-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing rendered


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "app-taken").mkdir()
    (tmp_path / "app-taken" / "mine.txt").write_text("keep me", encoding="utf-8")
    done = agilab_new("app", "taken", "--output-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and "app-taken already exists" in done.stderr
    assert [p.name for p in (tmp_path / "app-taken").iterdir()] == ["mine.txt"]


def test_an_output_dir_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    done = agilab_new("app", "anywhere", "--output-dir", str(tmp_path / "file" / "sub"), cwd=tmp_path)
    assert done.returncode == 2 and "cannot create it" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_folder_name_too_long_is_one_line(tmp_path: Path) -> None:
    done = agilab_new("app", "anywhere", "--output-dir", str(tmp_path / ("d" * 300)), cwd=tmp_path)
    assert done.returncode == 2 and "name too long" in done.stderr.lower() and len(done.stderr.strip().splitlines()) == 1


def test_control_characters_never_reach_the_terminal(tmp_path: Path) -> None:
    done = agilab_new("page", "evil\x1b[2J", "--output-dir", str(tmp_path / "out\x1b[31m"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\\x1b" in done.stdout
    assert (tmp_path / "out\x1b[31m" / "page-evil-2j").is_dir()


def test_the_users_cookiecutter_configuration_is_neither_read_nor_written(tmp_path: Path) -> None:
    """Offline and reproducible: no ~/.cookiecutterrc default, no replay file, no template cache in the home."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cookiecutterrc").write_text('default_context:\n  description: "from the user config"\n  version: "9.9.9"\n', encoding="utf-8")
    env = {**os.environ, "HOME": str(home), "COOKIECUTTER_CONFIG": str(home / ".cookiecutterrc")}
    done = subprocess.run([AGILAB, "new", "executor", "plain", "--output-dir", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    project = tomllib.loads((tmp_path / "out" / "executor-plain" / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == "0.1.0" and "user config" not in project["description"]
    assert sorted(p.name for p in home.iterdir()) == [".cookiecutterrc"]


def test_a_page_may_take_the_name_of_the_app_it_shows(tmp_path: Path) -> None:
    """Entry points are ``<kind>-<name>``: page ``flight`` beside app ``flight`` clashes with nothing."""
    done = create("page", "flight", tmp_path, None)
    assert (done["name"], done["entry_point"], done["distribution"]) == ("flight", "page-flight", "agilab-page-flight")


def test_the_plain_cookiecutter_command_renders_the_repository_templates(tmp_path: Path) -> None:
    """``cookiecutter cookiecutter/app`` (no ``agilab new``) gives the same project as ``agilab new``."""
    home = tmp_path / "home"
    home.mkdir()
    cookiecutter = str(Path(sys.executable).with_name("cookiecutter"))
    cmd = [cookiecutter, "--no-input", str(REPO / "cookiecutter" / "app"), "name=minimal", "dataframe=none", "-o", str(tmp_path / "plain")]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HOME": str(home)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert files_of(tmp_path / "plain" / "app-minimal") == files_of(REPO / "plugins" / "app-minimal")
