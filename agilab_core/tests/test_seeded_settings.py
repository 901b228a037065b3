"""The settings copy in a home follows app upgrades: renames carried, removals reported, the user's values kept.

The upgrade tests register two versions of one app in this process, one
after the other, with the real default ``resolve_env`` (the real-install
version of the same story, with pip, is ``test_an_app_upgraded_by_pip...``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import attrs
import pytest
from agilab_core.app import AppSpec, Manager
from agilab_core.effective_settings import effective
from agilab_core.env import resolve_env
from agilab_core.errors import ConfigError
from agilab_core.seeded_settings import fresh, render, reset
from agilab_core.settings import build_args, load_settings, toml_value
from hypothesis import given
from hypothesis import strategies as st

WORKER = "agilab_core.testing:ProbeWorker"


@attrs.frozen
class ArgsV1:
    nfile: int = attrs.field(default=0, metadata={"help": "first N files"})
    files: str = "*.csv"
    legacy: bool = False


@attrs.frozen
class ArgsV2:
    nfiles: int = attrs.field(default=0, metadata={"help": "first N files"})  # was nfile
    label: str = attrs.field(default="x", metadata={"help": "a help\nover lines\x1b[31m\x00 = 1"})
    files: str = "*.parquet"  # a new default
    limit: int = 10  # new
    # legacy: removed


class ManagerV1(Manager):
    args_type = ArgsV1


class ManagerV2(Manager):
    args_type = ArgsV2


V1 = AppSpec("upgr", ManagerV1, WORKER, version="1")
V2 = AppSpec("upgr", ManagerV2, WORKER, version="2", renamed={"nfile": "nfiles"})


def _seed(spec: AppSpec, home: Path) -> tuple[Path, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = resolve_env(spec, {"home": str(home)})
    return env.settings_path, [str(w.message) for w in caught]


def _set(path: Path, line: str) -> None:
    """Uncomment the default line of a field and give it a value, as a user edits the file."""
    name = line.partition(" = ")[0]
    lines = path.read_text(encoding="utf-8").splitlines()
    (i,) = [i for i, text in enumerate(lines) if text.startswith(f"# {name} = ")]
    lines[i] = line
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_an_upgrade_carries_renamed_values_drops_removed_ones_and_keeps_a_backup(tmp_path: Path) -> None:
    path, said = _seed(V1, tmp_path)
    assert said == [] and load_settings(path).seeded.version == "1"
    _set(path, "nfile = 5")
    _set(path, "legacy = true")
    before = path.read_bytes()

    _, said = _seed(V2, tmp_path)
    assert said == [
        f"agilab: {path}: settings of app upgr upgraded from 1 to 2 (renamed nfile -> nfiles; removed legacy); "
        "previous file kept as app_settings.toml.1.bak"
    ]
    settings = load_settings(path)
    assert settings.args == {"nfiles": 5} and settings.seeded.version == "2"
    assert build_args(ArgsV2, settings, {}) == ArgsV2(nfiles=5, files="*.parquet", limit=10)  # new defaults followed
    (label,) = [line for line in path.read_text().splitlines() if line.startswith("# label")]
    assert label.endswith("  # a help over lines [31m  = 1") and "label" not in tomllib.loads(path.read_text())["args"]
    assert (path.parent / "app_settings.toml.1.bak").read_bytes() == before
    text = path.read_text(encoding="utf-8")
    assert '# files = "*.parquet"' in text and "# limit = 10" in text and "nfiles = 5" in text and "# first N files" in text

    again = path.read_bytes()
    assert _seed(V2, tmp_path)[1] == [] and path.read_bytes() == again  # once only


def test_an_upgrade_without_renames_or_removals_says_so(tmp_path: Path) -> None:
    path, _ = _seed(V1, tmp_path)
    _set(path, "files = '*.txt'")
    _, said = _seed(attrs.evolve(V1, version="1.1"), tmp_path)
    assert said == [f"agilab: {path}: settings of app upgr upgraded from 1 to 1.1 (new defaults only); previous file kept as app_settings.toml.1.bak"]
    assert load_settings(path).args == {"files": "*.txt"}


def test_a_value_set_under_both_names_keeps_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "apps" / "upgr" / "app_settings.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[seeded]\napp = "upgr"\nversion = "1"\n[args]\nnfile = 5\nnfiles = 7\n', encoding="utf-8")
    _, said = _seed(V2, tmp_path)
    assert "removed nfile (its new name nfiles is set)" in said[0]
    assert load_settings(path).args == {"nfiles": 7}


def test_a_file_without_a_record_is_left_alone_unless_it_holds_a_renamed_argument(tmp_path: Path) -> None:
    path = tmp_path / "apps" / "upgr" / "app_settings.toml"
    path.parent.mkdir(parents=True)
    path.write_text("[args]\nnfiles = 2\n", encoding="utf-8")
    assert _seed(V2, tmp_path)[1] == [] and path.read_text() == "[args]\nnfiles = 2\n"
    path.write_text("[args]\nnfile = 2\n[cluster]\nworkers = 3\n", encoding="utf-8")
    (said,) = _seed(V2, tmp_path)[1]
    assert "upgraded from a copy without a version record to 2 (renamed nfile -> nfiles)" in said
    settings = load_settings(path)
    assert settings.args == {"nfiles": 2} and settings.cluster.workers == "3" and settings.seeded.version == "2"


HOSTILE = {
    "binary": (b"\xff\xfe[args]\x00\x01", "not a UTF-8 text file"),
    "not toml": (b'[seeded]\napp = "upgr"\nversion = "1"\n[args]\nnfile = = 3\n', "line 5"),
    "bad record": (b'[seeded]\napp = "upgr"\nversions = "1"\n', "@ seeded"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_an_unreadable_copy_is_never_upgraded_nor_touched(tmp_path: Path, case: str) -> None:
    content, words = HOSTILE[case]
    path = tmp_path / "apps" / "upgr" / "app_settings.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        resolve_env(V2, {"home": str(tmp_path)})
    assert str(info.value).startswith(f"{path}: ") and words in str(info.value) and "\n" not in str(info.value)
    assert path.read_bytes() == content and sorted(p.name for p in path.parent.iterdir()) == ["app_settings.toml"]


def test_an_unknown_key_at_the_same_version_is_refused_naming_file_and_field(tmp_path: Path) -> None:
    path, _ = _seed(V2, tmp_path)
    _set(path, "limit = 3")
    text = path.read_text().replace("[cluster]", "limitt = 4\n\n[cluster]")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        effective(path, V2)
    assert str(info.value) == f"{path}: unknown field(s) limitt @ args"
    assert path.read_text() == text


def test_reset_keeps_numbered_backups_even_of_a_broken_file(tmp_path: Path) -> None:
    path, _ = _seed(V2, tmp_path)
    path.write_bytes(b"\xff not toml")
    assert reset(path, V2) == path.parent / "app_settings.toml.1.bak"
    assert path.read_text() == fresh(V2)
    assert reset(path, V2) == path.parent / "app_settings.toml.2.bak"
    assert (path.parent / "app_settings.toml.1.bak").read_bytes() == b"\xff not toml"


def test_effective_settings_tell_what_differs_from_the_defaults(tmp_path: Path) -> None:
    path, _ = _seed(V2, tmp_path)
    _set(path, "limit = 3")
    view = effective(path, V2)
    assert view.args == {"nfiles": 0, "label": "x", "files": "*.parquet", "limit": 3}
    assert view.changed == {"limit": (10, 3)} and view.seeded_from == "2"


# -- the text written is the values given -------------------------------------------------------

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=("Cs",))),
)


def _nested(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)


values = st.recursive(scalars, _nested, max_leaves=8)


@given(values)
def test_toml_values_read_back_as_written(value) -> None:
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def test_text_toml_cannot_hold_is_refused_not_written() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        toml_value("bad \udcff byte")
    with pytest.raises(ValueError, match="no TOML form"):
        toml_value(None)


@given(st.dictionaries(st.sampled_from(["nfiles", "label", "files", "limit", "other key"]), values, max_size=4), st.dictionaries(st.sampled_from(["executor", "workers"]), st.text(max_size=8), max_size=2))
def test_a_rendered_copy_reads_back_as_the_values_it_holds(args, cluster) -> None:
    data = tomllib.loads(render(V2, "2", args, cluster))
    assert data["args"] == args and data["cluster"] == cluster and data["seeded"] == {"app": "upgr", "version": "2"}


# -- a real upgrade: two versions of a plugin package installed by pip ------------------------------

PACKAGE = '''
import attrs
from agilab_core import AppSpec, Manager, hookimpl

@attrs.frozen
class Args:
{fields}

class UpManager(Manager):
    args_type = Args

@hookimpl
def register_apps():
    return [AppSpec("pipup", UpManager, "agilab_core.testing:ProbeWorker"{more})]
'''

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "agilab-app-pipup"
version = "{version}"

[project.entry-points.agilab]
pipup = "agilab_app_pipup"
"""


