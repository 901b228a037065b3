"""Reading one flight file into a typed, validated frame, or one line that says what is wrong.

The hot path is one ``read_csv`` with the column types forced, one count of
the separators in the raw bytes (polars pads a row with too few fields with
nulls, so a short row would otherwise pass for empty cells), and one
vectorised pass over dates and coordinates. Only a file that fails one of
these is scanned further, still vectorised (numpy over the raw bytes), to
name its first bad line: the 1-based line of the file, header included.

A file is refused when a row has the wrong number of fields, a coordinate is
not a number, not finite or out of range (``|lat| > 90``, ``|long| > 180``),
or a date is empty or not ``YYYY-MM-DD HH:MM:SS``. Empty coordinate cells and
empty aircraft cells are nulls; blank lines are skipped.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

import attrs
import polars as pl

if TYPE_CHECKING:
    import numpy as np

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_SHAPE = "YYYY-MM-DD HH:MM:SS"
INDEX_COLUMN = ""  # the unnamed index a pandas ``to_csv`` writes first
REQUIRED = ("date", "aircraft", "long", "lat")
COORDINATES = ("long", "lat", "alt")
#: Largest magnitude of each bounded coordinate, in degrees.
BOUNDS = {"long": 180.0, "lat": 90.0}

# Ids like "60" and "007" must stay text in every file, and coordinates must be
# Float64 everywhere, or the parts of one dataset would not share a schema.
READ_TYPES: dict[str, Any] = {
    "date": pl.Utf8,
    "aircraft": pl.Utf8,
    "long": pl.Float64,
    "lat": pl.Float64,
    "alt": pl.Float64,
}

#: Local bytes need no cloud credentials; not looking for them saves a tenth of a small file's read.
NO_CLOUD: dict[str, Any] = {"credential_provider": None}

_NL, _CR, _COMMA, _QUOTE = b"\n"[0], b"\r"[0], b","[0], b'"'[0]


class FlightFileError(ValueError):
    """A flight file that cannot be used, with a one-line reason naming the file."""


def parse_flight(content: bytes, name: str) -> pl.DataFrame:
    """The flight file ``name`` (its bytes) as a frame: ``date`` parsed, coordinates Float64, aircraft text.

    Columns come in one order for every file: ``date, aircraft, long, lat,
    alt`` (null when the file has none), then the extra columns; the unnamed
    index is dropped.

    Parsing bytes already in memory is markedly faster than letting polars
    open a small file itself. ``name`` is only used in messages. Raises
    :class:`FlightFileError`.
    """
    frame = _read(content, name)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise FlightFileError(f"{name}: missing column(s) {', '.join(missing)}")
    lines = None  # the file line of each row, when it is not simply row + 2
    if b'"' in content or content.count(b",") != (frame.height + 1) * (frame.width - 1):
        frame, lines = _drop_blank_rows(frame, _check_fields(content, name, frame.columns))
    layout, any_bad, bad = _checks(tuple(frame.columns))
    flight = frame.select(layout)
    if flight.select(any_bad).item():
        row = int(flight.select(bad).to_series().arg_true()[0])
        raise FlightFileError(f"{name}, {_line(row, lines)}, {_value_problem(frame, flight, row)}")
    return flight


@functools.cache
def _checks(columns: tuple[str, ...]) -> tuple[list[pl.Expr], pl.Expr, pl.Expr]:
    """For files with these columns: the flight's layout (dates parsed), whether any row is bad, which.

    The layout is the same for every file: the reference columns, ``alt``
    (null when the file has none), the extra columns, the unnamed index
    dropped. Built once per column layout: building expressions costs more
    than running them on a small file.
    """
    extras = [c for c in columns if c not in (INDEX_COLUMN, *REQUIRED, *COORDINATES)]
    alt = pl.col("alt") if "alt" in columns else pl.lit(None, dtype=pl.Float64).alias("alt")
    date = pl.col("date").str.strptime(pl.Datetime("us"), DATE_FORMAT, strict=False)
    layout = [date, pl.col("aircraft"), pl.col("long"), pl.col("lat"), alt, *(pl.col(c) for c in extras)]
    bad = pl.any_horizontal(pl.col("date").is_null(), *(_out_of_bounds(c) for c in COORDINATES))
    return layout, bad.any(), bad


def _read(content: bytes, name: str) -> pl.DataFrame:
    try:
        return pl.read_csv(content, schema_overrides=READ_TYPES, **NO_CLOUD)
    except pl.exceptions.NoDataError:
        raise FlightFileError(f"{name}: empty file, expected a header with {', '.join(REQUIRED)}") from None
    except pl.exceptions.PolarsError as exc:
        refused = exc
    try:
        raise_unreadable(content, name)
        # an extra column whose values change type after the first rows: infer from all of them
        return pl.read_csv(content, schema_overrides=READ_TYPES, infer_schema_length=None, **NO_CLOUD)
    except pl.exceptions.PolarsError:
        first = str(refused).strip().splitlines()[0] if str(refused).strip() else type(refused).__name__
        raise FlightFileError(f"{name}: cannot read flight: {first}") from None


def _out_of_bounds(column: str) -> pl.Expr:
    """True where a coordinate is NaN, infinite or beyond its bound; null where it is empty."""
    value = pl.col(column)
    bad = ~value.is_finite()
    if column in BOUNDS:
        bad = bad | (value.abs() > BOUNDS[column])
    return bad


def _value_problem(frame: pl.DataFrame, flight: pl.DataFrame, row: int) -> str:
    """``"<column>: what is wrong"`` for a row the vectorised checks refused (``frame`` has the date as text)."""
    if flight.get_column("date")[row] is None:
        text = frame.get_column("date")[row]
        return "date: empty" if text is None else f"date: {text!r} does not match {DATE_SHAPE}"
    for column in COORDINATES:
        value = flight.get_column(column)[row]
        if value is None:
            continue
        if not math.isfinite(value):
            return f"{column}: {value!r} is not a finite number"
        if column in BOUNDS and abs(value) > BOUNDS[column]:
            return f"{column}: {value!r} is outside -{BOUNDS[column]:g}..{BOUNDS[column]:g} degrees"
    return "cannot be read"  # not reached: the checks refused the row for one of the reasons above


def _line(row: int, lines: np.ndarray | None) -> str:
    return f"line {row + 2 if lines is None else int(lines[row])}"


# -- the bytes of a file, as records ------------------------------------------------------


@attrs.frozen
class Records:
    """The records (rows, header first) of a CSV text, found without parsing it.

    ``line`` is the 1-based file line each record starts on, ``fields`` its
    number of fields, ``blank`` whether it is an empty line. Separators and
    line ends inside double quotes do not count (a doubled quote toggles twice).
    """

    line: np.ndarray
    fields: np.ndarray
    blank: np.ndarray


def records(content: bytes) -> Records:
    """Split ``content`` into records, vectorised (numpy over the bytes)."""
    import numpy as np  # only for a file that failed a check, or has quotes: a worker that never sees one never loads numpy

    data = np.frombuffer(content, dtype=np.uint8)
    newlines = np.flatnonzero(data == _NL)
    ends, commas = newlines, np.flatnonzero(data == _COMMA)
    if b'"' in content:
        quotes = np.flatnonzero(data == _QUOTE)
        ends = ends[np.searchsorted(quotes, ends) % 2 == 0]
        commas = commas[np.searchsorted(quotes, commas) % 2 == 0]
    if data.size and (not ends.size or ends[-1] != data.size - 1):
        ends = np.append(ends, data.size)  # a last line without a line end
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    length = ends - starts
    first = data[np.minimum(starts, max(data.size - 1, 0))] if data.size else np.zeros(0, np.uint8)
    return Records(
        line=np.searchsorted(newlines, starts) + 1,
        fields=np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1,
        blank=(length == 0) | ((length == 1) & (first == _CR)),
    )


def _check_fields(content: bytes, name: str, header: list[str]) -> Records:
    """The file's records; raises for the first non-blank one whose field count differs from the header's."""
    import numpy as np

    found = records(content)
    width = len(header)
    wrong = np.flatnonzero((found.fields != width) & ~found.blank)
    if wrong.size:
        at = int(wrong[0])
        fields, line = int(found.fields[at]), int(found.line[at])
        if fields < width:
            raise FlightFileError(f"{name}, line {line}, {header[fields] or 'index'}: missing, the row has {fields} of the header's {width} fields")
        raise FlightFileError(f"{name}, line {line}: {fields} fields where the header has {width}")
    return found


def _drop_blank_rows(frame: pl.DataFrame, found: Records) -> tuple[pl.DataFrame, np.ndarray | None]:
    """The frame without the rows of blank lines, and the file line of each row left."""
    data_lines, blank = found.line[1:], found.blank[1:]
    if frame.height == blank.size:  # polars made a row of nulls of each blank line
        if blank.any():
            frame = frame.filter(pl.Series(~blank))
        return frame, data_lines[~blank]
    if frame.height == int((~blank).sum()):  # polars skipped them
        return frame, data_lines[~blank]
    return frame, None  # quotes polars reads otherwise (inside a field): lines are approximate


def raise_unreadable(content: bytes, name: str) -> None:
    """Raise for the first line polars could not read, if one is found: bytes, fields or a coordinate."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise FlightFileError(f"{name}, line {line}: byte 0x{content[exc.start]:02x} is not UTF-8 text") from None
    header = pl.read_csv(content, n_rows=0, **NO_CLOUD).columns
    found = _check_fields(content, name, header)
    text = pl.read_csv(content, infer_schema=False, **NO_CLOUD)
    text, lines = _drop_blank_rows(text, found)
    first: tuple[int, str] | None = None
    for column in COORDINATES:
        if column not in text.columns:
            continue
        raw = text.get_column(column)
        number = raw.str.strip_chars().cast(pl.Float64, strict=False)
        bad = (raw.is_not_null() & number.is_null()).arg_true()
        if bad.len() and (first is None or int(bad[0]) < first[0]):
            first = (int(bad[0]), f"{column}: {raw[int(bad[0])]!r} is not a number")
    if first is not None:
        raise FlightFileError(f"{name}, {_line(first[0], lines)}, {first[1]}")
