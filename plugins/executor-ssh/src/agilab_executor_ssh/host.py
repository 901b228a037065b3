"""One host as the executor sees it: one connection, reused for install, run and teardown.

A :class:`Host` holds its SSH connection and SFTP session, what the probe
found, its content-addressed cache and worker venv, the Dask workers it runs
for the current run, what crossed its connection and how long each step
took (``connect``, ``install``, ``upload``, ``run``, ``download``), for the
manifest. Every error names the host as ``--workers`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import asyncssh
import attrs

from agilab_core import AgilabError, ConfigError, OutputFile, WorkerPackage, WorkerSlot, one_line
from agilab_executor_ssh import install
from agilab_executor_ssh.connection import ConnectionOptions, connect, open_session, run_remote, session_slot
from agilab_executor_ssh.links import inside
from agilab_executor_ssh.probe import PROBE, HostFacts
from agilab_executor_ssh.transfer import PARALLEL, BundleFetch, HostCache, Traffic, fetch, place
from agilab_executor_ssh.wheelhouse import Wheel
from agilab_executor_ssh.workers import RemoteWorker, launch_worker, why_it_stopped

STEPS = ("connect", "install", "upload", "run", "download")
#: A worker that exits this soon after starting, this many times in a row, is not started again.
QUICK_EXIT_SECONDS = 3.0
QUICK_EXITS = 3


@attrs.define(eq=False)
class Host:
    """A host of ``--workers`` (``[USER@]ADDRESS``, ``port``), with its ``remote_python`` and ``remote_dir``."""

    name: str
    port: int | None
    python: str
    remote_dir: str
    conn: asyncssh.SSHClientConnection | None = None
    sftp: asyncssh.SFTPClient | None = None
    facts: HostFacts | None = None
    root: str = ""
    venv: str = ""
    cache: HostCache | None = None
    traffic: Traffic = attrs.field(factory=Traffic)
    timings: dict[str, float] = attrs.field(factory=lambda: dict.fromkeys(STEPS, 0.0))
    workers: list[RemoteWorker] = attrs.field(factory=list)
    venv_state: str = ""
    lost: str | None = None
    _sessions: contextlib.AsyncExitStack = attrs.field(factory=contextlib.AsyncExitStack)
    _worker_sessions: contextlib.AsyncExitStack = attrs.field(factory=contextlib.AsyncExitStack)
    _watchers: list[asyncio.Task[None]] = attrs.field(factory=list)
    _stopping: bool = False
    _fetching: asyncio.Semaphore = attrs.field(factory=lambda: asyncio.Semaphore(PARALLEL))
    _downloading: _Busy = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._downloading = _Busy(self.timings, "download")
    _scheduler_forward: asyncssh.SSHListener | None = None

    @property
    def user(self) -> str | None:
        return self.name.rpartition("@")[0] or None

    @property
    def address(self) -> str:
        return self.name.rpartition("@")[2].strip("[]")

    def timed(self, step: str) -> _Timer:
        return _Timer(self.timings, step)

    # -- install --------------------------------------------------------------

    async def open(self, options: ConnectionOptions, home: Path) -> None:
        with self.timed("connect"):
            self.conn = await connect(self.address, self.port, self.user, options, home=home)
            self.sftp = await self._sessions.enter_async_context(self._sftp())

    @contextlib.asynccontextmanager
    async def _sftp(self):  # type: ignore[no-untyped-def]
        assert self.conn is not None
        conn = self.conn
        async with session_slot(conn):
            sftp = await open_session(conn, conn.start_sftp_client)
            try:
                yield sftp
            finally:
                sftp.exit()

    async def probe(self) -> HostFacts:
        """What the host is; its ``remote_dir`` made absolute (relative ones are in the login's home)."""
        assert self.conn is not None and self.sftp is not None
        done = await run_remote(self.conn, [self.python, "-c", PROBE], check=False, timeout=60)
        self.facts = HostFacts.parse(self.name, self.python, done.exit_status, str(done.stdout or ""), str(done.stderr or ""))
        self.root = posixpath.normpath(posixpath.join(self.facts.home, self.remote_dir))
        self.cache = HostCache(self.sftp, f"{self.root}/cache", self.traffic)
        return self.facts

    async def install(self, package: WorkerPackage, wheels: list[Wheel]) -> str:
        """Make the worker venv of ``package`` current: ``"current"`` when it already was, else ``"built"``."""
        assert self.conn is not None and self.sftp is not None and self.cache is not None and self.facts is not None
        self.venv = f"{self.root}/wenv/{install.venv_name(package)}"
        if install.current(await self._read(f"{self.venv}/agilab-env.json"), package, wheels):
            self.venv_state = "current"
            return self.venv_state
        await self.cache.put((w.path, w.sha256) for w in wheels)
        spec = install.build_spec(package, wheels, self.venv, self.cache.root, self.facts.to_dict())
        done = await run_remote(self.conn, [self.python, "-c", install.BUILD, spec], check=False, timeout=1800)
        if done.exit_status != 0:
            raise install.build_failure(self.name, self.venv, str(done.stderr or ""), done.exit_status)
        self.venv_state = "built"
        return self.venv_state

    @property
    def venv_python(self) -> str:
        return f"{self.venv}/bin/python"

    async def _read(self, path: str) -> str | None:
        assert self.sftp is not None
        try:
            async with self.sftp.open(path, "r") as handle:
                return str(await handle.read())
        except (asyncssh.SFTPError, OSError, UnicodeDecodeError):
            return None

    # -- a run ----------------------------------------------------------------

    def run_dir(self, run_id: str) -> str:
        return f"{self.root}/runs/{run_id}"

    async def send_inputs(self, files: Iterable[tuple[Path, str]]) -> int:
        """Send each ``(local path, sha256)`` the host's cache lacks; return how many were sent."""
        assert self.cache is not None
        with self.timed("upload"):
            return await self.cache.put(files)

    async def put_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` on the host (its folder made first)."""
        assert self.sftp is not None
        await self.sftp.makedirs(posixpath.dirname(path), exist_ok=True)
        async with await self.sftp.open(path, "wb") as handle:
            await handle.write(data)

    async def fetch_outputs(
        self, folder: str, outputs: Iterable[OutputFile], home: Path, bundled: tuple[BundleFetch, dict[str, int]] | None = None
    ) -> None:
        """Bring ``outputs`` (relative to ``folder`` on the host) into ``home``, the run's output folder.

        ``bundled``: the batch's bundle and the offset in it of each output
        it holds; the others, or all when the bundle did not come, are
        fetched one by one.
        """
        assert self.sftp is not None
        with self._downloading:
            try:
                data = await bundled[0].data(self.sftp, self.traffic) if bundled is not None else None
                offsets = bundled[1] if data is not None and bundled is not None else {}
                for out in outputs:
                    if not inside(out.path):
                        continue  # not inside the output folder: the kernel refuses the result
                    offset = offsets.get(out.path)
                    if offset is not None and data is not None:
                        place(home / out.path, memoryview(data)[offset : offset + out.bytes], self.traffic)
                        continue
                    async with self._fetching:
                        await fetch(self.sftp, f"{folder}/{out.path}", home / out.path, self.traffic, out.bytes)
            finally:
                if bundled is not None:
                    bundled[0].release()

    async def start_workers(
        self, slots: list[WorkerSlot], scheduler: Awaitable[int], config: dict[str, Any], timeout: float, on_start: Callable[[RemoteWorker], None]
    ) -> list[RemoteWorker]:
        """One Dask worker per slot, connected to the manager's scheduler, whose port ``scheduler`` gives.

        The workers are launched first: they import Dask and the app while
        the manager starts its scheduler. ``on_start`` hears of each worker,
        and of each started again: a worker that dies while its host is
        still connected (an item killed it) is started again under the same
        name, as a Dask nanny would.
        """
        assert self.conn is not None
        self._stopping = False
        logs = config["logs"]
        launched = []
        for slot in slots:
            await self._worker_sessions.enter_async_context(session_slot(self.conn))  # one session per worker, its restarts too
            options = {**{k: v for k, v in config.items() if k != "logs"}, "name": slot.id, "log": f"{logs}/worker-{slot.index}.log"}
            worker = await launch_worker(self.conn, self.name, self.venv_python, options, timeout)
            self.workers.append(worker)  # stopped by :meth:`stop_workers` from now on, whatever happens next
            launched.append((worker, options))
        if self._scheduler_forward is None:
            self._scheduler_forward = await self.conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", await scheduler)
        port = self._scheduler_forward.get_port()
        for worker, options in launched:
            worker.join(port)
            on_start(worker)
            self._watchers.append(asyncio.create_task(self._restart_when_dead(worker, options, port, timeout, on_start)))
        return [worker for worker, _ in launched]

    async def _restart_when_dead(
        self, worker: RemoteWorker, options: dict[str, Any], port: int, timeout: float, on_start: Callable[[RemoteWorker], None]
    ) -> None:
        quick = 0
        while True:
            started = time.monotonic()
            await worker.process.wait_closed()
            if self._stopping or self.live_connection is None:
                return
            quick = quick + 1 if time.monotonic() - started < QUICK_EXIT_SECONDS else 0
            worker.forward.close()
            self.workers.remove(worker)
            if quick >= QUICK_EXITS:
                return
            try:
                worker = await launch_worker(self.conn, self.name, self.venv_python, options, timeout)  # type: ignore[arg-type]
                worker.join(port)
            except Exception:  # noqa: BLE001 - the host lost a worker; the dispatch sends its items elsewhere
                return
            self.workers.append(worker)
            on_start(worker)

    async def worker_log(self, worker: RemoteWorker, logs: str) -> str:
        """Why a worker could not start, from its log on the host."""
        index = worker.name.rpartition("/")[2]
        return why_it_stopped(await self._read(f"{logs}/worker-{index}.log") or "")

    async def stop_workers(self) -> None:
        self._stopping = True
        watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        workers, self.workers = self.workers, []
        await asyncio.gather(*(w.stop(self.live_connection) for w in workers), return_exceptions=True)
        await self._worker_sessions.aclose()
        if self._scheduler_forward is not None:
            self._scheduler_forward.close()
            self._scheduler_forward = None

    async def remove(self, *paths: str) -> bool:
        """Remove ``paths`` on the host (one command: SFTP would take a round trip per file); whether they are gone."""
        conn = self.live_connection
        if conn is None:
            return False
        try:
            done = await run_remote(conn, ["rm", "-rf", "--", *paths], check=False, timeout=60)
        except (asyncssh.Error, OSError, AgilabError):
            return False
        return done.exit_status == 0

    @property
    def live_connection(self) -> asyncssh.SSHClientConnection | None:
        """The connection, unless it was lost."""
        if self.conn is None or self.conn.is_closed():
            return None
        return self.conn

    def check_alive(self) -> None:
        if self.conn is not None and self.conn.is_closed() and self.lost is None:
            self.lost = "connection lost"

    async def close(self) -> None:
        """Stop every worker, close the SFTP session and the connection; safe to call twice."""
        await self.stop_workers()
        with contextlib.suppress(Exception):
            await self._sessions.aclose()
        self.sftp = None
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 5)

    def to_dict(self) -> dict[str, Any]:
        facts = self.facts.to_dict() if self.facts else {}
        return {
            **facts,
            "remote_dir": self.root or self.remote_dir,
            "venv": self.venv or None,
            "venv_state": self.venv_state or None,
            "seconds": {k: round(v, 6) for k, v in self.timings.items()},
            "traffic": self.traffic.to_dict(),
            "lost": self.lost,
        }


class _Timer:
    """Adds the time a block takes to ``timings[step]``."""

    def __init__(self, timings: dict[str, float], step: str) -> None:
        self.timings = timings
        self.step = step
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.step] += time.perf_counter() - self.started


class _Busy:
    """Adds to ``timings[step]`` the time at least one of the blocks it guards runs (overlapping blocks count once)."""

    def __init__(self, timings: dict[str, float], step: str) -> None:
        self.timings = timings
        self.step = step
        self.active = 0
        self.since = 0.0

    def __enter__(self) -> None:
        if self.active == 0:
            self.since = time.perf_counter()
        self.active += 1

    def __exit__(self, *exc: object) -> None:
        self.active -= 1
        if self.active == 0:
            self.timings[self.step] += time.perf_counter() - self.since


def host_error(host: Host, exc: Exception) -> Exception:
    """``exc`` as a one-line error naming the host (errors of :mod:`.connection` already do)."""
    if host.address in str(exc):
        return exc
    if isinstance(exc, AgilabError):
        return type(exc)(f"host {host.name}: {one_line(exc)}")
    return ConfigError(f"host {host.name}: {type(exc).__name__}: {one_line(exc)}")
