"""Outputs brought home over SFTP from a real host: whole, as big as they really are, or not at all."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import asyncssh
import pytest
from agilab_executor_ssh import transfer
from agilab_executor_ssh.connection import ConnectionOptions, connect
from agilab_executor_ssh.host import Host
from agilab_executor_ssh.transfer import BundleFetch, Traffic, fetch

from agilab_core import OutputFile

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


# -- bundles: a batch's small outputs in one file ----------------------------------------


def test_a_bundle_is_read_once_for_all_its_items_then_removed_from_the_host(sftp, reads):
    loop, client, host = sftp
    data = os.urandom(700_000)  # several parallel reads
    remote = f"{host.remote_dir}/bundle one"
    put(loop, client, remote, data)
    traffic = Traffic()
    bundle = BundleFetch(remote, len(data), users=3)

    async def three_items() -> list[bytes | None]:
        return await asyncio.gather(*(bundle.data(client, traffic) for _ in range(3)))

    assert loop.run_until_complete(three_items()) == [data] * 3
    assert sum(n for n in reads if n > 0) == len(data) + 1  # one read of the bundle, shared
    assert traffic.received_bundles == 1
    assert not loop.run_until_complete(client.exists(remote))
    for _ in range(3):
        bundle.release()
    assert bundle._read is None  # the last item let the bytes go


@pytest.mark.parametrize("expected", ["missing", "shorter", "longer"])
def test_a_bundle_that_is_not_as_expected_is_none(sftp, expected):
    """The outputs it should hold then come one by one; their checksums judge them either way."""
    loop, client, host = sftp
    remote = f"{host.remote_dir}/bundle two"
    if expected != "missing":
        put(loop, client, remote, b"x" * (100 if expected == "shorter" else 300))
    traffic = Traffic()
    assert loop.run_until_complete(BundleFetch(remote, 200, users=1).data(client, traffic)) is None
    assert traffic.received_bundles == 0


def test_outputs_cut_from_a_bundle_and_those_outside_it_come_home_alike(sftp, tmp_path):
    loop, client, host = sftp
    a, b, c = b"first output", b"second; $(output)", os.urandom(5000)
    folder = f"{host.remote_dir}/outputs"
    loop.run_until_complete(client.makedirs(f"{folder}/sub dir", exist_ok=True))
    put(loop, client, f"{folder}/bundle", a + b)
    put(loop, client, f"{folder}/sub dir/c.parquet", c)
    outputs = [OutputFile("a.parquet", "0" * 64, len(a)), OutputFile("sub dir/b.parquet", "0" * 64, len(b)), OutputFile("sub dir/c.parquet", "0" * 64, len(c))]
    machine = Host(name="h", port=host.port, python="python3", remote_dir=str(host.remote_dir))
    machine.sftp = client
    home = tmp_path / "home"
    bundled = (BundleFetch(f"{folder}/bundle", len(a) + len(b), users=1), {"a.parquet": 0, "sub dir/b.parquet": len(a)})
    loop.run_until_complete(machine.fetch_outputs(folder, outputs, home, bundled))
    assert {p.relative_to(home).as_posix(): p.read_bytes() for p in home.rglob("*") if p.is_file()} == {
        "a.parquet": a, "sub dir/b.parquet": b, "sub dir/c.parquet": c,
    }
    assert (machine.traffic.received_files, machine.traffic.received_bundles) == (3, 1)
    assert bundled[0].users == 0
