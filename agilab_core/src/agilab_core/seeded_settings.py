"""The app's settings copy in a home: written on first use, upgraded with the app, shown and reset.

``<home>/apps/<app>/app_settings.toml`` is the user's file. It is written from
the app's defaults, which live in one place: the manager's ``args_type`` (a
field's ``metadata={"help": ...}`` becomes its comment). Every argument left
at its default is a commented line, so defaults keep following the installed
app; only values the user sets (or the app's packaged settings set apart from
the defaults) are real lines. A ``[seeded]`` table records the app version the
copy was written for.

When the installed app's version differs from the record, the copy is
upgraded: arguments the app declared renamed (``AppSpec.renamed``) carry
their value to the new name, arguments the app no longer has are dropped,
the user's other values are kept, and the file is rewritten with the new
defaults as comments. The previous file is kept as a numbered backup
(``app_settings.toml.N.bak``) and the change is reported in one line. A file
without a record (written by hand, or before records existed) is only
upgraded for renamed arguments. A file that cannot be read is never touched.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import attrs

from agilab_core.app import AppSpec
from agilab_core.atomic import atomic_path
from agilab_core.errors import ConfigError
from agilab_core.settings import AppSettings, load_settings, read_toml, toml_key, toml_value, unstructure

SETTINGS_FILE = "app_settings.toml"

#: Commented examples of the ``[cluster]`` keys the copy does not set: (line, comment).
CLUSTER_HINTS = (
    ("executor", 'executor = "pool"', "executor of `agilab run` (--executor); local when unset"),
    ("workers", 'workers = "2"', "N, or HOST=N,... (--workers)"),
    ("cython", "cython = true", "compile the app's cython_modules (--cython)"),
)


# -- what the app ships -------------------------------------------------------------


def app_version(spec: AppSpec) -> str | None:
    """``spec.version``, else the version of the distribution that ships the manager's package (None: unknown)."""
    if spec.version:
        return spec.version
    return _distribution_version(getattr(spec.manager, "__module__", "").partition(".")[0])


@functools.lru_cache(maxsize=64)
def _distribution_version(package: str) -> str | None:
    if not package:
        return None
    try:
        return metadata.version(package)  # names are normalised: agilab_app_flight finds agilab-app-flight
    except metadata.PackageNotFoundError:
        pass
    names = metadata.packages_distributions().get(package) or []  # slower: every installed distribution
    try:
        return metadata.version(names[0]) if names else None
    except metadata.PackageNotFoundError:
        return None


def packaged(spec: AppSpec) -> dict[str, Any]:
    """The app's packaged settings (``{"args": ..., "cluster": ...}``), empty when it ships none."""
    if not spec.settings:
        return {}
    package, _, resource = spec.settings.partition(":")
    try:
        path = resources.files(package).joinpath(resource or SETTINGS_FILE)
        with resources.as_file(path) as file:
            data = read_toml(Path(file)) if Path(file).is_file() else None
    except (ModuleNotFoundError, OSError) as exc:
        raise ConfigError(f"app {spec.name}: packaged settings {spec.settings!r} not found ({exc})") from None
    if data is None:
        raise ConfigError(f"app {spec.name}: packaged settings {spec.settings!r} not found")
    return data


def fields(spec: AppSpec) -> tuple[attrs.Attribute, ...]:
    """The fields of the app's ``args_type`` (none when it has no attrs one: the plugin check reports that)."""
    args_type = getattr(spec.manager, "args_type", None)
    return tuple(attrs.fields(attrs.resolve_types(args_type))) if isinstance(args_type, type) and attrs.has(args_type) else ()


def defaults(spec: AppSpec) -> dict[str, Any]:
    """Every argument's default as builtins (``None`` when unset); required arguments are left out."""
    out: dict[str, Any] = {}
    for field in fields(spec):
        value = _default(field)
        if value is not attrs.NOTHING:
            out[field.name] = value
    return out


def _default(field: attrs.Attribute) -> Any:
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            return attrs.NOTHING
        default = default.factory()
    return default if default is attrs.NOTHING else unstructure(default)


def _help(spec: AppSpec) -> dict[str, str]:
    """Each field's ``help``, made one printable line (a TOML comment ends at a line break)."""
    return {f.name: "".join(c if c.isprintable() else " " for c in " ".join(str(f.metadata["help"]).split())) for f in fields(spec) if "help" in f.metadata}


# -- writing the copy -----------------------------------------------------------------


def render(spec: AppSpec, version: str | None, args: Mapping[str, Any], cluster: Mapping[str, Any]) -> str:
    """The text of a settings copy holding ``args`` and ``cluster`` values, every other default commented."""
    lines = [
        f"# Settings of the app {spec.name}, yours to edit.",
        "# A commented line shows a default of the app: it follows the app's upgrades.",
        "# Uncomment it to set your own value.",
        "",
    ]
    if version:
        lines += ["[seeded]", f"app = {toml_value(spec.name)}", f"version = {toml_value(version)}", ""]
    helps, known = _help(spec), defaults(spec)
    lines.append("[args]")
    for field in fields(spec):
        name = field.name
        if name in args:
            lines.append(_line(f"{toml_key(name)} = {toml_value(args[name])}", helps.get(name)))
        elif name in known:
            lines.append(_line(f"# {toml_key(name)} = {shown(known[name])}", helps.get(name)))
        else:
            lines.append(_line(f"# {toml_key(name)} = ", f"required: {helps.get(name, 'no default')}"))
    names = {f.name for f in fields(spec)}
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in args.items() if k not in names]  # the run names them
    lines += ["", "[cluster]"]
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in cluster.items()]
    lines += [_line(f"# {example}", hint) for key, example, hint in CLUSTER_HINTS if key not in cluster]
    return "\n".join(lines) + "\n"


