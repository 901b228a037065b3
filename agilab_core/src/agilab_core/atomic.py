"""Files written whole or not at all, and their content hashes.

Every file the kernel writes (manifest, journal checkpoints, outputs through
:func:`atomic_path`, ``capacity.json``) goes to a temporary sibling and is
renamed into place, so a reader or a crash never sees a half-written file.
Light on purpose: worker processes import it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it to ``path`` on success.

    On any exception the temporary file is removed, so nothing that looks
    complete is left behind. Parent folders are created.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(temporary_name(final.name))
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError, ValueError):  # never hide the real error behind a cleanup's
            tmp.unlink()
        raise


#: Longest file name (bytes) on the file systems we write to (ext4, xfs, btrfs, tmpfs, APFS).
NAME_MAX = 255


def temporary_name(name: str) -> str:
    """A unique hidden sibling name for ``name``, never longer than :data:`NAME_MAX` bytes.

    A valid name near the limit must not fail because of the suffix: it is
    then shortened to a prefix plus a hash of the whole name.
    """
    suffix = f".{os.getpid()}.{secrets.token_hex(4)}.tmp"
    candidate = f".{name}{suffix}"
    if len(os.fsencode(candidate)) <= NAME_MAX:
        return candidate
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    return f".{os.fsdecode(os.fsencode(name)[:32]).rstrip()}~{digest}{suffix}".encode("utf-8", "surrogateescape")[:NAME_MAX].decode("utf-8", "surrogateescape")


def write_json(path: str | os.PathLike[str], data: Any, indent: int | None = None) -> None:
    """Write ``data`` as JSON, atomically.

    Compact by default: ``indent`` switches Python's JSON encoder from C to pure
    Python, ten times slower on a manifest of many items.
    """
    text = json.dumps(data, indent=indent, default=str, separators=None if indent else (",", ":"))
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


