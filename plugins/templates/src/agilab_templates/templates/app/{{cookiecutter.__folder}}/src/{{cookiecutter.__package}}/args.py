"""Arguments of the {{ cookiecutter.name }} app: each default written once, here, with its help."""

from __future__ import annotations

import attrs


def _check_files(_: object, attribute: attrs.Attribute, value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must be a glob pattern such as '*.csv'")
    if ".." in value.replace("\\", "/").split("/"):
        raise ValueError(f"{attribute.name} must stay inside data_in, without '..': {value!r}")


@attrs.frozen
class {{ cookiecutter.__title }}Args:
    """Which files to read and which rows to keep; checked before any file is read."""

    data_in: str = attrs.field(default="data/{{ cookiecutter.name }}", metadata={"help": "folder of CSV files; relative paths are under the AGILab home"})
    files: str = attrs.field(default="*.csv", validator=_check_files, metadata={"help": "glob of the files to read, relative to data_in"})
    min_value: float = attrs.field(default=0.0, metadata={"help": "keep the rows whose value is at least this"})
