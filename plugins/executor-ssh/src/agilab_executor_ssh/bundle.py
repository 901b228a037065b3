"""A batch's small outputs in one file: one SFTP fetch per batch instead of three requests per output.

Opening, reading and closing a file over SFTP costs the manager about as
much CPU as the bytes of a 60 KB output; a run of thousands of such outputs
spent more on requests than on data. So a host writes, after each batch,
the batch's small outputs end to end into one bundle file, and the manager
fetches the bundle and cuts it back into the outputs. Both sides derive the
bundle's name and layout from the batch's results alone (:func:`layout`),
so nothing else crosses the wire. A bundle that is missing or not the size
expected is not an error: the manager fetches those outputs one by one. The
sha256 of each output, checked on arrival as for any output, judges.

This module runs on hosts too: standard library and ``agilab_core`` only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from agilab_core import ItemResult, OutputFile, atomic_path
from agilab_executor_ssh.links import inside

#: Outputs this big or bigger come home on their own (the block copier reads them in parallel).
MAX_OUTPUT_BYTES = 1 << 20
#: A bundle holds at most this much; the batch's outputs past it come on their own.
MAX_BUNDLE_BYTES = 16 << 20


def layout(results: Sequence[ItemResult]) -> tuple[str, list[tuple[str, OutputFile, int]]] | None:
    """The bundle of a batch's ``results``: its name and, per output it holds, ``(item id, output, offset)``.

    None when fewer than two outputs would go in it (one file is fetched as
    cheaply on its own). The name differs for every run of a batch (each
    result's attempt and start time are in it), so a batch sent again never
    meets an earlier run's bundle.
    """
    host = results[0].host if results else None
    name = hashlib.sha256()
    parts: list[tuple[str, OutputFile, int]] = []
    offset = 0
    for result in results:
        name.update(f"{result.item_id}\0{result.attempts}\0{result.started!r}\0".encode("utf-8", "surrogatepass"))
        if not result.ok or result.host != host:
            continue
        for out in result.outputs:
            if inside(out.path) and 0 < out.bytes < MAX_OUTPUT_BYTES and offset + out.bytes <= MAX_BUNDLE_BYTES:
                parts.append((result.item_id, out, offset))
                offset += out.bytes
    return (name.hexdigest()[:32], parts) if len(parts) > 1 else None


def size(parts: Sequence[tuple[str, OutputFile, int]]) -> int:
    _, out, offset = parts[-1]
    return offset + out.bytes


def write(folder: Path, outputs: Path, results: Sequence[ItemResult]) -> Path | None:
    """On a host: write the bundle of ``results`` (outputs read under ``outputs``) into ``folder``; its path, or None.

    Written under a temporary name and renamed, so the manager finds a whole
    bundle or none; an output that is not the size its result reports (or
    cannot be read) leaves no bundle, and the manager fetches them one by one.
    """
    planned = layout(results)
    if planned is None:
        return None
    name, parts = planned
    target = folder / name
    try:
        with atomic_path(target) as part, open(part, "wb") as bundle:
            for _, out, _ in parts:
                data = (outputs / out.path).read_bytes()
                if len(data) != out.bytes:
                    raise OSError(f"{out.path}: {len(data)} bytes, {out.bytes} reported")
                bundle.write(data)
    except OSError:
        return None
    return target
