"""The ``ssh`` executor's options: per-host values, refusals, and every option documented."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from agilab_core.settings import fold_dotted, structure, typed_values
from agilab_executor_ssh.executor import MAX_WORKERS_PER_HOST, SshExecutor
from agilab_executor_ssh.options import SshOptions
from hypothesis import given
from hypothesis import strategies as st

from agilab_core import ConfigError, UsageError, WorkersSpec

DOCS = Path(__file__).parents[3] / "docs" / "executor-ssh.md"


def options(**raw: str) -> SshOptions:
    """Options as ``-o KEY=VALUE`` gives them (text values, dotted keys folded), through the kernel's own parsing."""
    return structure(typed_values(fold_dotted(raw, SshOptions), SshOptions), SshOptions, "executor ssh options (-o)", path="options")


def test_a_host_has_its_own_python_and_folder_or_the_default():
    opts = options(**{"remote_python": "/usr/bin/python3", "remote_python.lab2": "/opt/py312/bin/python3", "remote_dir.alice@lab3": "/scratch/a"})
    assert opts.python_for("alice@lab2") == "/opt/py312/bin/python3"  # named by address
    assert opts.python_for("lab3") == "/usr/bin/python3"
    assert opts.dir_for("alice@lab3") == "/scratch/a"  # named as --workers does
    assert opts.dir_for("bob@lab3") == ".agilab-ssh"


@given(st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True), st.from_regex(r"/[A-Za-z0-9_./ -]{1,40}", fullmatch=True))
def test_any_host_name_and_path_round_trip_through_the_dotted_option(host, path):
    opts = options(**{f"remote_python.{host}": path})
    assert opts.python_for(f"user@{host}") == path and opts.python_for(host) == path


def test_client_keys_given_as_one_bare_path_is_refused_with_the_list_syntax():
    with pytest.raises(ConfigError, match=r"client_keys is a list of paths: -o 'client_keys=\[\"PATH\"\]'"):
        structure({"client_keys": "/root/.ssh/lab"}, SshOptions, "executor ssh options (-o)")
    assert options(client_keys='["/root/.ssh/lab"]').connection().client_keys == (Path("/root/.ssh/lab"),)


def test_an_unknown_host_key_policy_is_refused():
    with pytest.raises(ConfigError, match="host_key_policy"):
        options(host_key_policy="trust-all")


def test_hosts_are_required_and_at_most_six_workers_each():
    with pytest.raises(UsageError, match=r"executor ssh runs on hosts: give --workers \[USER@\]HOST"):
        SshExecutor.slots(SshOptions(), WorkersSpec.parse("2"))
    with pytest.raises(UsageError, match=f"at most {MAX_WORKERS_PER_HOST} workers per host"):
        SshExecutor.slots(SshOptions(), WorkersSpec.parse(f"lab2={MAX_WORKERS_PER_HOST + 1}"))
    assert [s.id for s in SshExecutor.slots(SshOptions(), WorkersSpec.parse("a@lab2:2222=2,lab3=1"))] == ["a@lab2/0", "a@lab2/1", "lab3/0"]


def test_one_host_through_two_ports_is_refused_not_merged():
    # Hosts are told apart by [USER@]HOST (their slots, results and files are named so):
    # two ports of one name would silently run everything on one of them.
    with pytest.raises(UsageError, match=r"a@box is given twice \(with other ports\)"):
        SshExecutor.slots(SshOptions(), WorkersSpec.parse("a@box:2222=1,a@box:2223=1"))
    assert len(SshExecutor.slots(SshOptions(), WorkersSpec.parse("a@box:2222=1,b@box:2223=1"))) == 2


def test_every_option_is_documented():
    text = DOCS.read_text()
    assert [f.name for f in attrs.fields(SshOptions) if f"| `{f.name}` |" not in text] == []
