"""Environment identity: how identities hash, and what a worker venv's record says."""

from __future__ import annotations

import json
import platform
import string
import sys
from pathlib import Path

from agilab_core.identity import ENV_RECORD, KERNEL_DISTRIBUTION, digest, environment_hash, environment_identity, venv_record
from hypothesis import given
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
identities = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


@given(identities)
def test_a_digest_is_16_hex_digits_and_ignores_key_order(identity: dict) -> None:
    reordered = dict(reversed(list(identity.items())))
    assert digest(identity) == digest(reordered)
    assert len(digest(identity)) == 16 and set(digest(identity)) <= set(string.hexdigits.lower())


@given(identities, st.text(min_size=1, max_size=8))
def test_a_digest_changes_with_any_value(identity: dict, key: str) -> None:
    changed = {**identity, key: ["changed", identity.get(key)]}
    assert digest(changed) != digest(identity)


def test_outside_a_worker_venv_the_identity_is_this_interpreter_where_it_is() -> None:
    identity = environment_identity()
    assert identity["prefix"] == sys.prefix and identity["python"] == sys.version and identity["platform"] == platform.platform()
    assert KERNEL_DISTRIBUTION in identity
    assert environment_hash() == digest(identity)


def test_a_venv_record_is_read_only_when_it_names_a_hash(tmp_path: Path) -> None:
    assert venv_record(tmp_path) is None  # no record: not a worker venv
    record = tmp_path / ENV_RECORD
    for text in ("{not json", "[1, 2]", '{"app": "fix"}', '{"hash": 7}'):
        record.write_text(text)
        assert venv_record(tmp_path) is None, text
    record.write_text(json.dumps({"hash": "0123456789abcdef", "identity": {"app": "fix"}}))
    assert venv_record(tmp_path) == {"hash": "0123456789abcdef", "identity": {"app": "fix"}}
