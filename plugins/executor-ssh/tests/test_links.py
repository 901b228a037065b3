"""On a host: a batch's inputs appear under the run's data folder as links to the host's cache, with no request each."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from agilab_executor_ssh import links
from hypothesis import given, settings
from hypothesis import strategies as st


def cache_of(root: Path, contents: dict[str, bytes]) -> tuple[Path, dict[str, str]]:
    cache = root / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    sums = {}
    for rel, data in contents.items():
        sha = f"{abs(hash(data)):064x}"[:64]
        (cache / sha).write_bytes(data)
        sums[rel] = sha
    return cache, sums


names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=10).filter(lambda s: s not in (".", ".."))


@settings(max_examples=50, deadline=None)
@given(contents=st.dictionaries(st.lists(names, min_size=1, max_size=3).map("/".join), st.binary(max_size=64), min_size=1, max_size=6))
def test_every_input_appears_under_its_relative_path_as_a_hard_link(tmp_path_factory, contents: dict[str, bytes]) -> None:
    root = tmp_path_factory.mktemp("host")
    if any(other.startswith(rel + "/") for rel in contents for other in contents):
        return  # a file and a folder of one name: no file system holds both
    cache, sums = cache_of(root, contents)
    links.link(contents, sums, cache, root / "data")
    for rel, data in contents.items():
        target = root / "data" / rel
        assert target.read_bytes() == data and os.path.samefile(target, cache / sums[rel]) and not target.is_symlink()


def test_inputs_outside_the_folder_unknown_or_never_sent_are_not_linked(tmp_path: Path) -> None:
    cache, sums = cache_of(tmp_path, {"a.csv": b"a"})
    sums.update({"../up.csv": sums["a.csv"], "/abs.csv": sums["a.csv"], "gone.csv": "f" * 64})
    links.link(["a.csv", "../up.csv", "/abs.csv", "gone.csv", "unknown.csv"], sums, cache, tmp_path / "run" / "data")
    assert sorted(p.name for p in (tmp_path / "run").rglob("*")) == ["a.csv", "data"]


def test_an_input_already_there_is_left_as_it_is(tmp_path: Path) -> None:
    cache, sums = cache_of(tmp_path, {"a.csv": b"new"})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_bytes(b"linked by an earlier batch")
    links.link(["a.csv"], sums, cache, tmp_path / "data")
    assert (tmp_path / "data" / "a.csv").read_bytes() == b"linked by an earlier batch"


def test_across_file_systems_an_input_is_a_symbolic_link(tmp_path: Path) -> None:
    """/dev/shm (a tmpfs of its own on Linux) and the test's folder are two file systems: no hard link between them."""
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        assert os.stat(other).st_dev != os.stat(tmp_path).st_dev
        cache, sums = cache_of(Path(other), {"sub dir/a b.csv": b"data"})
        links.link(["sub dir/a b.csv"], sums, cache, tmp_path / "data")
        target = tmp_path / "data" / "sub dir" / "a b.csv"
        assert target.is_symlink() and target.read_bytes() == b"data"


def test_the_index_is_read_once_per_process(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps({"a\udcff.csv": "0" * 64}), encoding="ascii")  # a name that is not UTF-8, escaped
    assert links.index(str(path)) == {"a\udcff.csv": "0" * 64}
    path.write_text("{}", encoding="ascii")
    assert links.index(str(path)) == {"a\udcff.csv": "0" * 64}