def shown(value: Any) -> str:
    """``value`` as written in a settings file ('' for unset, ``repr`` for what TOML cannot hold)."""
    try:
        return toml_value(value)
    except ValueError:
        return "" if value is None else repr(value)


def _line(text: str, comment: str | None) -> str:
    return f"{text:<34}  # {comment}" if comment else text.rstrip()


def fresh(spec: AppSpec) -> str:
    """The copy a new home gets: packaged values that differ from the defaults, the rest commented."""
    data = packaged(spec)
    known = defaults(spec)
    args = {k: v for k, v in dict(data.get("args", {})).items() if known.get(k, attrs.NOTHING) != v}
    return render(spec, app_version(spec), args, dict(data.get("cluster", {})))


def write(path: Path, text: str) -> None:
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write settings: {exc.strerror}") from None


def backup(path: Path) -> Path:
    """Copy ``path`` to the next free ``<name>.N.bak`` beside it, atomically; return the copy's path."""
    n = 1 + max((_backup_number(p.name, path.name) for p in path.parent.glob(f"{path.name}.*.bak")), default=0)
    target = path.with_name(f"{path.name}.{n}.bak")
    try:
        with atomic_path(target) as tmp:
            tmp.write_bytes(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot back up settings: {exc.strerror}") from None
    return target


def _backup_number(name: str, base: str) -> int:
    middle = name[len(base) + 1 : -len(".bak")]
    return int(middle) if middle.isdigit() else 0


# -- seeding and upgrading --------------------------------------------------------------


def seed(path: Path, spec: AppSpec) -> None:
    """Write the copy on first use; upgrade it when the app's version changed (one warning line)."""
    if not path.exists():
        write(path, fresh(spec))
        return
    line = upgrade(path, spec)
    if line:
        warnings.warn(f"agilab: {line}", stacklevel=3)


@attrs.frozen
class Upgrade:
    """What upgrading a copy changes: values carried to new names, values dropped, the new text."""

    renamed: tuple[tuple[str, str], ...]
    removed: tuple[str, ...]
    text: str


def plan_upgrade(settings: AppSettings, spec: AppSpec, version: str | None, raw_cluster: Mapping[str, Any]) -> Upgrade:
    """The copy upgraded to ``version``: renames applied, unknown arguments dropped, the user's values kept."""
    names = {f.name for f in fields(spec)}
    args = dict(settings.args)
    renamed: list[tuple[str, str]] = []
    removed: list[str] = []
    for old, new in spec.renamed.items():
        if old in args:
            value = args.pop(old)
            if new in args:
                removed.append(f"{old} (its new name {new} is set)")
            else:
                args[new] = value
                renamed.append((old, new))
    removed += sorted(k for k in args if k not in names)
    args = {k: v for k, v in args.items() if k in names}
    data = packaged(spec)
    known = defaults(spec)
    for key, value in dict(data.get("args", {})).items():
        if key in names and key not in args and known.get(key, attrs.NOTHING) != value:
            args[key] = value
    cluster = {**dict(data.get("cluster", {})), **raw_cluster}
    return Upgrade(tuple(renamed), tuple(removed), render(spec, version, args, cluster))


def upgrade(path: Path, spec: AppSpec) -> str | None:
    """Upgrade the copy at ``path`` if the app's version moved (or a renamed argument is in it); the report line, or None."""
    settings = load_settings(path)  # unreadable: ConfigError, and the file stays as it is
    version = app_version(spec)
    if settings.seeded is None:
        if not any(old in settings.args for old in spec.renamed):
            return None
        since = "a copy without a version record"
    elif version is None or settings.seeded.version == version:
        return None
    else:
        since = settings.seeded.version
    change = plan_upgrade(settings, spec, version, dict(read_toml(path).get("cluster", {})))
    kept = backup(path)
    write(path, change.text)
    parts = [f"renamed {', '.join(f'{a} -> {b}' for a, b in change.renamed)}"] if change.renamed else []
    parts += [f"removed {', '.join(change.removed)}"] if change.removed else []
    what = "; ".join(parts) or "new defaults only"
    return f"{path}: settings of app {spec.name} upgraded from {since} to {version or 'an unknown version'} ({what}); previous file kept as {kept.name}"


def reset(path: Path, spec: AppSpec) -> Path | None:
    """Replace the copy with a fresh one (even an unreadable file); the backup's path, None when there was no file."""
    kept = backup(path) if path.exists() else None
    write(path, fresh(spec))
    return kept
