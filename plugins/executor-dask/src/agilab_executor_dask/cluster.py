"""Getting a Dask client and workers: an embedded cluster, a running scheduler, or a cluster manager.

The embedded cluster is a scheduler in this process and one worker process
per slot of ``<python>`` (launched ahead, see :mod:`.launch`, serving as
``distributed.cli.dask_spec`` does), so a worker venv's interpreter runs its
workers with that venv's own ``sys.path``. ``LocalCluster`` cannot do that:
its workers are ``multiprocessing`` children, which inherit the manager's
``sys.path`` (a venv interpreter would import the manager's packages) and
re-import the caller's ``__main__``. A worker process that dies unexpectedly
is started again under the same name (the slot id), the way a Dask nanny
would; one that keeps dying at start is given up.

The embedded scheduler allows no silent re-runs (``allowed_failures=0``): a
batch whose worker died comes back as ``KilledWorker`` at once, so the
dispatcher can count the attempt and isolate the item that killed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from distributed import Client, Scheduler, SpecCluster
from distributed.comm import connect
from distributed.core import Status
from distributed.deploy import Cluster as DaskCluster
from distributed.deploy.spec import ProcessInterface

from agilab_core import ConfigError, EnvironmentMismatch, UsageError, WorkerSlot, environment_hash, import_object, one_line
from agilab_executor_dask.launch import Launched, launch_worker, send_address, stop

#: A worker process that exits this soon after starting, this many times in a row, is given up.
QUICK_EXIT_SECONDS = 3.0
QUICK_EXITS = 3
WATCH_SECONDS = 0.1
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


class DaskError(RuntimeError):
    """The cluster broke mid-run: every worker gone, or workers that cannot start the app."""


# -- embedded workers ----------------------------------------------------------------


class WorkerProcess(ProcessInterface):
    """One Dask worker in a subprocess of ``python``, started again when it dies of a signal or a crash.

    It adopts ``process`` when one was launched ahead (see :mod:`.launch`)
    and hands it the scheduler's address. A clean exit (code 0: the
    scheduler retired it, or it lost the scheduler for good) is final. Its
    stderr goes to ``log``, so a worker that cannot start can say why.
    """

    def __init__(
        self,
        scheduler: str,
        name: str,
        python: str,
        env: dict[str, str],
        log: str,
        death_timeout: float,
        preload: str = "",
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        super().__init__(scheduler, name)
        self.scheduler = scheduler
        self.name = name
        self.python = python
        self.env = env
        self.log = Path(log)
        self.death_timeout = death_timeout
        self.preload = preload
        self.process = process
        self.started = time.monotonic()
        self.quick_exits = 0
        self.gave_up = False
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.process is None:
            self._launch()
        send_address(self.process, self.scheduler)
        self._watch = asyncio.create_task(self._restart_on_death())
        await super().start()

    def _launch(self) -> None:
        self.process = launch_worker(self.python, self.name, self.env, str(self.log), self.death_timeout, self.preload)
        self.started = time.monotonic()

    async def _restart_on_death(self) -> None:
        while self.process is not None:
            code = self.process.poll()
            if code is None:
                await asyncio.sleep(WATCH_SECONDS)
                continue
            if self.status != Status.running or code == 0:
                return
            quick = time.monotonic() - self.started < QUICK_EXIT_SECONDS
            self.quick_exits = self.quick_exits + 1 if quick else 0
            if self.quick_exits >= QUICK_EXITS:
                self.gave_up = True
                return
            self._launch()
            send_address(self.process, self.scheduler)

    def last_words(self) -> str:
        """The last line the worker process wrote to stderr (why it could not start)."""
        try:
            lines = [line for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""

    async def close(self) -> None:
        self.status = Status.closing
        if self._watch is not None:
            self._watch.cancel()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            deadline = time.monotonic() + 3
            while process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        if process is not None:
            stop(process)  # killed if still there, and reaped
        await super().close()


def dashboard_available() -> bool:
    """The scheduler serves its dashboard only when ``bokeh`` is installed."""
    return importlib.util.find_spec("bokeh") is not None


# -- a connection, however it was made --------------------------------------------------


class Cluster:
    """A client, the cluster it talks to, and what the manifest should say about it."""

    def __init__(self, client: Client, kind: str, owned: Any = None, facts: dict[str, Any] | None = None, logs: str | None = None) -> None:
        self.client = client
        self.kind = kind  # "embedded" | "scheduler" | "cluster"
        self.owned = owned  # a cluster object this executor started and must close
        self.logs = logs
        self.address = client.scheduler.address
        self.facts = {"cluster": kind, "scheduler": self.address, **(facts or {})}

    def connected(self) -> int:
        """How many Dask workers are connected now."""
        return len(self.client.nthreads())

    def workers(self) -> dict[str, dict[str, Any]]:
        """Connected workers by address (``host``, ``name``, ``nthreads``...)."""
        return dict(self.client.scheduler_info(n_workers=-1)["workers"])

    def targets(self, slots: Sequence[WorkerSlot]) -> list[str | None]:
        """The address of the Dask worker each plan slot's batches are placed on (None: anywhere).

        Embedded workers are named by slot id (a restarted worker keeps its
        name, not its address). On other clusters a slot goes to a free worker
        thread of its host when there is one, else to any free thread, else
        round-robin over the workers.
        """
        workers = sorted(self.workers().items())
        if self.kind == "embedded":
            by_name = {str(w.get("name")): addr for addr, w in workers}
            return [by_name.get(slot.id) for slot in slots]
        if not workers:
            return [None for _ in slots]
        free = [(addr, str(w.get("host", ""))) for addr, w in workers for _ in range(max(1, int(w.get("nthreads", 1))))]
        chosen: list[str | None] = []
        for slot in slots:
            names = _host_names(slot.host)
            pick = next((f for f in free if f[1] in names), None)
            if pick:
                free.remove(pick)
            chosen.append(pick[0] if pick else None)
        spare = iter(free)
        out: list[str | None] = []
        for i, addr in enumerate(chosen):
            if addr is None:
                addr = next(spare, (workers[i % len(workers)][0], ""))[0]
            out.append(addr)
        return out

    def check_environment(self, expected: str | None, python: str) -> None:
        """Fail fast, naming the workers, when a worker runs another environment than the run's package."""
        if expected is None:
            return
        found = self.client.run(environment_hash, on_error="return")
        if not found:
            return
        wrong = {addr: h for addr, h in sorted(found.items()) if h != expected}
        if not wrong:
            return
        shown = ", ".join(
            f"{addr} has {one_line(h) if isinstance(h, BaseException) else h}" for addr, h in list(wrong.items())[:5]
        )
        more = f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
        raise EnvironmentMismatch(
            f"{len(wrong)} of {len(found)} Dask worker(s) of {self.address} run another environment than this run's {expected}: "
            f"{shown}{more}; start them with {python} -m distributed.cli.dask_worker {self.address}"
        )

    def info(self) -> dict[str, Any]:
        return dict(self.facts)

    def close(self) -> None:
        try:
            self.client.close(timeout=5)
        finally:
            if self.owned is not None:
                with environment_kept():
                    self.owned.close(timeout=10)
            if self.logs:
                shutil.rmtree(self.logs, ignore_errors=True)


