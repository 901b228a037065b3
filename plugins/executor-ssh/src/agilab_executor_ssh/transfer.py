"""Files across SFTP: a content-addressed cache on each host, inputs staged from it, outputs brought home.

A host keeps every file it was sent once, as ``<remote_dir>/cache/<sha256>``
(written under a temporary name, renamed when complete), so what a host
already has is never sent again: wheels across installs, inputs across runs.
A run's inputs appear under its data folder as hard links to the cache,
made on the host by the worker that needs them (:mod:`.links`). Paths
travel as SFTP arguments, never through a shell, so any file name is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any

import asyncssh
import attrs

from agilab_core import atomic_path

#: SFTP transfers and links in flight at once per host.
PARALLEL = 16


@attrs.define
class Traffic:
    """What crossed one host's connection: files and bytes each way."""

    sent_files: int = 0
    sent_bytes: int = 0
    received_files: int = 0
    received_bytes: int = 0
    received_bundles: int = 0

    def to_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


class HostCache:
    """The content-addressed cache of one host, over its SFTP session."""

    def __init__(self, sftp: asyncssh.SFTPClient, root: str, traffic: Traffic) -> None:
        self.sftp = sftp
        self.root = root
        self.traffic = traffic
        self._present: set[str] | None = None

    def path(self, sha256: str) -> str:
        return f"{self.root}/{sha256}"

    async def present(self) -> set[str]:
        """The hashes the host holds (listed once per connection, then kept up to date here)."""
        if self._present is None:
            await self.sftp.makedirs(self.root, exist_ok=True)
            self._present = {str(name) for name in await self.sftp.listdir(self.root) if len(str(name)) == 64}
        return self._present

    async def put(self, files: Iterable[tuple[Path, str]]) -> int:
        """Send each ``(local path, sha256)`` the host does not have; return how many were sent.

        Files go :data:`PARALLEL` at a time: SFTP requests on one session are
        pipelined, so small files cost one round trip each, overlapped.
        """
        present = await self.present()
        missing = {sha: local for local, sha in files if sha not in present}
        limit = asyncio.Semaphore(PARALLEL)

        async def send(local: Path, sha: str) -> None:
            part = f"{self.root}/.{sha}.part-{secrets.token_hex(4)}"
            async with limit:
                try:
                    await self.sftp.put(str(local), part)
                    await self.sftp.posix_rename(part, self.path(sha))
                except BaseException:
                    with contextlib.suppress(asyncssh.Error, OSError):
                        await self.sftp.remove(part)
                    raise
            present.add(sha)
            self.traffic.sent_files += 1
            self.traffic.sent_bytes += os.path.getsize(local)

        await _all(send(local, sha) for sha, local in missing.items())
        return len(missing)


async def _all(coros: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``coros`` together; the first failure is raised once all have ended."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    failure = next((r for r in results if isinstance(r, BaseException)), None)
    if failure is not None:
        raise failure


#: Outputs under this size come home by plain reads, one request at a time; larger ones by asyncssh's parallel block copy.
WHOLE_READ_BYTES = 1 << 20


async def fetch(sftp: asyncssh.SFTPClient, remote: str, local: Path, traffic: Traffic, size: int = -1) -> None:
    """Copy ``remote`` (``size`` bytes, as its worker reported) to ``local``, written under a temporary name, then renamed.

    A small file is opened, read with one request and closed: three
    requests, where ``SFTPClient.get`` adds a ``stat`` and a parallel block
    copier (its tasks cost more of the manager's CPU than the bytes). See
    :func:`_read_small` for what happens when the file is not the size reported.
    """
    with atomic_path(local) as part:
        if 0 <= size < WHOLE_READ_BYTES:
            async with await sftp.open(remote, "rb", block_size=0) as handle:
                with open(part, "wb") as out:
                    received = await _read_small(handle, size, out)
        else:
            await sftp.get(remote, str(part))
            received = part.stat().st_size
    traffic.received_files += 1
    traffic.received_bytes += received


def place(local: Path, data: bytes | memoryview, traffic: Traffic) -> None:
    """Write ``data`` to ``local`` under a temporary name, then rename: an output cut from a bundle."""
    with atomic_path(local) as part:
        part.write_bytes(data)
    traffic.received_files += 1
    traffic.received_bytes += len(data)


class BundleFetch:
    """One batch's bundle (:mod:`.bundle`) on its way home, read once for every item whose outputs it holds.

    Its bytes stay here until each of those items has taken its outputs
    (:meth:`release`), then go; the file on the host goes once it is read.
    """

    def __init__(self, path: str, size: int, users: int) -> None:
        self.path = path
        self.size = size
        self.users = users
        self._read: asyncio.Future[bytes | None] | None = None

    async def data(self, sftp: asyncssh.SFTPClient, traffic: Traffic) -> bytes | None:
        """The bundle's bytes, or None when it is missing or not the size expected (its outputs then come one by one)."""
        if self._read is None:
            self._read = asyncio.ensure_future(self._fetch(sftp, traffic))
        return await asyncio.shield(self._read)  # one item's fetch cancelled leaves the others theirs

    async def _fetch(self, sftp: asyncssh.SFTPClient, traffic: Traffic) -> bytes | None:
        try:
            async with await sftp.open(self.path, "rb") as handle:
                data = await handle.read(self.size + 1)  # in parallel blocks; the extra byte tells a longer file
        except (asyncssh.SFTPError, OSError):
            return None
        with contextlib.suppress(asyncssh.SFTPError, OSError):
            await sftp.remove(self.path)
        if len(data) != self.size:
            return None
        traffic.received_bundles += 1
        return bytes(data)

    def release(self) -> None:
        """One item has taken its outputs: the last one lets the bytes go."""
        self.users -= 1
        if self.users <= 0:
            self._read = None


async def _read_small(handle: asyncssh.SFTPClientFile, size: int, out: Any) -> int:
    """Write ``handle``'s bytes to ``out``, asking for the ``size`` reported plus one byte; return how many came.

    A server answers short at the end of a file, and may answer short
    before it (OpenSSH gives at most 256 KiB a request): reading goes on
    until ``size`` bytes have come, and stops there without a request to
    confirm the end. A file that turns out longer (the extra byte came) is
    read to its end in blocks, never held whole in memory. Either way a file
    that is not what the worker reported fails its checksum on arrival.
    """
    got = 0
    while chunk := await handle.read(size + 1 - got):
        out.write(chunk)
        got += len(chunk)
        if got == size:
            break
        if got > size:
            while chunk := await handle.read(WHOLE_READ_BYTES):
                out.write(chunk)
                got += len(chunk)
            break
    return got
