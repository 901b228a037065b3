"""An app's sample data is seeded into ``<home>/data/<app>`` on first use: whole or not at all, never over user data."""

from __future__ import annotations

import io
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest
from agilab_core.app import AppSpec
from agilab_core.env import AgiEnv, resolve_env
from agilab_core.errors import ConfigError, PluginError
from agilab_core.sample_data import seed
from agilab_core.testing import ProbeManager


def _two_files(folder: Path) -> None:
    (folder / "a.csv").write_text("x\n1\n", encoding="utf-8")
    (folder / "sub").mkdir()
    (folder / "sub" / "b.csv").write_text("x\n2\n", encoding="utf-8")


def _env(tmp_path: Path, source) -> AgiEnv:
    spec = AppSpec("sampled", ProbeManager, "agilab_core.testing:ProbeWorker", sample_data=source, version="1")
    return resolve_env(spec, {"home": str(tmp_path / "home")})


def test_resolving_a_path_in_the_app_data_folder_seeds_it_once_and_says_so(tmp_path: Path) -> None:
    env = _env(tmp_path, _two_files)
    assert not env.sample_data_dir.exists()  # resolving the environment alone seeds nothing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert env.resolve_path("data/sampled") == env.sample_data_dir
    assert [str(w.message) for w in caught] == [f"agilab: seeded the sample data of app sampled into {env.sample_data_dir} (2 files, 0.0 MB)"]
    assert (env.sample_data_dir / "sub" / "b.csv").read_text() == "x\n2\n"
    assert sorted(p.name for p in env.data_dir.iterdir()) == ["sampled"]  # no scratch folder left


def test_paths_elsewhere_seed_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path, _two_files)
    env.resolve_path("data/other")
    env.resolve_path(tmp_path / "mine")
    assert not env.data_dir.exists()


def test_existing_data_is_never_touched(tmp_path: Path) -> None:
    env = _env(tmp_path, _two_files)
    env.sample_data_dir.mkdir(parents=True)
    (env.sample_data_dir / "mine.csv").write_text("mine", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no seeding line either
        env.resolve_path("data/sampled/sub")
    assert [p.name for p in env.sample_data_dir.iterdir()] == ["mine.csv"]


def _half_then_fail(folder: Path) -> None:
    (folder / "first.csv").write_text("half", encoding="utf-8")
    raise OSError("disk full")


def test_a_generator_that_raises_leaves_nothing_and_names_the_app(tmp_path: Path) -> None:
    env = _env(tmp_path, _half_then_fail)
    with pytest.raises(PluginError) as info:
        env.resolve_path("data/sampled")
    assert str(info.value) == f"app sampled: sample data _half_then_fail failed: disk full; nothing was seeded into {env.sample_data_dir}"
    assert list(env.data_dir.iterdir()) == []


@pytest.fixture(params=["tar filter", "no tar filter"])
def tar_filter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python before 3.11.4 (Debian 12's 3.11.2) has no ``tarfile.data_filter``: both ways are checked."""
    if request.param == "no tar filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_packaged_archive_is_extracted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, tar_filter: None) -> None:
    name = f"sample_bundle_{kind.replace('.', '_')}"
    package = tmp_path / "pkgs" / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    archive = package / f"sample.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("flights/a.csv", "x\n1\n")
    else:
        with tarfile.open(archive, "w:gz") as tf:
            data = b"x\n1\n"
            info = tarfile.TarInfo("flights/a.csv")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    target = tmp_path / "home" / "data" / "bundled"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert seed("bundled", f"{name}:sample.{kind}", target)
    assert (target / "flights" / "a.csv").read_text() == "x\n1\n"


@pytest.mark.parametrize("member", ["../../escaped.csv", "/tmp/escaped.csv", "link"])
def test_a_tar_that_escapes_its_folder_is_refused_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tar_filter: None, member: str) -> None:
    package = tmp_path / "pkgs" / "evil_bundle_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    with tarfile.open(package / "sample.tar", "w") as tf:
        info = tarfile.TarInfo(member)
        if member == "link":
            info.type, info.linkname = tarfile.SYMTYPE, "/"
            tf.addfile(info)
        else:
            info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    target = tmp_path / "home" / "data" / "evil"
    with pytest.raises(PluginError, match=r"^app evil: sample data evil_bundle_pkg:sample.tar failed: .*nothing was seeded"):
        seed("evil", "evil_bundle_pkg:sample.tar", target)
    assert not (tmp_path / "escaped.csv").exists() and not (tmp_path / "home" / "escaped.csv").exists()
    assert list(target.parent.iterdir()) == []


def test_a_data_folder_that_cannot_be_made_is_one_line_naming_it(tmp_path: Path) -> None:
    env = _env(tmp_path, _two_files)
    env.home.mkdir(parents=True, exist_ok=True)
    env.data_dir.write_text("a file where the data folder should be", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        env.resolve_path("data/sampled")
    assert str(info.value).startswith(f"{env.data_dir}: cannot make the sample data folder of app sampled: ")