def _release(root: Path, version: str, fields: str, more: str = "") -> Path:
    folder = root / f"pipup-{version}"
    (folder / "agilab_app_pipup").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(PYPROJECT.format(version=version), encoding="utf-8")
    (folder / "agilab_app_pipup" / "__init__.py").write_text(PACKAGE.format(fields=fields, more=more), encoding="utf-8")
    return folder


def test_an_app_upgraded_by_pip_from_1_to_2_migrates_the_user_settings(tmp_path: Path) -> None:
    import site

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target_site = next((venv / "lib").glob("python*/site-packages"))
    # the kernel and its dependencies as installed here (editable ones included: addsitedir reads their .pth)
    (target_site / "kernel.pth").write_text(f"import site; site.addsitedir({site.getsitepackages()[0]!r})\n", encoding="utf-8")
    python = venv / "bin" / "python"
    home = tmp_path / "home"
    env = {**os.environ, "AGILAB_HOME": str(home)}

    def install(folder: Path) -> None:
        pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
        subprocess.run([*pip, str(folder)], check=True, env=env, capture_output=True)

    def agilab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(python), "-c", "from agilab_core.cli import main; main()", *args], capture_output=True, text=True, env=env)

    install(_release(tmp_path, "1.0", "    nfile: int = 0\n    legacy: bool = False\n    files: str = '*.csv'\n"))
    first = agilab("settings", "pipup", "--json")
    assert first.returncode == 0, first.stderr
    path = home / "apps" / "pipup" / "app_settings.toml"
    _set(path, "nfile = 4")
    _set(path, "legacy = true")

    install(_release(tmp_path, "2.0", "    nfiles: int = 0\n    files: str = '*.parquet'\n    limit: int = 10\n", ', renamed={"nfile": "nfiles"}'))
    shown = agilab("settings", "pipup", "--json")
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr.strip() == (
        f"warning: {path}: settings of app pipup upgraded from 1.0 to 2.0 (renamed nfile -> nfiles; removed legacy); "
        "previous file kept as app_settings.toml.1.bak"
    )
    view = json.loads(shown.stdout)
    assert view["version"] == "2.0" and view["seeded_from"] == "2.0"
    assert view["args"] == {"nfiles": 4, "files": "*.parquet", "limit": 10}
