"""Typed settings: TOML and ``KEY=VALUE`` strings in, frozen attrs objects out.

One cattrs converter does every conversion in the kernel (settings, executor
options, manifest records), so a value means the same thing everywhere. Every
problem is reported as ``<source>: <problem> @ <field>`` on one line, where the
source is a file path or a command-line flag.

Numbers are checked for what they will be used as: an ``int`` field takes a
64-bit integer, a ``float`` field a finite number, and a number typed as text
(``--set``/``-o``) must be finite whatever its field, so ``nan``, ``inf`` or
``1e400`` never reach a run. A field marked ``attrs.field(metadata={"secret":
True})`` is listed by :func:`secret_fields`, so evidence can leave it out.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.gen import make_dict_unstructure_fn, override

from agilab_core.app import ItemResult
from agilab_core.errors import ConfigError

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=True)
converter.register_structure_hook(Path, lambda v, _: Path(v))
converter.register_unstructure_hook(Path, str)


INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _shown(value: Any) -> str:
    """``repr`` that stays short (and works) for integers of thousands of digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 96:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, str) and len(value) > 40:
        return repr(value[:37] + "...")
    return repr(value)


def _strict_int(value: Any, _: type) -> int:
    # cattrs would turn 1.5 into 1 and True into 1: a typo must not pass as a number.
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"expected an integer, got {_shown(value)}")
    if isinstance(value, str):
        text = value.strip()
        if len(text.lstrip("+-").replace("_", "")) > 19:  # beyond 64 bits, and int() of 5000 digits refuses
            raise ValueError(f"{_shown(value)} is out of range for a 64-bit integer")
        number = int(text)
    else:
        number = int(value)
    if not INT_MIN <= number <= INT_MAX:
        raise ValueError(f"{_shown(value)} is out of range for a 64-bit integer")
    return number


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{_shown(value)} is out of range for a float") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {_shown(value)}")
    return number


def _strict_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected true or false, got {value!r}")


converter.register_structure_hook(int, _strict_int)
converter.register_structure_hook(float, _strict_float)
converter.register_structure_hook(bool, _strict_bool)


# Item results are unstructured once per item; their free-form ``metrics`` are
# JSON-able builtins already, so copying them as-is beats walking them.
converter.register_unstructure_hook(
    ItemResult, make_dict_unstructure_fn(ItemResult, converter, metrics=override(unstruct_hook=dict))
)


def unstructure(obj: Any) -> Any:
    """attrs object (or anything) to JSON-able builtins."""
    return converter.unstructure(obj)


def _validator_message(exc: BaseException) -> str | None:
    """attrs validators raise ``(message, attribute, expected, value)``: say it in words."""
    args = exc.args
    if len(args) < 2 or not isinstance(args[1], attrs.Attribute):
        return None
    name = args[1].name
    if len(args) == 4 and isinstance(args[2], (list, tuple, set, frozenset, dict)) and "must be in" in str(args[0]):
        choices = ", ".join(str(c) for c in args[2])
        return f"{name}: {_shown(args[3])} is not one of {choices}"
    return f"{name}: {str(args[0]).strip().splitlines()[0]}" if str(args[0]).strip() else f"{name}: invalid value"


def _format(exc: BaseException, type_: Any) -> str:
    attrs_message = _validator_message(exc)
    if attrs_message:
        return attrs_message
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown field(s) {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, KeyError):
        return "required field missing"
    name = getattr(type_, "__name__", None) or str(type_)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if type_ is None:
        return f"invalid value: {detail}"
    return f"invalid value for {name}: {detail}"


def structure(data: Any, cls: type[T], source: str, path: str = "args") -> T:
    """Build ``cls`` from builtins or raise :class:`ConfigError` naming source and fields."""
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one readable line
        lines = cattrs.transform_error(exc, path=path, format_exception=_format)
        raise ConfigError(f"{source}: {'; '.join(lines)}") from None


def _problems(data: Any, cls: type) -> list[str]:
    try:
        converter.structure(data, cls)
    except Exception as exc:  # noqa: BLE001
        return cattrs.transform_error(exc, path="args", format_exception=_format)
    return []


