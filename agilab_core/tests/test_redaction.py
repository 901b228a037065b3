"""Redaction: secrets by name, by path and by value never survive; everything else does."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from agilab_core.redaction import CYCLE, MASK, is_secret_name, redact, redact_text, secret_values
from hypothesis import given, settings
from hypothesis import strategies as st

# -- the key rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "password", "passwd", "pass", "pwd", "db_password", "dbPassword", "ssh_passphrase", "secret", "AWS_SECRET",
        "client_secret", "token", "api_token", "authToken", "api_key", "apikey", "apiKey", "API_KEY", "key",
        "private_key", "privateKey", "ssh_key", "sshkey", "client_keys", "key_file", "keyfile", "access_key",
        "credentials", "creds", "authorization", "cookie", "options.ssh.password",
    ],
)
def test_credential_names_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "keys", "key_count", "monkey", "keyboard", "primary_key", "sort_key", "host_key", "public_key", "max_tokens",
        "token_count", "password_min_length", "token_timeout", "auth", "user", "host", "port", "passenger", "bypass",
        "compass", "workers", "",
    ],
)
def test_harmless_names_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


# -- structures ---------------------------------------------------------------------


def test_values_of_secret_keys_are_masked_at_any_depth_in_dicts_and_lists() -> None:
    options = {
        "password": "hunter2",
        "auth": {"user": "me", "password": "hunter2"},
        "hosts": [{"name": "a", "ssh_key": "k1"}, {"name": "b", "api_token": "t2"}],
        "workers": 4,
        "host": "h",
    }
    shown = redact(options)
    assert shown == {
        "password": MASK,
        "auth": {"user": "me", "password": MASK},
        "hosts": [{"name": "a", "ssh_key": MASK}, {"name": "b", "api_token": MASK}],
        "workers": 4,
        "host": "h",
    }
    assert options["password"] == "hunter2" and options["auth"]["password"] == "hunter2"  # input untouched


def test_a_secret_container_keeps_its_shape_with_every_leaf_masked() -> None:
    shown = redact({"client_keys": ["/home/me/.ssh/a", "/home/me/.ssh/b"], "credentials": {"user": "u", "pin": 1234}})
    assert shown == {"client_keys": [MASK, MASK], "credentials": {"user": MASK, "pin": MASK}}


def test_empty_secrets_and_flags_stay_visible() -> None:
    shown = redact({"password": None, "token": "", "client_keys": [], "secret": {}, "use_token": True})
    assert shown == {"password": None, "token": "", "client_keys": [], "secret": {}, "use_token": True}


def test_harmless_keys_are_kept() -> None:
    data = {"keys": ["a", "b"], "key_count": 2, "monkey": "george", "max_tokens": 100, "primary_key": "id"}
    assert redact(data) == data


def test_secret_paths_mask_fields_whatever_their_name() -> None:
    data = {"args": {"db_conn": "s3cr3t-value", "other": "x"}, "options": {"ssh": {"word": "p4ss"}}}
    shown = redact(data, ["args.db_conn", "options.ssh.word"])
    assert shown == {"args": {"db_conn": MASK, "other": "x"}, "options": {"ssh": {"word": MASK}}}


def test_secret_paths_go_through_lists_and_accept_wildcards() -> None:
    data = {"hosts": [{"login": "a1", "name": "x"}, {"login": "b2", "name": "y"}], "z": {"q": {"login": "c3"}}}
    shown = redact(data, ["hosts.login", "*.q.login"])
    assert shown == {"hosts": [{"login": MASK, "name": "x"}, {"login": MASK, "name": "y"}], "z": {"q": {"login": MASK}}}


def test_tuples_and_objects_become_json() -> None:
    from pathlib import PurePosixPath

    shown = redact({"t": ("a", 1), "p": PurePosixPath("/x/y"), "s": {"b", "a"}})
    assert shown == {"t": ["a", 1], "p": "/x/y", "s": ["a", "b"]}
    json.dumps(shown)


def test_a_cycle_does_not_recurse_forever() -> None:
    data: dict[str, Any] = {"a": 1}
    data["self"] = data
    assert redact(data) == {"a": 1, "self": CYCLE}


# -- values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("tcp://user:pw@host:8786", "tcp://user:***@host:8786"),
        ("postgresql://u:p@h/db?sslmode=require", "postgresql://u:***@h/db?sslmode=require"),
        ("postgresql://u:p@ss@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r.git", "https://***@github.com/o/r.git"),
        ("https://a1b2c3d4e5f6g7h8i9j0@example.org/x", "https://***@example.org/x"),
        ("https://a1b2c3d4e5f6g7h8i9j0:x-oauth-basic@example.org", "https://***:***@example.org"),
        ("ssh://git@github.com/o/r", "ssh://git@github.com/o/r"),
        ("https://alice@example.org/", "https://alice@example.org/"),
        ("tcp://user:@host", "tcp://user:@host"),
        ("scheduler tcp://a:x1@h1:8786, fallback tcp://b:y2@h2:8786/", "scheduler tcp://a:***@h1:8786, fallback tcp://b:***@h2:8786/"),
        ("mongodb://u:p1@h1:27017,h2:27017/db", "mongodb://u:***@h1:27017,h2:27017/db"),
        ("https://example.org/path/@scope/pkg", "https://example.org/path/@scope/pkg"),
    ],
)
def test_url_credentials_are_masked_keeping_user_host_port_path(text: str, shown: str) -> None:
    assert redact({"scheduler": text}) == {"scheduler": shown}
    assert redact_text(text) == shown


def test_bearer_tokens_and_private_key_blocks_are_masked() -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    shown = redact({"header": "Authorization: Bearer abc.DEF-123_xyz", "blob": f"key is {key} ok", "cut": key[:50]})
    assert shown == {"header": "Authorization: Bearer ***", "blob": "key is *** ok", "cut": MASK}


def test_well_known_token_formats_are_masked_anywhere() -> None:
    text = "tokens ghp_0123456789abcdefghijABCDEFGHIJ and AKIAABCDEFGHIJKLMNOP and glpat-0123456789abcdefghij"
    assert redact_text(text) == "tokens *** and *** and ***"


def test_redact_text_masks_pairs_in_reprs_logs_and_json_text() -> None:
    line = "SshOptions(host='h', password='hunter 2') token=abc123 {\"api_key\": \"zz9\"} keys=3 monkey=4"
    assert redact_text(line) == "SshOptions(host='h', password='***') token=*** {\"api_key\": \"***\"} keys=3 monkey=4"
    assert redact_text("Authorization: Basic dXNlcjpwYXNz") == "Authorization: Basic ***"


def test_redact_text_masks_command_line_secrets() -> None:
    line = "agilab run -o ssh.password=hunter2 --password hunter3 --token=abc --no-password --verbose --key-count 3"
    assert redact_text(line) == "agilab run -o ssh.password=*** --password *** --token=*** --no-password --verbose --key-count 3"


def test_redact_text_masks_given_literal_secrets_longest_first() -> None:
    text = "Traceback (most recent call last):\n  File x, line 3\nValueError: login failed for s3cr3t-long (s3cr3t)"
    shown = redact_text(text, ["s3cr3t", "s3cr3t-long", ""])
    assert shown == "Traceback (most recent call last):\n  File x, line 3\nValueError: login failed for *** (***)"


def test_redact_accepts_literal_secrets_for_any_string() -> None:
    assert redact({"msg": "no route to 127.0.0.1 with hunter22"}, secrets=["hunter22"]) == {"msg": "no route to 127.0.0.1 with ***"}


def test_secret_values_collects_what_redact_masks_for_use_in_log_lines() -> None:
    config = {"password": "hunter22", "scheduler": "tcp://u:pw-9876@h:8786", "args": {"dsn": "abcd1234"}, "pin": "x"}
    found = secret_values(config, ["args.dsn", "pin"])
    assert found == {"hunter22", "pw-9876", "abcd1234"}  # "x" is too short to search for in text
    assert redact_text("connect tcp://h:8786 as u with pw-9876 / hunter22", found) == "connect tcp://h:8786 as u with *** / ***"


# -- invariants ---------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
# Text that often contains the shapes redaction looks for.
FRAGMENTS = st.sampled_from(
    ["://", "@", ":", "=", "'", '"', " ", "/", "\n", ",", "tcp", "u", "pw", "password", "token", "key", "Bearer ", "--password ", "-",
     "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "ghp_", "a1b2c3d4e5f6g7h8", "***", "*"]
)
TRICKY_TEXT = st.lists(FRAGMENTS | st.text(max_size=3), max_size=12).map("".join)
TRICKY = st.recursive(
    st.none() | st.integers() | TRICKY_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TRICKY_TEXT | st.sampled_from(["password", "keys"]), children, max_size=3),
    max_leaves=12,
)


@given(JSON | TRICKY)
def test_any_json_value_redacts_without_error_to_json(value: Any) -> None:
    before = copy.deepcopy(value)
    json.dumps(redact(value))
    assert json.dumps(value) == json.dumps(before)  # not modified


@given(JSON | TRICKY)
def test_redaction_is_idempotent(value: Any) -> None:
    once = redact(value)
    assert json.dumps(redact(once)) == json.dumps(once)


@given(TRICKY_TEXT)
def test_redact_text_is_idempotent(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


# Harmless data: keys and strings without vowels cannot look like credentials or contain a secret.
SAFE_TEXT = st.text(alphabet="bcdfghjmnqvxz_", max_size=8)
SAFE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | SAFE_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(SAFE_TEXT, children, max_size=4),
    max_leaves=20,
)


@given(SAFE)
def test_harmless_data_is_unchanged(value: Any) -> None:
    assert redact(value) == value


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return None


MIXED_KEYS = SAFE_TEXT | st.sampled_from(["password", "client_keys", "token", "keys", "key_count", "secret"])
MIXED = st.recursive(
    st.none() | st.integers() | SAFE_TEXT | st.sampled_from(["hunter2", "tcp://u:pw@h:1"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(MIXED_KEYS, children, max_size=4),
    max_leaves=20,
)


@given(MIXED)
def test_keys_and_list_lengths_are_preserved(value: Any) -> None:
    assert _shape(redact(value)) == _shape(value)


# Secrets: start with a capital letter, so they never occur in the vowel-free skeleton.
SECRET = st.from_regex(r"[A-Z][A-Z0-9!$%&+=~.\-]{6,24}[0-9]", fullmatch=True)
TOKEN = st.from_regex(r"[A-Z][A-Za-z0-9]{14,30}[0-9]", fullmatch=True)
SECRET_NAMES = st.sampled_from(["password", "db_password", "token", "apiKey", "private_key", "client_keys", "key", "secret"])


@st.composite
def placed_secret(draw: st.DrawFn) -> tuple[str, Any]:
    """A secret and a value that holds it in one of the ways redaction must see."""
    kind = draw(st.sampled_from(["name", "name-list", "url", "url-token", "pair", "bearer", "pem"]))
    secret = draw(TOKEN if kind in ("url-token", "bearer") else SECRET)
    host = draw(SAFE_TEXT.filter(bool))
    value: Any = {
        "name": {draw(SECRET_NAMES): secret},
        "name-list": {draw(SECRET_NAMES): ["bc", secret]},
        "url": f"scheduler tcp://{host}:{secret}@{host}:8786/x and more",
        "url-token": f"clone https://{secret}@{host}/repo.git",
        "pair": f"connect failed: password={secret}, retrying",
        "bearer": f"Authorization: Bearer {secret}",
        "pem": f"-----BEGIN EC PRIVATE KEY-----\n{secret}\n-----END EC PRIVATE KEY-----",
    }[kind]
    return secret, value


def _bury(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.builds(lambda a, k, inner, b: [a, {k: inner}, b], SAFE, SAFE_TEXT, children, SAFE) | st.builds(
        lambda k, inner, rest: {**rest, k: (inner,)}, SAFE_TEXT, children, st.dictionaries(SAFE_TEXT, SAFE, max_size=3)
    )


@given(placed_secret().flatmap(lambda sv: st.tuples(st.just(sv[0]), st.recursive(st.just(sv[1]), _bury, max_leaves=4))))
@settings(max_examples=300)
def test_no_secret_survives_wherever_it_is_placed(case: tuple[str, Any]) -> None:
    secret, value = case
    assert secret not in json.dumps(redact(value))


@given(st.lists(SAFE_TEXT.filter(bool), min_size=1, max_size=4), SECRET, SAFE)
def test_no_secret_survives_under_a_declared_path(path: list[str], secret: str, sibling: Any) -> None:
    value: Any = secret
    for key in reversed(path):
        value = {key: value, "~other": sibling}
    assert secret not in json.dumps(redact(value, [".".join(path)]))


@given(placed_secret(), TRICKY_TEXT)
def test_no_known_secret_survives_in_text(case: tuple[str, Any], noise: str) -> None:
    secret, _ = case
    assert secret not in redact_text(f"{noise}{secret}{noise}", [secret])
