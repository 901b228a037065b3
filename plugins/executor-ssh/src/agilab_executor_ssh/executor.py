"""The ``ssh`` executor: Dask workers on hosts reached over SSH alone, in worker venvs built there.

This module is the entry point, loaded by every ``agilab`` command, so it
imports asyncssh and Dask only when an install or a run needs them.

``install`` connects to every host at once and, per host, probes it, fetches
the wheels that fit it (:mod:`.wheelhouse`), sends those it lacks into its
cache and builds the worker venv offline (:mod:`.install`); a host that
fails fails the install, naming it. ``run`` starts a Dask scheduler here and
the hosts' workers through their connections (:mod:`.workers`), then hands
the plan to the ``dask`` executor's dispatch (batches, retries, isolation of
an item that kills its worker): inputs are staged on the host a batch is
sent to, outputs are brought home before the kernel hears of the item. A
host lost mid-run takes its workers with it; the dispatch sends their items
to the workers left.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agilab_core import (
    ConfigError,
    Executor,
    ExecutorSpec,
    ItemResult,
    OnResult,
    UsageError,
    WorkerPackage,
    WorkerSlot,
    WorkersSpec,
    WorkerTask,
    WorkItem,
    WorkPlan,
    balance,
    hookimpl,
    one_line,
)
from agilab_executor_ssh.options import SshOptions

#: Worker processes per host: each holds an SSH session, and ``sshd`` allows 10 per connection
#: (one is the SFTP session, one is kept for commands).
MAX_WORKERS_PER_HOST = 6


class SshExecutor(Executor):
    """Runs items on Dask workers on SSH hosts, each in a worker venv built on its host."""

    default_workers = "1"
    isolated = True
    remote = True
    worker_distributions = ("agilab-executor-dask", "agilab-executor-ssh")
    worker_requirements = ("dask", "distributed")

    def __init__(self, config: SshOptions, workers: WorkersSpec, report: Any = None) -> None:
        super().__init__(config, workers, report)
        self._loop: Any = None
        self._hosts: list[Any] = []
        self._package: WorkerPackage | None = None
        self._home: Path | None = None  # the AGILab home: pinned host keys, remembered input sums
        self._session: Any = None
        self._info: dict[str, Any] = {}

    @classmethod
    def slots(cls, config: SshOptions, workers: WorkersSpec) -> list[WorkerSlot]:
        if str(workers).isdigit():
            raise UsageError(f"executor ssh runs on hosts: give --workers [USER@]HOST[:PORT]=N,... (got --workers {workers})")
        crowded = next((h for h in workers.hosts if h.count > MAX_WORKERS_PER_HOST), None)
        if crowded is not None:
            raise UsageError(
                f"--workers {crowded}: executor ssh runs at most {MAX_WORKERS_PER_HOST} workers per host "
                "(each holds an SSH session, and sshd allows 10 per connection)"
            )
        names = [h.host for h in workers.hosts]
        twice = next((h for h in workers.hosts if names.count(h.host) > 1), None)
        if twice is not None:
            raise UsageError(
                f"--workers {workers}: {twice.host} is given twice (with other ports); executor ssh tells hosts apart by "
                "[USER@]HOST: reach the second one as another user, or through a ~/.ssh/config alias"
            )
        return workers.slots()

    # -- install ----------------------------------------------------------------

    def install(self, package: WorkerPackage, env: Any) -> None:
        """Connect to every host and make its worker venv current, all hosts at once."""
        from agilab_executor_ssh.host import Host
        from agilab_executor_ssh.loop import LoopThread

        if package.kind != "venv":
            raise ConfigError(f"app {package.app}: executor ssh needs a worker venv package, got {package.kind!r}")
        cfg: SshOptions = self.config
        if self._loop is None:
            self._loop = LoopThread()
            self._hosts = [Host(h.host, h.port, cfg.python_for(h.host), cfg.dir_for(h.host)) for h in self.workers.hosts]
        self._package = package
        self._home = Path(env.home)
        self._loop.call(self._install_all(package, self._home, Path(env.wenv_dir) / "ssh-wheels"))

    async def _install_all(self, package: WorkerPackage, home: Path, wheels: Path) -> None:
        import asyncio  # running already (this is a coroutine); not imported when the plugin loads

        results = await asyncio.gather(*(self._install_host(h, package, home, wheels) for h in self._hosts), return_exceptions=True)
        failures = [(h, r) for h, r in zip(self._hosts, results, strict=True) if isinstance(r, BaseException)]
        if not failures:
            return
        for _, exc in failures:
            if not isinstance(exc, Exception):
                raise exc  # Ctrl-C, cancellation: not a host's fault
        from agilab_executor_ssh.host import host_error

        errors = [host_error(h, exc) for h, exc in failures]
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError("; ".join(str(e) for e in errors))

    async def _install_host(self, host: Any, package: WorkerPackage, home: Path, cache: Path) -> None:
        import asyncio

        from agilab_executor_ssh.wheelhouse import host_wheels

        cfg: SshOptions = self.config
        if host.conn is None:
            await host.open(cfg.connection(), home)
            self.report(f"ssh {host.name}: connected in {host.timings['connect']:.1f} s")
        with host.timed("install"):
            facts = await host.probe()
            wheels = await asyncio.to_thread(host_wheels, package, facts, cache)
            sent = host.traffic.sent_files
            state = await host.install(package, wheels)
        uploaded = host.traffic.sent_files - sent
        self.report(
            f"ssh {host.name}: {facts.describe()}; worker venv {state} ({len(wheels)} wheels, {uploaded} sent) in {host.timings['install']:.1f} s"
        )

    # -- run --------------------------------------------------------------------

    def run(self, plan: WorkPlan, items: Mapping[str, WorkItem], task: WorkerTask, on_result: OnResult) -> None:
        from agilab_executor_ssh.remote_task import run_host_batch
        from agilab_executor_ssh.session import RunSession

        if self._package is None or self._loop is None:
            raise ConfigError("executor ssh: run() before install(): the hosts have no worker venv")
        cfg: SshOptions = self.config
        self._session = session = RunSession(self._loop, self._hosts, cfg, task, self.report, home=self._home)
        started = time.perf_counter()
        try:
            plan = session.start(plan, items)  # items moved to the hosts that hold their inputs
            # Here, not above: Dask is first imported by start(), while the workers launch.
            from agilab_executor_dask.dispatch import Dispatch

            arrivals = session.arrivals(on_result)
            while True:
                dispatch = Dispatch(
                    session.cluster, plan, items, session.host_task, arrivals,
                    retries=cfg.retries, batch_size=cfg.batch_size, worker_timeout=cfg.worker_timeout,
                    on_submit=session.stage_for, pinned=True,
                    run=run_host_batch, on_batch=session.on_batch if session.bundles else None,
                )
                try:
                    dispatch.run()
                finally:
                    self._info["batches"] = self._info.get("batches", 0) + dispatch.batches
                    arrivals.flush()  # finished items whose outputs are on their way count, even when the run stops early
                if not arrivals.lost:
                    break
                plan, items = self._again(plan, items, arrivals, on_result)
                if not items:
                    break
        finally:
            session.finish(time.perf_counter() - started)

    def _again(self, plan: WorkPlan, items: Mapping[str, WorkItem], arrivals: Any, on_result: OnResult) -> tuple[WorkPlan, dict[str, WorkItem]]:
        """A plan, over the hosts left, of the items whose outputs went with a lost host (failed when no host is left)."""
        lost_hosts = {h.name for h in self._hosts if h.lost is not None}
        again = {i: items[i] for i in arrivals.lost}
        arrivals.lost = []
        slots = [s for s in plan.slots if s.host not in lost_hosts]
        if not slots:
            for item_id in again:
                on_result(ItemResult.failure(item_id, "OutputLost", "its outputs went with its host, and no host is left to run it again"))
            return balance([], plan.slots[:1]), {}
        self.report(f"ssh: {len(again)} items whose outputs were lost with their host run again")
        return balance(list(again.values()), slots), again

    def info(self) -> dict[str, Any]:
        info = dict(self._info)
        if self._session is not None:
            info.update(self._session.info())
        info["hosts"] = {h.name: h.to_dict() for h in self._hosts}
        return info

    def close(self) -> None:
        """Stop every remote process, remove the run's files on the hosts, close the connections; safe twice."""
        session, self._session = self._session, None
        loop, self._loop = self._loop, None
        try:
            if session is not None:
                session.close()
        finally:
            if loop is not None:
                try:
                    loop.call(_close_hosts(self._hosts), timeout=60)
                except Exception as exc:  # noqa: BLE001 - closing must not hide the run's own outcome
                    self.report(f"ssh: closing the connections: {one_line(exc)}")
                finally:
                    loop.close()


async def _close_hosts(hosts: list[Any]) -> None:
    import asyncio

    await asyncio.gather(*(h.close() for h in hosts), return_exceptions=True)


@hookimpl
def register_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec(
            "ssh",
            SshExecutor,
            config_type=SshOptions,
            description="SSH hosts: --workers [USER@]HOST[:PORT]=N,...; worker venvs built on each host, Dask through the SSH connections",
        )
    ]