# -- KEY=VALUE ------------------------------------------------------------------


def _is_text(tp: Any) -> bool:
    """True for ``str``/``Path`` and their optional forms: keep the raw string."""
    if tp in (str, Path):
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_text(a) for a in typing.get_args(tp) if a is not type(None))
    return False


def parse_value(raw: str, field_type: Any = None) -> Any:
    """A command-line value: a TOML literal (``5``, ``true``, ``[1, 2]``) or a string.

    Text fields keep the raw string, so an aircraft id ``007`` stays ``"007"``.
    """
    if field_type is not None and _is_text(field_type):
        return raw
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def split_assignments(pairs: list[str] | tuple[str, ...], flag: str) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` into ``{"a": "1", "b": "x=y"}``; values stay text."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{flag} {pair!r}: expected NAME=VALUE")
        out[key] = raw
    return out


def _finite(value: Any) -> bool:
    """No NaN, no infinity, no integer beyond 64 bits, at any depth."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return INT_MIN <= value <= INT_MAX
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _parsed_number(key: str, raw: str, field_type: Any) -> Any:
    """``parse_value`` that refuses, naming ``key``, a number no field can take."""
    value = parse_value(raw, field_type)
    if not _finite(value):
        raise ConfigError(f"{key}={_shown(raw)}: not a finite number within 64 bits")
    return value


def typed_values(values: Mapping[str, Any] | None, cls: type | None) -> dict[str, Any]:
    """Text values parsed by the type of ``cls``'s field of the same name; others kept.

    A text value read as ``nan``, an infinity or an integer beyond 64 bits is a
    :class:`ConfigError` naming its key, whatever the field's type.
    """
    if not values:
        return {}
    types_by_name: dict[str, Any] = {}
    if cls is not None and attrs.has(cls):
        types_by_name = {f.name: f.type for f in attrs.fields(attrs.resolve_types(cls))}
    return {k: _parsed_number(k, v, types_by_name.get(k)) if isinstance(v, str) else v for k, v in values.items()}


def fold_dotted(values: Mapping[str, Any] | None, cls: type | None) -> dict[str, Any]:
    """``{"cluster.cores": "4"}`` into ``{"cluster_options": {"cores": 4}}`` when ``cls`` has that field.

    Lets ``-o PREFIX.KEY=VALUE`` fill a free-form ``PREFIX_options`` mapping
    (keyword arguments of a class the executor builds, say); text values are
    read as TOML literals. Other dotted keys are kept, so the schema reports them.
    """
    out: dict[str, Any] = dict(values or {})
    names = {f.name for f in attrs.fields(cls)} if cls is not None and attrs.has(cls) else set()
    for key in [k for k in out if "." in k]:
        prefix, _, sub = key.partition(".")
        target = f"{prefix}_options"
        if target not in names or not sub:
            continue
        value = out.pop(key)
        folded = dict(out.get(target) or {})
        folded[sub] = _parsed_number(key, value, None) if isinstance(value, str) else value
        out[target] = folded
    return out


def secret_fields(cls: type, prefix: str = "") -> set[str]:
    """Dotted names of the fields of ``cls`` marked ``metadata={"secret": True}``, nested classes included.

    What evidence must not write: ``{"password", "ssh.key"}`` for a config whose
    ``ssh`` field is itself an attrs class with a secret ``key``.
    """
    return _secrets(cls, prefix, set())


def _secrets(cls: type, prefix: str, seen: set[type]) -> set[str]:
    if not (isinstance(cls, type) and attrs.has(cls)) or cls in seen:
        return set()
    seen = seen | {cls}
    found: set[str] = set()
    for f in attrs.fields(attrs.resolve_types(cls)):
        name = f"{prefix}{f.name}"
        if f.metadata.get("secret"):
            found.add(name)
        for inner in (f.type, *typing.get_args(f.type)):
            found |= _secrets(inner, f"{name}.", seen)
    return found


def parse_assignments(pairs: list[str] | tuple[str, ...], flag: str, cls: type | None = None) -> dict[str, Any]:
    """``["a=1", "b=x"]`` into ``{"a": 1, "b": "x"}``, typed by ``cls`` fields when given."""
    return typed_values(split_assignments(pairs, flag), cls)


# -- settings files -------------------------------------------------------------

SETTINGS_TABLES = ("args", "cluster", "seeded")


@attrs.frozen
class ClusterSettings:
    """The ``[cluster]`` table: defaults for ``--executor``, ``--workers``, ``--cython`` and ``-o``."""

    executor: str | None = None
    workers: str | None = None  # "N" or "HOST=N,..."; a TOML integer is accepted too
    cython: bool = False
    options: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class SeededFrom:
    """The ``[seeded]`` table: which app, at which version, the home's copy was written for."""

    app: str
    version: str


@attrs.frozen
class AppSettings:
    """A parsed settings file: raw ``[args]`` (typed later by the app), ``[cluster]``, and its ``[seeded]`` record."""

    path: Path | None
    args: dict[str, Any]
    cluster: ClusterSettings
    seeded: SeededFrom | None = None


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as builtins; :class:`ConfigError` naming the file (and line) otherwise."""
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (undecodable byte at offset {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def load_settings(path: Path | None) -> AppSettings:
    """Read an ``app_settings.toml``; a missing path gives empty settings."""
    if path is None or not path.exists():
        return AppSettings(path=path, args={}, cluster=ClusterSettings())
    data = read_toml(path)
    unknown = sorted(set(data) - set(SETTINGS_TABLES))
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(unknown)} (expected {', '.join(SETTINGS_TABLES)})")
    args = data.get("args", {})
    if not isinstance(args, dict):
        raise ConfigError(f"{path}: 'args' must be a table")
    cluster = structure(data.get("cluster", {}), ClusterSettings, str(path), path="cluster")
    seeded = structure(data["seeded"], SeededFrom, str(path), path="seeded") if "seeded" in data else None
    return AppSettings(path=path, args=args, cluster=cluster, seeded=seeded)


# -- writing TOML -----------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(key: str) -> str:
    """A TOML key: bare when it can be, else a quoted string."""
    return key if _BARE_KEY.fullmatch(key) else toml_value(key)


def toml_value(value: Any) -> str:
    """``value`` (builtins from :func:`unstructure`) as a TOML literal; ``ValueError`` when TOML has none (``None``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        if any("\ud800" <= c <= "\udfff" for c in value):
            raise ValueError(f"{_shown(value)} is not Unicode text (a lone surrogate)")
        escaped = json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
        return re.sub(r"[\x7f\x80-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"{_shown(value)} has no TOML form")


def build_args(args_type: type[T], settings: AppSettings, overrides: dict[str, Any]) -> T:
    """Settings-file args with ``--set`` overrides applied, as ``args_type``.

    Errors name the settings file for file values and ``--set`` for overrides.
    """
    known = {f.name for f in attrs.fields(cast(Any, args_type))}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ConfigError(f"--set: unknown field(s) {', '.join(bad)} (known: {', '.join(sorted(known))})")
    source = str(settings.path) if settings.path else "settings"
    problems = _problems({**settings.args, **overrides}, args_type)
    if not problems:
        return converter.structure({**settings.args, **overrides}, args_type)
    # Blame each problem on where its field's value came from.
    def from_override(problem: str) -> bool:
        message, _, where = problem.rpartition(" @ ")
        field = where.partition(".")[2].split(".")[0].split("[")[0]
        if field:
            return field in overrides
        # attrs validators fail at class level (no field path): go by the message
        return any(re.search(rf"\b{re.escape(key)}\b", message) for key in overrides)

    from_set = [p for p in problems if from_override(p)]
    from_file = [p for p in problems if p not in from_set]
    parts = ([f"{source}: {'; '.join(from_file)}"] if from_file else []) + ([f"--set: {'; '.join(from_set)}"] if from_set else [])
    raise ConfigError("; ".join(parts))
