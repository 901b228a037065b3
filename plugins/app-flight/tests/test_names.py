"""Item ids and part names: injective, reversible, valid text, one file name each."""

from __future__ import annotations

import json
import os

from agilab_app_flight.names import PART_NAME_BYTES, SHORTENED, input_path, item_id, item_of_part, part_name
from hypothesis import given, settings
from hypothesis import strategies as st

SUFFIXES = (".parquet", ".csv")

# What Linux allows in a file name: any byte but '/' and NUL.
segment = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
relative_paths = st.lists(segment, min_size=1, max_size=4).map(lambda parts: os.fsdecode(b"/".join(parts)))
# Ids as the manager makes them, and any text at all (long ones too), which part names must also keep apart.
ids = st.one_of(relative_paths.map(item_id), st.text(min_size=1, max_size=320))


@settings(max_examples=400, deadline=None)
@given(relative=relative_paths)
def test_an_item_id_is_plain_json_safe_text_that_gives_the_path_back(relative: str) -> None:
    name = item_id(relative)
    name.encode("utf-8")  # valid Unicode: no lone surrogate is left
    assert json.loads(json.dumps(name, ensure_ascii=False)) == name
    assert len(name.splitlines()) <= 1 and not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name)
    assert input_path(name) == relative
    assert os.fsencode(input_path(name)) == os.fsencode(relative)


@settings(max_examples=300, deadline=None)
@given(paths=st.lists(relative_paths, min_size=2, max_size=6, unique=True))
def test_distinct_paths_have_distinct_ids(paths: list[str]) -> None:
    assert len({item_id(p) for p in paths}) == len(paths)


@settings(max_examples=500, deadline=None)
@given(names=st.lists(ids, min_size=2, max_size=8, unique=True), suffix=st.sampled_from(SUFFIXES))
def test_distinct_item_ids_never_share_a_part_name(names: list[str], suffix: str) -> None:
    parts = [part_name(n, suffix) for n in names]
    assert len(set(parts)) == len(parts)


@settings(max_examples=500, deadline=None)
@given(name=ids, suffix=st.sampled_from(SUFFIXES))
def test_a_part_name_is_one_short_file_name_that_gives_the_id_back(name: str, suffix: str) -> None:
    part = part_name(name, suffix)
    assert len(part.encode()) <= PART_NAME_BYTES
    assert "/" not in part and "\0" not in part and part.endswith(suffix)
    assert not part.startswith((".", "_"))  # dataset readers skip such files
    assert part_name(name, suffix) == part  # stable
    if SHORTENED in part:
        assert item_of_part(part, suffix) is None
    else:
        assert item_of_part(part, suffix) == name


def test_names_that_used_to_collide_do_not() -> None:
    assert part_name(item_id("a.csv"), ".parquet") != part_name(item_id("a.txt"), ".parquet")
    assert part_name(item_id("x/y.csv"), ".parquet") == "x%2Fy.csv.parquet"
    assert part_name(item_id("x%2Fy.csv"), ".parquet") == "x%25252Fy.csv.parquet"


def test_examples_of_ids() -> None:
    assert item_id("sub/60_1.csv") == "sub/60_1.csv"
    assert item_id(os.fsdecode(b"\xff.csv")) == "%FF.csv"
    assert item_id("a%b.csv") == "a%25b.csv"
    assert item_id("line\nbreak\x1b[31m.csv") == "line%0Abreak%1B[31m.csv"
    assert item_id("[/x] é.csv") == "[/x] é.csv"


def test_long_names_keep_a_readable_prefix_and_differ_by_their_hash() -> None:
    base = "d" * 300
    first, second = part_name(base + "1.csv", ".parquet"), part_name(base + "2.csv", ".parquet")
    assert first != second and first.startswith("d" * 100) and SHORTENED in first
    assert len(first.encode()) == len(second.encode()) <= PART_NAME_BYTES
    # a cut never splits an escape or a character
    cut = part_name("%" * 200, ".parquet")
    assert cut.split(SHORTENED)[0].replace("%25", "") == ""
    wide = part_name("é" * 200, ".parquet")
    assert wide.split(SHORTENED)[0] == "é" * (len(wide.split(SHORTENED)[0]))
