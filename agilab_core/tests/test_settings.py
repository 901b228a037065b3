"""Settings: TOML and KEY=VALUE in, frozen attrs out, one line per problem."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs
import pytest
from agilab_core.app import ItemError, ItemResult, OutputFile, WorkItem
from agilab_core.errors import ConfigError
from agilab_core.plan import WorkersSpec
from agilab_core.settings import (
    AppSettings,
    ClusterSettings,
    build_args,
    converter,
    load_settings,
    parse_assignments,
    parse_value,
    structure,
    unstructure,
)
from hypothesis import given
from hypothesis import strategies as st


@attrs.frozen
class Args:
    nfile: int = 1
    name: str = "x"
    aircraft: str | None = None
    flag: bool = False
    ratio: float = attrs.field(default=0.5, validator=attrs.validators.le(1.0))
    tags: list[str] = attrs.field(factory=list)
    folder: Path = Path("data")


@attrs.frozen
class Required:
    path: str
    n: int


# -- parse_value / parse_assignments ---------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5", 5), ("1.5", 1.5), ("true", True), ("false", False), ("[1, 2]", [1, 2]), ('"quoted"', "quoted"), ("{a = 1}", {"a": 1})],
)
def test_parse_value_reads_toml_literals(raw: str, expected: object) -> None:
    assert parse_value(raw) == expected


@pytest.mark.parametrize("raw", ["hello world", "007", "", "a=b", "/tmp/x"])
def test_parse_value_keeps_non_toml_text_as_string(raw: str) -> None:
    assert parse_value(raw) == raw


@pytest.mark.parametrize("field_type", [str, Path, str | None, "optional"])
def test_parse_value_keeps_raw_string_for_text_fields(field_type: object) -> None:
    import typing

    tp = typing.Optional[str] if field_type == "optional" else field_type  # noqa: UP007, UP045 - the old spelling must work too
    assert parse_value("007", tp) == "007"
    assert parse_value("true", tp) == "true"
    assert parse_value("[1, 2]", tp) == "[1, 2]"


def test_parse_assignments_types_values_by_field() -> None:
    out = parse_assignments(["nfile=5", "aircraft=007", "name=true", "flag=true", "tags=['a', 'b']"], "--set", Args)
    assert out == {"nfile": 5, "aircraft": "007", "name": "true", "flag": True, "tags": ["a", "b"]}


def test_parse_assignments_keeps_equals_signs_in_the_value() -> None:
    assert parse_assignments(["name=a=b"], "--set", Args) == {"name": "a=b"}


@pytest.mark.parametrize("pair", ["nfile", "=5", " =5"])
def test_parse_assignments_rejects_pairs_without_key_or_equals(pair: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_assignments([pair], "--set", Args)
    message = str(info.value)
    assert message.startswith("--set ")
    assert repr(pair) in message
    assert "NAME=VALUE" in message


# -- structure: strict types, one-line errors ------------------------------------------


def _error(data: dict, cls: type = Args, source: str = "--set") -> str:
    with pytest.raises(ConfigError) as info:
        structure(data, cls, source)
    message = str(info.value)
    assert "\n" not in message
    assert "Traceback" not in message
    return message


def test_structure_error_names_source_type_and_field() -> None:
    message = _error({"nfile": "abc"})
    assert message.startswith("--set: invalid value for int")
    assert message.endswith("@ args.nfile")


@pytest.mark.parametrize("bad", [1.5, True, False, "abc", "1.5", [1]])
def test_int_fields_reject_non_integers(bad: object) -> None:
    message = _error({"nfile": bad})
    assert "@ args.nfile" in message


@pytest.mark.parametrize(("good", "expected"), [(3, 3), (2.0, 2), ("7", 7), (" 8 ", 8)])
def test_int_fields_accept_integral_values(good: object, expected: int) -> None:
    assert structure({"nfile": good}, Args, "--set").nfile == expected


@pytest.mark.parametrize("bad", ["maybe", 2, 0.5, "", [True]])
def test_bool_fields_reject_non_booleans(bad: object) -> None:
    assert "@ args.flag" in _error({"flag": bad})


@pytest.mark.parametrize(
    ("good", "expected"), [(True, True), ("yes", True), ("FALSE", False), (1, True), (0, False), ("0", False)]
)
def test_bool_fields_accept_boolean_spellings(good: object, expected: bool) -> None:
    assert structure({"flag": good}, Args, "--set").flag is expected


def test_float_fields_reject_booleans() -> None:
    assert "@ args.ratio" in _error({"ratio": True})


def test_validator_message_surfaces() -> None:
    message = _error({"ratio": 2.0}, source="settings.toml")
    assert message.startswith("settings.toml: ")
    assert "'ratio' must be <= 1.0" in message


def test_unknown_field_is_named() -> None:
    message = _error({"nfiles": 3})
    assert "unknown field(s) nfiles" in message


def test_missing_required_field_is_named() -> None:
    message = _error({"path": "p"}, cls=Required, source="f.toml")
    assert message == "f.toml: required field missing @ args.n"


def test_several_problems_are_joined_on_one_line() -> None:
    message = _error({"nfile": "abc", "flag": "maybe"})
    assert "@ args.nfile" in message and "@ args.flag" in message


def test_path_fields_become_paths_and_unstructure_to_strings() -> None:
    args = structure({"folder": "in/put"}, Args, "--set")
    assert args.folder == Path("in/put")
    assert unstructure(args)["folder"] == "in/put"


# -- load_settings ---------------------------------------------------------------------


def test_missing_settings_file_gives_empty_settings(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml")
    assert settings.args == {}
    assert settings.cluster == ClusterSettings()


def test_load_settings_reads_args(tmp_path: Path) -> None:
    path = tmp_path / "app_settings.toml"
    path.write_text('[args]\nnfile = 3\nname = "abc"\n', encoding="utf-8")
    settings = load_settings(path)
    assert settings.path == path
    assert settings.args == {"nfile": 3, "name": "abc"}


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "app_settings.toml"
    path.write_text("[args]\nnfile = 3\nname = = oops\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "line 3" in message
    assert "\n" not in message


def test_unknown_top_level_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app_settings.toml"
    path.write_text("[args]\n[clusterr]\nexecutor = 'pool'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == f"{path}: unknown table(s) clusterr (expected args, cluster, seeded)"


def test_args_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app_settings.toml"
    path.write_text("args = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'args' must be a table"):
        load_settings(path)


def test_settings_file_with_only_args_loads(tmp_path: Path) -> None:
    # A file without [cluster] must give the default cluster settings.
    path = tmp_path / "app_settings.toml"
    path.write_text("[args]\nnfile = 1\n", encoding="utf-8")
    assert load_settings(path).cluster == ClusterSettings()


def test_cluster_table_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "app_settings.toml"
    path.write_text('[cluster]\nexecutor = "pool"\nworkers = 4\n[cluster.options]\nretries = 2\n', encoding="utf-8")
    cluster = load_settings(path).cluster
    assert cluster.executor == "pool"
    assert cluster.options == {"retries": 2}
    # a TOML integer is accepted; it means the same as "--workers 4"
    assert str(cluster.workers) == "4"
    assert WorkersSpec.parse(cluster.workers).total == 4


def test_cluster_workers_may_be_a_host_list(tmp_path: Path) -> None:
    path = tmp_path / "app_settings.toml"
    path.write_text('[cluster]\nworkers = "a=2,b=3"\n', encoding="utf-8")
    assert load_settings(path).cluster.workers == "a=2,b=3"


def test_unknown_cluster_key_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "app_settings.toml"
    path.write_text('[cluster]\nexecuter = "pool"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "executer" in message
    assert "@ cluster" in message


# -- build_args --------------------------------------------------------------------------


def _settings(path: Path | None, args: dict) -> AppSettings:
    return AppSettings(path=path, args=args, cluster=ClusterSettings())


def test_build_args_applies_overrides_over_file_values(tmp_path: Path) -> None:
    args = build_args(Args, _settings(tmp_path / "s.toml", {"nfile": 2, "name": "file"}), {"name": "cli"})
    assert args == Args(nfile=2, name="cli")


def test_build_args_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    with pytest.raises(ConfigError) as info:
        build_args(Args, _settings(path, {"nfile": "abc"}), {})
    assert str(info.value).startswith(f"{path}: invalid value for int")
    assert str(info.value).endswith("@ args.nfile")


def test_build_args_file_error_names_the_file_even_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    with pytest.raises(ConfigError) as info:
        build_args(Args, _settings(path, {"nfile": "abc"}), {"name": "ok"})
    assert str(info.value).startswith(f"{path}: ")
    assert "@ args.nfile" in str(info.value)


def test_build_args_override_error_names_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_args(Args, _settings(tmp_path / "s.toml", {"nfile": 2}), {"nfile": "abc"})
    assert str(info.value).startswith("--set: invalid value for int")
    assert str(info.value).endswith("@ args.nfile")


def test_build_args_override_can_fix_a_bad_file_value(tmp_path: Path) -> None:
    args = build_args(Args, _settings(tmp_path / "s.toml", {"nfile": "abc"}), {"nfile": 4})
    assert args.nfile == 4


def test_build_args_blames_set_when_the_override_supplies_a_field_the_file_lacks(tmp_path: Path) -> None:
    # The file is fine once --set provides ``n``; the bad value is the override's.
    path = tmp_path / "s.toml"
    with pytest.raises(ConfigError) as info:
        build_args(Required, _settings(path, {"path": "p"}), {"n": "abc"})
    assert str(info.value).startswith("--set: invalid value for int")
    assert str(info.value).endswith("@ args.n")


def test_build_args_unknown_override_lists_known_fields(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_args(Args, _settings(tmp_path / "s.toml", {}), {"nfiles": 3})
    message = str(info.value)
    assert message.startswith("--set: unknown field(s) nfiles")
    assert "known: aircraft, flag, folder, name, nfile, ratio, tags" in message


def test_build_args_without_a_file_says_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_args(Required, _settings(None, {}), {})
    assert str(info.value).startswith("settings: required field missing")


# -- round trips ---------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
sha = st.text("0123456789abcdef", min_size=64, max_size=64)
output_files = st.builds(OutputFile, path=st.text(min_size=1, max_size=30), sha256=sha, bytes=st.integers(0, 2**40))
item_errors = st.builds(ItemError, type=st.text(max_size=20), message=st.text(max_size=40), traceback=st.text(max_size=60))
item_results = st.builds(
    ItemResult,
    item_id=st.text(min_size=1, max_size=30),
    status=st.sampled_from(["ok", "failed"]),
    worker=st.text(max_size=20),
    host=st.text(max_size=20),
    started=finite,
    finished=finite,
    rows=st.integers(0, 2**40),
    bytes_in=st.integers(0, 2**40),
    bytes_out=st.integers(0, 2**40),
    outputs=st.lists(output_files, max_size=3).map(tuple),
    metrics=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    error=st.none() | item_errors,
    attempts=st.integers(1, 10),
    runtime=st.sampled_from(["python", "cython"]),
)


@given(st.builds(WorkItem, id=st.text(min_size=1, max_size=30), payload=json_values, weight=finite))
def test_work_item_round_trips(item: WorkItem) -> None:
    assert converter.structure(unstructure(item), WorkItem) == item


@given(output_files)
def test_output_file_round_trips(out: OutputFile) -> None:
    assert converter.structure(unstructure(out), OutputFile) == out


@given(item_results)
def test_item_result_round_trips(result: ItemResult) -> None:
    assert converter.structure(unstructure(result), ItemResult) == result


@given(item_results)
def test_item_result_round_trips_through_json(result: ItemResult) -> None:
    # The manifest stores results as JSON: tuples come back as lists.
    data = json.loads(json.dumps(unstructure(result)))
    assert converter.structure(data, ItemResult) == result


# -- -o PREFIX.KEY=VALUE ----------------------------------------------------------------


@attrs.frozen
class _ClusterOpts:
    cluster: str | None = None
    cluster_options: dict[str, Any] = attrs.field(factory=dict)


def test_dotted_options_fold_into_the_prefix_options_mapping() -> None:
    from agilab_core.settings import fold_dotted

    folded = fold_dotted({"cluster": "distributed:LocalCluster", "cluster.n_workers": "2", "cluster.name": "x y", "cluster.processes": True}, _ClusterOpts)
    assert folded == {"cluster": "distributed:LocalCluster", "cluster_options": {"n_workers": 2, "name": "x y", "processes": True}}
    assert structure(folded, _ClusterOpts, "-o").cluster_options["n_workers"] == 2


def test_dotted_options_merge_with_a_mapping_from_the_settings_file() -> None:
    from agilab_core.settings import fold_dotted

    folded = fold_dotted({"cluster_options": {"cores": 4, "queue": "long"}, "cluster.queue": "short"}, _ClusterOpts)
    assert folded["cluster_options"] == {"cores": 4, "queue": "short"}


def test_dotted_keys_without_a_target_mapping_are_left_for_the_schema_to_report() -> None:
    from agilab_core.settings import fold_dotted

    folded = fold_dotted({"scheduler.port": "1"}, _ClusterOpts)
    assert folded == {"scheduler.port": "1"}
    with pytest.raises(ConfigError, match=r"scheduler\.port"):
        structure(folded, _ClusterOpts, "-o")


# -- a binary settings file, validator messages, numbers typed as text ----------------------


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff", "[args]\nname = 'caf\xe9'\n".encode("latin-1")])
def test_a_binary_or_non_utf8_settings_file_is_one_line_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "app_settings.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: not a UTF-8 text file (undecodable byte at offset ")
    assert "\n" not in str(info.value)


def test_a_settings_file_with_a_nul_byte_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "app_settings.toml"
    path.write_bytes(b"[args]\nname = 1\x00\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


@attrs.frozen
class Choice:
    output_format: str = attrs.field(default="csv", validator=attrs.validators.in_(["parquet", "csv"]))
    level: int = attrs.field(default=1, validator=attrs.validators.instance_of(int))


def test_an_in_validator_failure_is_one_human_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        structure({"output_format": "xls"}, Choice, "app_settings.toml")
    assert str(info.value) == "app_settings.toml: output_format: 'xls' is not one of parquet, csv @ args"


def test_an_in_validator_failure_from_set_blames_set(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[args]\nlevel = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        build_args(Choice, load_settings(path), {"output_format": "xls"})
    assert str(info.value) == "--set: output_format: 'xls' is not one of parquet, csv @ args"


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "+inf", "1e400", "[1.0, nan]", "{a = inf}", "99999999999999999999", "-9223372036854775809"])
@pytest.mark.parametrize("key", ["ratio", "nfile", "untyped"])
def test_a_number_given_as_text_must_be_finite_and_fit_64_bits(key: str, raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_assignments([f"{key}={raw}"], "--set", Args)
    assert str(info.value) == f"{key}={raw!r}: not a finite number within 64 bits"


@pytest.mark.parametrize(("raw", "expected"), [("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -(2**63)), ("1.7e308", 1.7e308)])
def test_numbers_at_the_edges_of_64_bits_are_accepted(raw: str, expected: float) -> None:
    assert parse_assignments([f"x={raw}"], "--set") == {"x": expected}


def test_a_dotted_option_given_as_text_must_be_finite() -> None:
    from agilab_core.settings import fold_dotted

    with pytest.raises(ConfigError, match=r"^cluster\.cores='nan': not a finite number within 64 bits$"):
        fold_dotted({"cluster.cores": "nan"}, _ClusterOpts)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("ratio", float("nan"), "expected a finite number, got nan @ args.ratio"),
        ("ratio", float("inf"), "expected a finite number, got inf @ args.ratio"),
        ("ratio", 10**400, "is out of range for a float @ args.ratio"),
        ("nfile", 1e308, "1e+308 is out of range for a 64-bit integer @ args.nfile"),
        ("nfile", 2**63, "9223372036854775808 is out of range for a 64-bit integer @ args.nfile"),
        ("nfile", 10**5000, "an integer of 16610 bits is out of range for a 64-bit integer @ args.nfile"),
        ("nfile", "9" * 5000, "is out of range for a 64-bit integer @ args.nfile"),
    ],
    ids=["nan", "inf", "huge-int-float", "1e308-int", "2**63", "10**5000", "5000-digits"],
)
def test_number_fields_refuse_values_outside_their_type(field: str, value: object, expected: str) -> None:
    message = _error({field: value}, source="f.toml")
    assert message.startswith("f.toml: ") and message.endswith(expected)
    assert len(message) < 200


@given(st.text(max_size=30))
def test_any_text_for_a_number_field_is_a_number_or_one_config_error(raw: str) -> None:
    for key in ("nfile", "ratio"):
        try:
            args = structure(parse_assignments([f"{key}={raw}"], "--set", Args), Args, "--set")
        except ConfigError as exc:
            assert "\n" not in str(exc)
        else:
            value = getattr(args, key)
            assert isinstance(value, (int, float)) and math.isfinite(value)


# -- secret fields ----------------------------------------------------------------


@attrs.frozen
class Tunnel:
    host: str = "h"
    key: str = attrs.field(default="", metadata={"secret": True})


@attrs.frozen
class Connection:
    user: str = "u"
    password: str = attrs.field(default="", metadata={"secret": True})
    tunnel: Tunnel = Tunnel()
    backup: Tunnel | None = None
    token: str = attrs.field(default="", metadata={"secret": False})


def test_secret_fields_lists_marked_fields_by_dotted_name() -> None:
    from agilab_core.settings import secret_fields

    assert secret_fields(Connection) == {"password", "tunnel.key", "backup.key"}
    assert secret_fields(Tunnel) == {"key"}
    assert secret_fields(Args) == set()
    assert secret_fields(dict) == set()


@attrs.define
class Node:
    secret: str = attrs.field(default="", metadata={"secret": True})
    child: Node | None = None


def test_secret_fields_of_a_recursive_class_ends() -> None:
    from agilab_core.settings import secret_fields

    assert secret_fields(Node) == {"secret"}
