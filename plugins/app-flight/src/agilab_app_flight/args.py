"""Arguments of the flight app, typed and checked before any file is read."""

from __future__ import annotations

import datetime as dt

import attrs

OUTPUT_FORMATS = ("parquet", "csv")
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


def parse_bound(value: str) -> tuple[dt.datetime, bool]:
    """A ``datemin``/``datemax`` string as a datetime, and whether it named a whole day.

    A bare day matters for ``datemax``: ``2021-01-01`` means "up to the end of
    that day", not "up to its first second".
    """
    text = value.strip()
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt), fmt == "%Y-%m-%d"
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a date: expected YYYY-MM-DD or YYYY-MM-DD HH:MM:SS")


def _check_bound(_: object, attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None:
        try:
            parse_bound(value)
        except ValueError as exc:
            raise ValueError(f"{attribute.name}: {exc}") from None


def _check_nfile(_: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0 (0 means every file), got {value}")


def _check_format(_: object, attribute: attrs.Attribute, value: str) -> None:
    if value not in OUTPUT_FORMATS:
        raise ValueError(f"{attribute.name} must be one of {', '.join(OUTPUT_FORMATS)}, got {value!r}")


def _check_positive(_: object, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value}")


def _check_files(_: object, attribute: attrs.Attribute, value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must be a glob pattern such as '*.csv'")
    if ".." in value.replace("\\", "/").split("/"):
        raise ValueError(f"{attribute.name} must stay inside data_in, without '..': {value!r}")


@attrs.frozen
class FlightArgs:
    """Which flight files to read, which time window to keep, how to write the result.

    These defaults are the app's only ones: the settings copy seeded into a
    home shows them as comments (with each field's ``help``) and follows them
    when the app is upgraded. ``data_in`` is resolved under the AGILab home
    when relative; its default is where the sample data is seeded. ``datemin`` is
    inclusive; ``datemax`` is inclusive too, and a bare day includes that whole day.
    ``max_file_mb`` (megabytes of 10**6 bytes) refuses any larger input before
    it is read: a flight file is a few MB (a day at 1 Hz is about 5 MB), and a
    worker holds its whole file and frame in memory.
    """

    data_in: str = attrs.field(default="data/flight", metadata={"help": "folder of flight CSV files, one flight per file"})
    files: str = attrs.field(default="*.csv", validator=_check_files, metadata={"help": "glob of the files to read, relative to data_in"})
    nfile: int = attrs.field(default=0, validator=_check_nfile, metadata={"help": "read only the first N files (sorted); 0 reads them all"})
    datemin: str | None = attrs.field(default=None, validator=_check_bound, metadata={"help": "keep rows at or after this (YYYY-MM-DD[ HH:MM:SS])"})
    datemax: str | None = attrs.field(default=None, validator=_check_bound, metadata={"help": "keep rows up to this; a bare day includes all of it"})
    output_format: str = attrs.field(default="parquet", validator=_check_format, metadata={"help": "parquet | csv"})
    max_file_mb: float = attrs.field(default=256.0, validator=_check_positive, metadata={"help": "refuse (fail the item) any larger input, before reading it"})

    def __attrs_post_init__(self) -> None:
        window = self.window()
        if window[0] is not None and window[1] is not None and window[0] >= window[1]:
            raise ValueError(f"datemin {self.datemin!r} is not before datemax {self.datemax!r}")

    def size_problem(self, name: str, size: int) -> str | None:
        """Why an input of ``size`` bytes is refused, in one line naming it, or None when it is not."""
        if size <= self.max_file_mb * 1_000_000:
            return None
        return f"{name}: {size:,} bytes is over max_file_mb = {self.max_file_mb:g} MB; flight files are far smaller, raise max_file_mb to read it anyway"

    def window(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """Half-open time window ``[start, end)`` the rows must fall in (None: unbounded)."""
        start = parse_bound(self.datemin)[0] if self.datemin is not None else None
        end = None
        if self.datemax is not None:
            end, whole_day = parse_bound(self.datemax)
            end += dt.timedelta(days=1) if whole_day else dt.timedelta(seconds=1)
        return start, end
