"""Pinning host keys into AGILab's known-hosts file, and reading known-hosts files (real files, real keys)."""

from __future__ import annotations

import multiprocessing
import shlex
from pathlib import Path

import asyncssh
import pytest
from agilab_executor_ssh.connection import remote_command
from agilab_executor_ssh.hostkeys import ACCEPT_NEW, STRICT, HostKeyCheck, host_pattern, known_hosts_line, pin, read_known_hosts
from hypothesis import given
from hypothesis import strategies as st

from agilab_core import ConfigError

KEYS = [asyncssh.generate_private_key("ssh-ed25519") for _ in range(3)]
PINS = 100
WORD = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=12)


def trusted(path: Path, host: str, port: int) -> list[bytes]:
    return [k.public_data for k in read_known_hosts([path]).match(host, "127.0.0.9", None if port == 22 else port)[0]]


def test_pinned_keys_are_trusted_for_their_host_and_port_only(tmp_path):
    pins = tmp_path / "ssh" / "known_hosts"
    pin(pins, "lab2", 22, KEYS[0])
    pin(pins, "127.0.0.2", 2222, KEYS[1])
    pin(pins, "lab2", 22, KEYS[0])  # again: nothing added
    assert pins.read_text().splitlines() == [known_hosts_line("lab2", 22, KEYS[0]), known_hosts_line("127.0.0.2", 2222, KEYS[1])]
    assert trusted(pins, "lab2", 22) == [KEYS[0].public_data]
    assert trusted(pins, "127.0.0.2", 2222) == [KEYS[1].public_data]
    assert trusted(pins, "lab3", 22) == []
    assert oct(pins.parent.stat().st_mode & 0o777) == "0o700"
    assert not list(pins.parent.glob(".known_hosts*.tmp"))  # written whole, through a renamed sibling


def _pin_many(pins: str, first: int, keys: list[bytes], start) -> None:
    start.wait()  # all together, so that writers really overlap
    for port in range(first, first + PINS):
        pin(Path(pins), "lab", port, asyncssh.import_public_key(keys[port % 3]))


def test_concurrent_pinning_processes_lose_no_line(tmp_path):
    pins = tmp_path / "known_hosts"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(3)
    keys = [k.export_public_key() for k in KEYS]
    workers = [context.Process(target=_pin_many, args=(str(pins), first, keys, start)) for first in (1000, 2000, 3000)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert all(w.exitcode == 0 for w in workers)
    assert sorted(pins.read_text().splitlines()) == sorted(
        known_hosts_line("lab", p, KEYS[p % 3]) for f in (1000, 2000, 3000) for p in range(f, f + PINS)
    )


def test_the_check_pins_only_a_first_contact_under_accept_new(tmp_path):
    pins = tmp_path / "pins"
    for policy, pinned in [(STRICT, False), (ACCEPT_NEW, True)]:
        check = HostKeyCheck((pins,), policy, pins)
        assert check.accept("lab", "127.0.0.2", 2222, KEYS[0]) is pinned
        assert check.presented is KEYS[0] and check.expected == []
    changed = HostKeyCheck((pins,), ACCEPT_NEW, pins)
    assert changed.accept("lab", "127.0.0.2", 2222, KEYS[1]) is False
    assert [k.public_data for k in changed.expected] == [KEYS[0].public_data]
    assert changed.holders() == [pins]
    assert pins.read_text().count("\n") == 1


def test_an_unreadable_known_hosts_file_is_named(tmp_path):
    bad = tmp_path / "known_hosts"
    bad.write_text("lab2 ssh-ed25519 AAAA\nlab2\n")  # a line of one word (a key OpenSSH cannot decode is skipped, as by ssh)
    with pytest.raises(
        ConfigError, match=rf"^known-hosts file {bad}: not in OpenSSH known_hosts format \(Invalid known hosts entry: lab2\)$"
    ):
        read_known_hosts([bad, tmp_path / "missing"])


def test_host_patterns_as_openssh_writes_them():
    assert host_pattern("lab2", 22) == "lab2"
    assert host_pattern("127.0.0.2", 2222) == "[127.0.0.2]:2222"


@given(
    argv=st.lists(WORD, min_size=1, max_size=5),
    cwd=st.none() | WORD,
    env=st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), WORD, max_size=3),
)
def test_a_command_line_splits_back_into_exactly_its_words(argv, cwd, env):
    """What a POSIX shell reads from the command line is the folder, the assignments and argv, word for word."""
    words = shlex.split(remote_command(argv, cwd=cwd, env=env))
    expected = ["cd", "--", cwd, "&&"] if cwd is not None else []
    for name, value in env.items():
        expected += ["export", f"{name}={value}", "&&"]
    assert words == [*expected, "exec", *argv]