def _host_names(host: str) -> set[str]:
    """Names a Dask worker of plan host ``host`` may report as its ``host`` (an address)."""
    names = {host, host.strip("[]")}
    if host in LOCAL_HOSTS:
        names |= LOCAL_HOSTS | {socket.gethostname()}
    try:
        names |= {info[4][0] for info in socket.getaddrinfo(host.strip("[]").rpartition("@")[2], None)}
    except OSError:
        pass
    if names & LOCAL_HOSTS:
        try:
            names |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
        except OSError:
            pass
    return names


# -- the three ways in -------------------------------------------------------------------


def start_embedded(launched: Launched, dashboard: str = ":0", worker_timeout: float = 60.0) -> Cluster:
    """A scheduler here, connected to the worker processes :func:`.launch.launch_ahead` started."""
    show = bool(dashboard) and dashboard_available()
    scheduler = {
        "cls": Scheduler,
        "options": {
            "host": "127.0.0.1",
            "port": 0,
            "dashboard": show,
            "dashboard_address": dashboard if show else ":0",  # its HTTP server always starts: never on a busy port
            "allowed_failures": 0,
        },
    }
    workers = {
        name: {
            "cls": WorkerProcess,
            "options": {
                "python": launched.python, "env": launched.env, "log": launched.log(name), "death_timeout": launched.death_timeout,
                "preload": launched.preload, "process": process,
            },
        }
        for name, process in launched.processes.items()
    }
    try:
        cluster = SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.CRITICAL, name="agilab")
    except BaseException:
        launched.close()
        raise
    try:
        client = Client(cluster, set_as_default=False)
        try:
            _await_embedded_workers(client, cluster, len(workers), worker_timeout)
        except BaseException:
            client.close()
            raise
    except BaseException:
        cluster.close(timeout=10)
        launched.close()
        raise
    facts = {"workers": len(workers), "python": launched.python, "dashboard": cluster.dashboard_link if show else None}
    return Cluster(client, "embedded", owned=cluster, facts=facts, logs=launched.logs)


