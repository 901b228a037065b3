"""Outputs brought home over SFTP from a real host: whole, as big as they really are, or not at all."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import asyncssh
import pytest
from agilab_executor_ssh import transfer
from agilab_executor_ssh.connection import ConnectionOptions, connect
from agilab_executor_ssh.transfer import Traffic, fetch

from .sshd import SshHost, known_hosts_text


@pytest.fixture
def sftp(no_host_processes_left, tmp_path) -> Iterator[tuple[asyncio.AbstractEventLoop, asyncssh.SFTPClient, SshHost]]:
    """An SFTP session on the first host, on an event loop of its own."""
    host = no_host_processes_left[0]
    known = tmp_path / "known_hosts"
    known.write_text(known_hosts_text([host]))
    loop = asyncio.new_event_loop()
    options = ConnectionOptions(connect_timeout=120, client_keys=[host.client_key], known_hosts=known)
    conn = loop.run_until_complete(connect(host.address, host.port, host.user, options, home=tmp_path))
    client = loop.run_until_complete(conn.start_sftp_client())
    loop.run_until_complete(client.makedirs(str(host.remote_dir), exist_ok=True))
    yield loop, client, host
    client.exit()
    conn.close()
    loop.run_until_complete(conn.wait_closed())
    loop.close()


def put(loop: asyncio.AbstractEventLoop, client: asyncssh.SFTPClient, path: str, data: bytes) -> None:
    async def go() -> None:
        async with await client.open(path, "wb") as handle:
            await handle.write(data)

    loop.run_until_complete(go())


@pytest.mark.parametrize("reported", ["exact", "smaller", "larger", "unknown", "empty"])
def test_an_output_comes_home_whole_whatever_size_was_reported(sftp, tmp_path, reported):
    loop, client, host = sftp
    # more than one SFTP read (OpenSSH answers at most 256 KiB) and one SSH packet
    data = b"" if reported == "empty" else os.urandom(300_000) + b"\0\n\r end"
    remote = f"{host.remote_dir}/part one; $(x).parquet"
    put(loop, client, remote, data)
    size = {"exact": len(data), "smaller": 10, "larger": len(data) + 100, "unknown": -1, "empty": 0}[reported]
    traffic = Traffic()
    local = tmp_path / "home" / "aircraft=a b" / "part.parquet"
    loop.run_until_complete(fetch(client, remote, local, traffic, size))
    assert local.read_bytes() == data
    assert (traffic.received_files, traffic.received_bytes) == (1, len(data))
    assert os.listdir(local.parent) == ["part.parquet"]  # no temporary file left


@pytest.fixture
def reads(monkeypatch) -> list[int]:
    """The size of every ``SFTPClientFile.read`` the test makes (the file objects a fetch opens read through it)."""
    sizes: list[int] = []
    whole = asyncssh.SFTPClientFile.read

    async def read(self, size=-1, offset=None):  # noqa: ANN001 - asyncssh's signature
        sizes.append(size)
        return await whole(self, size, offset)

    monkeypatch.setattr(asyncssh.SFTPClientFile, "read", read)
    return sizes


def fetched(sftp, tmp_path, data: bytes, reported: int) -> bytes:
    loop, client, host = sftp
    put(loop, client, f"{host.remote_dir}/part", data)
    local = tmp_path / "part"
    loop.run_until_complete(fetch(client, f"{host.remote_dir}/part", local, Traffic(), reported))
    return local.read_bytes()


def test_an_output_far_larger_than_reported_is_copied_in_blocks(sftp, tmp_path, monkeypatch, reads):
    """A worker that under-reports a file's size never makes the manager hold the whole file in memory."""
    monkeypatch.setattr(transfer, "WHOLE_READ_BYTES", 4096)
    data = os.urandom(100_000)
    assert fetched(sftp, tmp_path, data, 10) == data
    assert reads[0] == 11 and all(0 < n <= 4096 for n in reads[1:]), reads


def test_a_large_output_is_streamed_not_read_whole(sftp, tmp_path, monkeypatch, reads):
    monkeypatch.setattr(transfer, "WHOLE_READ_BYTES", 1024)
    data = os.urandom(200_000)
    assert fetched(sftp, tmp_path, data, len(data)) == data
    assert len(data) + 1 not in reads  # the block copier read it, not one whole read


def test_a_missing_output_raises_and_leaves_nothing(sftp, tmp_path):
    loop, client, host = sftp
    local = tmp_path / "out" / "gone.parquet"
    with pytest.raises(asyncssh.SFTPNoSuchFile):
        loop.run_until_complete(fetch(client, f"{host.remote_dir}/no such file", local, Traffic(), 100))
    assert list(local.parent.iterdir()) == []
