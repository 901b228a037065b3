"""Names of flight files: item ids for input paths, dataset part names for item ids.

Both are injective and reversible, so no two inputs share an id and no two
items write the same part, whatever bytes the file names hold:

- An **item id** is the input's path relative to ``data_in``, in POSIX form,
  with ``%XX`` (upper-case hex) for every byte that is not plain printable
  text: ``%`` itself, bytes that are not UTF-8 (Linux allows any byte but
  ``/`` and NUL in a name), control characters (C0, DEL, C1), line and
  paragraph separators and bidirectional controls. So an id is valid
  Unicode, JSON-safe, one line, and harmless on a terminal, while
  ``b"\\xff.csv"`` is ``"%FF.csv"`` and ``a%b.csv`` is ``"a%25b.csv"``.
  :func:`input_path` turns an id back into the path.
- A **part name** is the whole id as one file name: ``%`` and ``/`` escaped
  (and what an id escapes, should it be given other text) (``x/y.csv`` -> ``x%2Fy.csv``, ``x%2Fy.csv`` -> ``x%252Fy.csv``), a
  leading ``.`` or ``_`` escaped (dataset readers skip such files as hidden),
  then the output suffix. A name longer than :data:`PART_NAME_BYTES` keeps a
  prefix and ends with ``%-`` and a hash of the whole id: ``%-`` never occurs
  in an escaped name, so a shortened name cannot meet an unshortened one.
"""

from __future__ import annotations

import hashlib
import os
import re
from urllib.parse import unquote, unquote_to_bytes

#: Longest part file name, in UTF-8 bytes with its suffix: under the 255-byte
#: limit of file names, with room for the temporary name it is written under.
PART_NAME_BYTES = 200
#: Marks a shortened part name; it is followed by :data:`HASH_CHARS` hex digits.
SHORTENED = "%-"
HASH_CHARS = 20

# Characters an id writes as %XX: '%', control characters, line/paragraph
# separators, bidirectional controls, and the lone surrogates that stand for
# bytes that are not UTF-8 (os.fsdecode's surrogateescape). A fixed list, so
# ids do not change with the Unicode version.
_NOT_PLAIN_CHARS = "%\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff"
_NOT_PLAIN = re.compile(f"[{_NOT_PLAIN_CHARS}]")
# A part name escapes the same, for any text it is given, and '/', and a leading '.' or '_'.
_PART_ESCAPED = re.compile(f"[/{_NOT_PLAIN_CHARS}]|^[._]")


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in os.fsencode(match.group()))


def item_id(relative: str) -> str:
    """The item id of an input, from its relative POSIX path as ``os.fsdecode`` gives it."""
    return _NOT_PLAIN.sub(_percent, relative)


def input_path(item: str) -> str:
    """The relative POSIX path (``os.fsdecode`` form) an item id stands for: the inverse of :func:`item_id`."""
    return os.fsdecode(unquote_to_bytes(item))


def part_name(item: str, suffix: str) -> str:
    """The file name of the dataset part of ``item`` (one path component, at most :data:`PART_NAME_BYTES`)."""
    escaped = _PART_ESCAPED.sub(_percent, item)
    budget = PART_NAME_BYTES - len(suffix.encode())
    if len(escaped.encode()) <= budget:
        return escaped + suffix
    digest = hashlib.sha256(item.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    return _prefix(escaped, budget - len(SHORTENED) - HASH_CHARS) + SHORTENED + digest + suffix


def item_of_part(name: str, suffix: str) -> str | None:
    """The item id a part name was made from, or None for a shortened name (only its hash is left)."""
    stem = name.removesuffix(suffix)
    return None if SHORTENED in stem else unquote(stem)


def _prefix(escaped: str, budget: int) -> str:
    """The longest start of ``escaped`` within ``budget`` UTF-8 bytes that cuts no %XX and no character."""
    cut = escaped.encode()[:budget].decode("utf-8", "ignore")
    tail = cut[-2:]
    if "%" in tail:  # a %XX triple would be cut: drop its start
        cut = cut[: len(cut) - len(tail) + tail.index("%")]
    return cut
