"""AgiEnv: where home is, where settings come from, how paths resolve."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from agilab_core.app import AppSpec, Manager
from agilab_core.env import AgiEnv, default_home, resolve_env
from agilab_core.errors import ConfigError
from agilab_core.seeded_settings import packaged, seed


@attrs.frozen
class EnvArgs:
    count: int = 2
    label: str = "x"


class EnvManager(Manager):
    args_type = EnvArgs


def _spec(settings: str | None = "plugin_fixtures:app_settings.toml") -> AppSpec:
    return AppSpec("envapp", EnvManager, "plugin_fixtures.good:GoodWorker", settings=settings, version="1.0")


def test_home_comes_from_agilab_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGILAB_HOME", str(tmp_path / "h"))
    assert default_home() == tmp_path / "h"


def test_home_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AGILAB_HOME", "~/custom")
    assert default_home() == tmp_path / "custom"


@pytest.mark.parametrize("value", [None, ""])
def test_home_defaults_to_dot_agilab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str | None) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    if value is None:
        monkeypatch.delenv("AGILAB_HOME", raising=False)
    else:
        monkeypatch.setenv("AGILAB_HOME", value)
    assert default_home() == tmp_path / ".agilab"


def test_resolve_env_uses_the_home_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGILAB_HOME", str(tmp_path / "from-env"))
    env = resolve_env(_spec(None), {"home": str(tmp_path / "override")})
    assert env == AgiEnv("envapp", tmp_path / "override")


def test_resolve_env_falls_back_to_agilab_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGILAB_HOME", str(tmp_path / "from-env"))
    assert resolve_env(_spec(None), {}).home == tmp_path / "from-env"


def test_folders_live_under_home(tmp_path: Path) -> None:
    env = AgiEnv("flight", tmp_path)
    assert env.settings_path == tmp_path / "apps" / "flight" / "app_settings.toml"
    assert env.runs_dir == tmp_path / "runs" / "flight"
    assert env.runs_root == tmp_path / "runs"
    assert env.wenv_dir == tmp_path / "wenv"
    assert env.capacity_path == tmp_path / "capacity.json"


def test_resolve_path_relative_goes_under_home(tmp_path: Path) -> None:
    assert AgiEnv("a", tmp_path).resolve_path("data/in") == tmp_path / "data" / "in"


def test_resolve_path_absolute_stays(tmp_path: Path) -> None:
    assert AgiEnv("a", tmp_path).resolve_path("/srv/data") == Path("/srv/data")


def test_resolve_path_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert AgiEnv("a", tmp_path / "home").resolve_path("~/x") == tmp_path / "user" / "x"


def test_settings_are_seeded_from_the_package_on_first_use(tmp_path: Path, fixtures_on_path: Path) -> None:
    env = resolve_env(_spec(), {"home": str(tmp_path)})
    text = env.settings_path.read_text(encoding="utf-8")
    assert 'count = 3\n' in text and 'label = "007"\n' in text  # packaged values apart from the defaults
    assert env.settings().args == {"count": 3, "label": "007"}
    assert env.settings().seeded is not None and env.settings().seeded.version == "1.0"
    assert [p.name for p in env.settings_path.parent.iterdir()] == ["app_settings.toml"]  # no temp file left


def test_user_edits_are_never_overwritten(tmp_path: Path, fixtures_on_path: Path) -> None:
    env = resolve_env(_spec(), {"home": str(tmp_path)})
    env.settings_path.write_text("[args]\ncount = 99\n", encoding="utf-8")
    again = resolve_env(_spec(), {"home": str(tmp_path)})
    assert again.settings().args == {"count": 99}


def test_app_without_packaged_settings_gets_its_defaults_as_comments(tmp_path: Path) -> None:
    env = resolve_env(_spec(None), {"home": str(tmp_path)})
    text = env.settings_path.read_text(encoding="utf-8")
    assert "# count = 2\n" in text and '# label = "x"\n' in text
    assert env.settings().args == {}


def test_default_resource_name_is_app_settings_toml(fixtures_on_path: Path) -> None:
    assert packaged(_spec("plugin_fixtures"))["args"]["count"] == 3


@pytest.mark.parametrize("settings", ["plugin_fixtures:missing.toml", "no_such_package_xyz:app_settings.toml"])
def test_missing_packaged_settings_is_a_config_error_naming_the_app(
    tmp_path: Path, fixtures_on_path: Path, settings: str
) -> None:
    with pytest.raises(ConfigError) as info:
        seed(AgiEnv("envapp", tmp_path).settings_path, _spec(settings))
    assert str(info.value).startswith("app envapp: packaged settings")
    assert repr(settings) in str(info.value)


# -- home made absolute once, and told in one line when it cannot be ------------------


def test_a_relative_agilab_home_is_made_absolute_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGILAB_HOME", "rel/../homes/h")
    env = resolve_env(_spec(None), {})
    assert env.home == tmp_path / "homes" / "h"
    monkeypatch.chdir("/")  # a later change of folder does not move home
    assert env.runs_dir == tmp_path / "homes" / "h" / "runs" / "envapp"


def test_a_relative_home_override_is_made_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_env(_spec(None), {"home": "./h"}).home == tmp_path / "h"


@pytest.mark.parametrize(("override", "variable", "source"), [("~nosuchuser-agilab/x", None, "--home"), (None, "~nosuchuser-agilab/x", "AGILAB_HOME")])
def test_an_unknown_user_in_home_is_one_line(monkeypatch: pytest.MonkeyPatch, override, variable, source) -> None:
    if variable:
        monkeypatch.setenv("AGILAB_HOME", variable)
    with pytest.raises(ConfigError) as info:
        resolve_env(_spec(None), {"home": override} if override else {})
    assert str(info.value) == f"{source} '~nosuchuser-agilab/x': cannot expand '~nosuchuser-agilab' (no such user or no home folder)"


@pytest.mark.parametrize("how", ["override", "variable"])
def test_a_home_that_is_a_file_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str) -> None:
    home = tmp_path / "home.txt"
    home.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("AGILAB_HOME", str(home))
    with pytest.raises(ConfigError) as info:
        resolve_env(_spec(None), {"home": str(home)} if how == "override" else {})
    source = "--home" if how == "override" else "AGILAB_HOME"
    assert str(info.value) == f"{source} {home}: is a file, not a folder"


def test_a_home_with_a_nul_character_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^--home '/tmp/a\\x00b': a path cannot contain a NUL character$"):
        resolve_env(_spec(None), {"home": "/tmp/a\x00b"})


def test_a_relative_shared_wenv_is_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGILAB_WENV", "shared/wenv")
    assert AgiEnv("a", tmp_path / "h").wenv_dir == tmp_path / "shared" / "wenv"


def test_resolve_path_with_an_unknown_user_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^'~nosuchuser-agilab/in': cannot expand '~nosuchuser-agilab'"):
        AgiEnv("a", tmp_path).resolve_path("~nosuchuser-agilab/in")
