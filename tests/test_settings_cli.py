"""`agilab settings` and a fresh home, end to end with the flight app: real processes, real files.

Hostile settings files get one line naming the file and the line or field,
exit 2, and are left byte for byte as they were.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

AGILAB = str(Path(sys.executable).with_name("agilab"))


def agilab(*args: str, home: Path, check: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGILAB_HOME": str(home)}
    env.pop("AGILAB_DISABLE_PLUGINS", None)
    proc = subprocess.run([AGILAB, *args], capture_output=True, text=True, env=env, timeout=300)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_flight_runs_in_a_fresh_home_with_no_prior_step(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"
    done = agilab("run", "flight", home=home, check=0)
    assert one_line(done) == f"warning: seeded the sample data of app flight into {home / 'data' / 'flight'} (8 files, 0.3 MB)"
    assert "8/8 items ok" in done.stdout
    sample = {p.name: p.read_bytes() for p in (home / "data" / "flight").iterdir()}
    again = agilab("run", "flight", home=home, check=0)
    assert again.stderr.strip() == "" and {p.name: p.read_bytes() for p in (home / "data" / "flight").iterdir()} == sample


def test_user_data_is_never_replaced_by_the_sample(tmp_path: Path) -> None:
    home = tmp_path / "home"
    mine = home / "data" / "flight"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("not a flight", encoding="utf-8")
    line = one_line(agilab("run", "flight", home=home, check=2))
    assert "no files matching '*.csv'" in line
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_settings_show_diff_json_and_reset(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shown = agilab("settings", "flight", home=home, check=0)
    path = home / "apps" / "flight" / "app_settings.toml"
    assert shown.stdout.splitlines()[0] == f"flight 0.1.0: {path} (seeded from 0.1.0)"
    assert 'files = "*.csv"' in shown.stdout and "nfile = 0" in shown.stdout
    assert agilab("settings", "flight", "--diff", home=home, check=0).stdout.strip() == f"{path}: no difference from the defaults of flight 0.1.0"

    path.write_text(path.read_text().replace("# nfile = 0 ", "nfile = 2   "), encoding="utf-8")
    diff = agilab("settings", "flight", "--diff", home=home, check=0).stdout.splitlines()
    assert "nfile = 2  # default 0" in diff and not any(line.startswith("files") for line in diff)
    view = json.loads(agilab("settings", "flight", "--json", home=home, check=0).stdout)
    assert view["changed"] == {"nfile": {"default": 0, "value": 2}} and view["args"]["nfile"] == 2 and view["seeded_from"] == "0.1.0"
    assert agilab("run", "flight", "--json", home=home, check=0).stdout.count('"total": 2') == 1  # a run reads the same file

    edited = path.read_bytes()
    reset = agilab("settings", "flight", "--reset", "--json", home=home, check=0)
    assert one_line(reset) == f"{path}: reset to the defaults of flight; previous file kept as app_settings.toml.1.bak"
    assert json.loads(reset.stdout)["changed"] == {}
    assert (path.parent / "app_settings.toml.1.bak").read_bytes() == edited


HOSTILE = {
    "binary": (b"\xff\xfe[args]\x00\x01", "not a UTF-8 text file"),
    "not toml": (b"[args]\nnfile = = 3\n", "line 2"),
    "unknown key": (b'[seeded]\napp = "flight"\nversion = "0.1.0"\n[args]\nnfiles = 3\n', "unknown field(s) nfiles @ args"),
    "bad value": (b'[seeded]\napp = "flight"\nversion = "0.1.0"\n[args]\nnfile = -1\n', "nfile"),
    "old binary": (b'[seeded]\napp = "flight"\nversion = "0.0.1"\n[args]\n\xff', "not a UTF-8 text file"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("command", ["settings", "run"])
def test_a_hostile_settings_file_is_one_line_exit_2_and_untouched(tmp_path: Path, case: str, command: str) -> None:
    content, words = HOSTILE[case]
    home = tmp_path / "home"
    path = home / "apps" / "flight" / "app_settings.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    line = one_line(agilab(command, "flight", home=home, check=2))
    assert line.startswith(f"error: {path}: ") and words in line
    assert path.read_bytes() == content and [p.name for p in path.parent.iterdir()] == ["app_settings.toml"]


def test_a_hostile_file_can_be_reset(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = home / "apps" / "flight" / "app_settings.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe")
    agilab("settings", "flight", "--reset", home=home, check=0)
    assert (path.parent / "app_settings.toml.1.bak").read_bytes() == b"\xff\xfe"
    agilab("settings", "flight", "--diff", home=home, check=0)


def test_an_unknown_app_is_one_line(tmp_path: Path) -> None:
    line = one_line(agilab("settings", "nosuchapp", home=tmp_path / "home", check=2))
    assert "unknown app 'nosuchapp'" in line