def _await_embedded_workers(client: Client, cluster: SpecCluster, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(client.nthreads()) < count:
        for name, proc in cluster.workers.items():
            if getattr(proc, "gave_up", False):
                why = proc.last_words() or "no message"
                raise DaskError(f"embedded Dask worker {name} could not start with {proc.python}: {why}")
        if time.monotonic() > deadline:
            raise DaskError(f"embedded Dask workers did not all start within {timeout:g} s (-o worker_timeout)")
        time.sleep(0.02)


def connect_scheduler(address: str, connect_timeout: float, worker_timeout: float) -> Cluster:
    """A client of the running scheduler at ``address``, once it has a worker."""
    problem = _unanswered(address, connect_timeout)
    if problem:
        raise UsageError(f"-o scheduler={address}: no Dask scheduler answered within {connect_timeout:g} s ({problem})")
    try:
        client = Client(address, timeout=connect_timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"-o scheduler={address}: no Dask scheduler answered within {connect_timeout:g} s ({one_line(exc)})") from None
    try:
        _await_any_worker(client, f"-o scheduler={address}", worker_timeout)
    except BaseException:
        client.close()
        raise
    return Cluster(client, "scheduler", facts={"dashboard": _dashboard_of(client)})


def _unanswered(address: str, timeout: float) -> str | None:
    """Why ``address`` does not complete a Dask handshake within ``timeout``, or None when it does.

    ``Client`` bounds the TCP connect but not the handshake that follows, so a
    listener that never speaks would hang it; this probe bounds both. It runs
    in a thread of its own, so it works even where the caller's thread already
    runs an event loop (a notebook).
    """
    outcome: list[str | None] = []

    async def handshake() -> None:
        comm = await connect(address, timeout=timeout)
        await comm.close()

    def probe() -> None:
        try:
            asyncio.run(asyncio.wait_for(handshake(), timeout))
            outcome.append(None)
        except TimeoutError:
            outcome.append("no handshake")
        except (OSError, ValueError, TypeError) as exc:
            outcome.append(one_line(exc))

    thread = threading.Thread(target=probe, name="agilab-dask-probe", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    return outcome[0] if outcome else "no handshake"


def resolve_cluster_class(path: str) -> type[DaskCluster]:
    """The Dask cluster manager class named ``module:Class``, or a one-line error naming it.

    Only a subclass of ``distributed.deploy.Cluster`` is accepted: the class is
    called with the user's ``cluster_options``, so any other callable
    (``os:system``) must never be.
    """
    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise UsageError(f"-o cluster={path}: expected module:Class, such as distributed:LocalCluster")
    try:
        cls = import_object(path)
    except Exception as exc:  # noqa: BLE001 - PluginError, or anything the module raises on import
        raise UsageError(f"-o cluster={path}: {one_line(exc)}") from None
    if not (isinstance(cls, type) and issubclass(cls, DaskCluster)):
        what = f"class {cls.__name__}" if isinstance(cls, type) else f"function {cls.__name__}" if callable(cls) else type(cls).__name__
        raise UsageError(f"-o cluster={path}: {what} is not a Dask cluster manager (a subclass of distributed.deploy.Cluster)")
    return cls


@contextlib.contextmanager
def environment_kept() -> Iterator[None]:
    """Undo changes to ``os.environ`` made inside (Dask nannies export their workers' settings)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def start_cluster_manager(path: str, options: dict[str, Any], workers: int, connect_timeout: float, worker_timeout: float) -> Cluster:
    """Instantiate a cluster manager with ``options``, scale it to ``workers`` if it has none, connect."""
    cls = resolve_cluster_class(path)
    try:
        with environment_kept():  # the manager's own environment stays as it was (pool runs after this one...)
            cluster = cls(**options)
    except TypeError as exc:
        raise ConfigError(f"-o cluster={path}: {one_line(exc)} (check -o cluster_options)") from None
    except Exception as exc:  # noqa: BLE001 - whatever the manager raises, said in one line
        raise ConfigError(f"-o cluster={path}: could not start: {type(exc).__name__}: {one_line(exc)}") from None
    try:
        if not getattr(cluster, "workers", None) and hasattr(cluster, "scale"):
            cluster.scale(workers)
        try:
            client = Client(cluster, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"-o cluster={path}: its scheduler did not answer within {connect_timeout:g} s ({one_line(exc)})") from None
        try:
            _await_any_worker(client, f"-o cluster={path}", worker_timeout)
        except BaseException:
            client.close()
            raise
    except BaseException:
        cluster.close()
        raise
    facts = {"manager": path, "dashboard": getattr(cluster, "dashboard_link", None) if dashboard_available() else None}
    return Cluster(client, "cluster", owned=cluster, facts=facts)


def _await_any_worker(client: Client, what: str, timeout: float) -> None:
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise DaskError(f"{what}: no Dask worker joined within {timeout:g} s (-o worker_timeout)") from None


def _dashboard_of(client: Client) -> str | None:
    """The scheduler's dashboard link; its HTTP server runs without bokeh too, so ask for bokeh here
    (a scheduler started from the same environment as its workers has what this one has)."""
    if not dashboard_available():
        return None
    try:
        return client.dashboard_link
    except Exception:  # noqa: BLE001 - a link is a nicety
        return None
