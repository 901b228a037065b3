"""One run on the hosts: the scheduler here, the workers there, inputs out and outputs home.

A run's files on a host live in ``<remote_dir>/runs/<run id>/`` (``data/``,
``outputs/``, ``logs/``) and are removed when the run ends. Inputs under
``shared_dir`` (a folder every host sees at the same path) are read where
they are, and outputs written there stay there.

The scheduler runs in this process, with work stealing off: a batch runs on
the worker the dispatch placed it on, whose host has its inputs (staged by
:meth:`RunSession.stage_for` just before it is sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import asyncssh

from agilab_core import THREAD_VARS, ConfigError, ItemResult, OnResult, WorkerTask, WorkItem, WorkPlan, one_line
from agilab_executor_ssh import bundle
from agilab_executor_ssh.arrivals import Arrivals, OutputsLost
from agilab_executor_ssh.host import Host
from agilab_executor_ssh.leftovers import Leftovers
from agilab_executor_ssh.locality import near_inputs
from agilab_executor_ssh.loop import LoopThread
from agilab_executor_ssh.options import SshOptions
from agilab_executor_ssh.remote_task import HostTask
from agilab_executor_ssh.sums import InputSums
from agilab_executor_ssh.transfer import BundleFetch
from agilab_executor_ssh.workers import RemoteWorker

POLL_SECONDS = 0.05
#: Items per worker slot whose inputs are sent before the first batch; the others' go with their batch
#: (:meth:`RunSession.stage_for`), while earlier batches run, instead of all before any item starts.
STAGED_AHEAD = 64


class RunSession:
    """The hosts' side of one run; :meth:`close` leaves nothing of it running."""

    def __init__(
        self, loop: LoopThread, hosts: list[Host], config: SshOptions, task: WorkerTask, report: Callable[[str], None], home: Path | None = None
    ) -> None:
        self.loop = loop
        self.hosts = hosts
        self.config = config
        self.task = task
        self.report = report
        self.by_name = {h.name: h for h in hosts}
        self.by_contact: dict[str, Host] = {}
        self.staged: dict[str, set[str]] = {h.name: set() for h in hosts}
        self.inputs = InputSums(Path(task.data_dir), home / "ssh" / "sums" if home is not None else None) if task.data_dir is not None else None
        self.leftovers = Leftovers(home / "ssh" / "runs" if home is not None else None)
        self.items: Mapping[str, WorkItem] = {}
        self.cluster: Any = None
        self.host_task = HostTask.of(task)
        self.home = Path(task.output_dir)  # where outputs come home to
        self.started: dict[str, float] = {}
        self.facts: dict[str, Any] = {}
        self.sums: dict[str, str] = {}  # every input of the run: its sha256
        self.bundled: dict[str, tuple[BundleFetch, dict[str, int]]] = {}  # item id -> its batch's bundle, its outputs' offsets

    # -- where things are -----------------------------------------------------------

    def _shared(self, path: Path | None) -> bool:
        if path is None or not self.config.shared_dir:
            return False
        shared = Path(self.config.shared_dir).expanduser().resolve()
        path = Path(path).resolve()
        return path == shared or shared in path.parents

    @property
    def bundles(self) -> bool:
        """Whether hosts bundle each batch's small outputs (not when outputs are written where they belong)."""
        return not self._shared(self.task.output_dir)

    def outputs_on(self, host: Host) -> str:
        return str(self.task.output_dir) if self._shared(self.task.output_dir) else f"{host.run_dir(self.task.run_id)}/outputs"

    def data_on(self, host: Host) -> str | None:
        if self.task.data_dir is None:
            return None
        return str(self.task.data_dir) if self._shared(self.task.data_dir) else f"{host.run_dir(self.task.run_id)}/data"

    # -- starting -------------------------------------------------------------------

    def start(self, plan: WorkPlan, items: Mapping[str, WorkItem]) -> WorkPlan:
        """Start the scheduler and every host's workers; meanwhile move items to the hosts that hold their inputs
        and send each host the run's input index and the inputs of its slots' first items. Wait until all
        workers have joined; return the plan the run follows."""
        self.items = items
        per_host: dict[str, list[Any]] = {}
        for slot, ids in zip(plan.slots, plan.assignments, strict=True):
            if ids:
                per_host.setdefault(slot.host, []).append(slot)
        self.leftovers.note(self.task.run_id, {h.name: h.run_dir(self.task.run_id) for h in self.hosts})  # before anything is written there
        port: asyncio.Future[int] = self.loop.loop.create_future()  # the scheduler's: workers launch (and import Dask) before it is known
        launching = self.loop.submit(self._stage_and_start(plan, per_host, port))  # inputs travel while workers import
        try:
            self.cluster = self._start_scheduler()
        except BaseException:
            self.loop.loop.call_soon_threadsafe(port.cancel)
            with contextlib.suppress(BaseException):
                self.loop.wait(launching, timeout=self.config.worker_timeout)  # launched workers are the hosts' to stop (:meth:`close`)
            raise
        self.loop.loop.call_soon_threadsafe(port.set_result, int(self.cluster.address.rpartition(":")[2]))
        plan, workers = self.loop.wait(launching)
        self._await_workers(workers)
        self.cluster.check_environment(self.task.env_hash, "the worker venv of each host")
        self.report(f"ssh: {self.cluster.connected()} workers on {len(per_host)} hosts connected to {self.cluster.address} through SSH")
        return plan

    async def _stage_and_start(self, plan: WorkPlan, per_host: dict[str, list[Any]], port: asyncio.Future[int]) -> tuple[WorkPlan, list[RemoteWorker]]:
        started = asyncio.ensure_future(self._start_all(per_host, port))
        try:
            if self.staging:
                plan = await self._near_inputs(plan)
                ahead: dict[str, list[str]] = {name: [] for name in per_host}
                for slot, ids in zip(plan.slots, plan.assignments, strict=True):
                    ahead.setdefault(slot.host, []).extend(ids[:STAGED_AHEAD])
                index = json.dumps(self.sums).encode("ascii")  # any name, surrogates too, as \u escapes
                await asyncio.gather(*(self._prepare(self.by_name[name], index, ids) for name, ids in ahead.items() if name in per_host))
        finally:
            workers = await started  # started workers are the hosts' to stop, whatever staging did
        return plan, workers

    def _hash_inputs(self, rels: list[str]) -> dict[str, str]:
        assert self.inputs is not None
        sums = {rel: self.inputs(rel)[2] for rel in rels}
        self.inputs.save()
        self.facts["inputs_hashed"] = self.inputs.hashed  # the others' sha256 were remembered from earlier runs (:mod:`.sums`)
        return sums

    async def _near_inputs(self, plan: WorkPlan) -> WorkPlan:
        """``plan`` with items moved to hosts whose cache holds their inputs (:mod:`.locality`)."""
        rels = sorted({rel for item in self.items.values() for rel in item.inputs})
        self.sums = await asyncio.to_thread(self._hash_inputs, rels)
        held: dict[str, set[str]] = {}
        for host in self.hosts:
            try:
                held[host.name] = await host.cache.present() if host.cache is not None else set()
            except (asyncssh.Error, OSError):
                held[host.name] = set()  # its cache cannot be listed: it is sent what it lacks, or found lost later
        return near_inputs(plan, self.items, lambda host, item: all(self.sums[rel] in held.get(host, ()) for rel in item.inputs))

    @property
    def staging(self) -> bool:
        """Whether hosts get the run's inputs sent (not when they read them where they are)."""
        return self.inputs is not None and not self._shared(self.task.data_dir)

    def index_on(self, host: Host) -> str:
        return f"{host.run_dir(self.task.run_id)}/inputs.json"

    async def _prepare(self, host: Host, index: bytes, item_ids: list[str]) -> None:
        """Before ``host``'s workers run anything: the run's input index, and the inputs of ``item_ids``."""
        try:
            await host.put_bytes(self.index_on(host), index)
        except Exception as exc:  # noqa: BLE001 - said in one line, naming the host
            raise ConfigError(f"host {host.name}: cannot send the run's input index: {one_line(exc)}") from None
        await self._stage(host, item_ids)

    async def _stage(self, host: Host, item_ids: list[str]) -> None:
        """Send ``host`` the inputs of ``item_ids`` it lacks (its workers link them into place, :mod:`.links`)."""
        if not self.staging:
            return
        wanted = sorted({rel for i in item_ids for rel in self.items[i].inputs} - self.staged[host.name])
        if not wanted:
            return
        files = await asyncio.to_thread(lambda: [self.inputs(rel) for rel in wanted])  # type: ignore[misc]
        try:
            await host.send_inputs((local, sha) for _, local, sha in files)
        except Exception as exc:  # noqa: BLE001 - said in one line, naming the host
            raise ConfigError(f"host {host.name}: cannot send the run's inputs: {one_line(exc)}") from None
        self.staged[host.name].update(wanted)

    def _start_scheduler(self) -> Any:
        import dask
        from agilab_executor_dask.cluster import Cluster
        from distributed import Client, Scheduler, SpecCluster

        scheduler = {
            "cls": Scheduler,
            "options": {"host": "127.0.0.1", "port": 0, "dashboard": False, "dashboard_address": ":0", "allowed_failures": 0},
        }
        with dask.config.set({"distributed.scheduler.work-stealing": False}):
            spec = SpecCluster(workers={}, scheduler=scheduler, silence_logs=logging.CRITICAL, name="agilab-ssh")
        try:
            client = Client(spec, set_as_default=False)
        except BaseException:
            spec.close(timeout=10)
            raise
        return Cluster(client, "embedded", owned=spec, facts={"cluster": "ssh"})

    async def _start_all(self, per_host: dict[str, list[Any]], port: asyncio.Future[int]) -> list[RemoteWorker]:
        started = await asyncio.gather(*(self._start_host(self.by_name[name], slots, port) for name, slots in per_host.items()), return_exceptions=True)
        for result in started:
            if isinstance(result, BaseException):
                raise result
        return [w for result in started for w in result]  # type: ignore[union-attr]

    async def _start_host(self, host: Host, slots: list[Any], port: asyncio.Future[int]) -> list[RemoteWorker]:
        assert host.facts is not None
        threads = self.config.threads_per_worker or max(1, host.facts.cores // len(slots))
        run_dir = host.run_dir(self.task.run_id)
        config = {
            "host": host.name, "output_dir": self.outputs_on(host), "data_dir": self.data_on(host), "logs": f"{run_dir}/logs",
            "bundle_dir": f"{run_dir}/bundles" if self.bundles else None,
            "input_index": self.index_on(host) if self.staging else None, "cache_dir": host.cache.root if host.cache else None,
            "preload": self.task.worker_module, "death_timeout": max(30.0, self.config.worker_timeout),
            "env": dict.fromkeys(THREAD_VARS, str(threads)),
        }
        workers = await host.start_workers(slots, port, config, self.config.worker_timeout, on_start=lambda w: self._register(w, host))
        self.started[host.name] = time.perf_counter()
        return workers

    def _register(self, worker: RemoteWorker, host: Host) -> None:
        self.by_contact[worker.contact] = host

    def _await_workers(self, workers: list[RemoteWorker]) -> None:
        deadline = time.monotonic() + self.config.worker_timeout
        while self.cluster.connected() < len(workers):
            for worker in workers:
                if worker.process.exit_status is not None or worker.process.is_closing():
                    host = self.by_contact[worker.contact]
                    why = self.loop.call(host.worker_log(worker, f"{host.run_dir(self.task.run_id)}/logs"))
                    raise ConfigError(f"host {host.name}: Dask worker {worker.name} exited at start: {why}")
            if time.monotonic() > deadline:
                raise ConfigError(f"ssh: {self.cluster.connected()} of {len(workers)} Dask workers joined within {self.config.worker_timeout:g} s (-o worker_timeout)")
            time.sleep(POLL_SECONDS)

    # -- during the run ----------------------------------------------------------------

    def stage_for(self, target: str, items: list[WorkItem]) -> None:
        """Before a batch is sent to the worker at ``target``: its host gets the batch's inputs."""
        host = self.by_contact.get(target)
        if host is None or self.inputs is None:
            return
        try:
            self.loop.call(self._stage(host, [i.id for i in items]))
        except ConfigError as exc:
            host.check_alive()
            if host.lost is None:
                raise
            self.report(f"ssh {host.name}: lost ({one_line(exc)})")  # its workers are gone too: the batch comes back

    def on_batch(self, results: list[ItemResult]) -> None:
        """A batch finished: note which of its outputs its host bundled (:mod:`.bundle`), before its results are reported."""
        planned = bundle.layout(results)
        host = self.by_name.get(results[0].host) if results else None
        if planned is None or host is None:
            return
        name, parts = planned
        offsets: dict[str, dict[str, int]] = {}
        for item_id, out, offset in parts:
            offsets.setdefault(item_id, {})[out.path] = offset
        fetch = BundleFetch(f"{host.run_dir(self.task.run_id)}/bundles/{name}", bundle.size(parts), users=len(offsets))
        for item_id, where in offsets.items():
            self.bundled[item_id] = (fetch, where)

    def arrivals(self, on_result: OnResult) -> Arrivals:
        """``on_result`` behind a step that brings each item's outputs home first."""
        return Arrivals(self.loop.loop, self._fetch, on_result)

    def _fetch(self, result: ItemResult) -> Coroutine[Any, Any, ItemResult] | None:
        host = self.by_name.get(result.host)
        if not result.ok or not result.outputs or host is None or self._shared(self.task.output_dir):
            return None
        return self._fetched(host, result)

    async def _fetched(self, host: Host, result: ItemResult) -> ItemResult:
        try:
            await host.fetch_outputs(self.outputs_on(host), result.outputs, self.home, self.bundled.pop(result.item_id, None))
        except Exception as exc:  # noqa: BLE001 - the item fails, naming the host; the run goes on
            host.check_alive()
            if host.lost is not None:
                raise OutputsLost(result.item_id) from None
            return ItemResult.failure(
                result.item_id, "OutputLost", f"host {host.name}: its outputs could not be brought back: {one_line(exc)}",
                worker=result.worker, host=result.host, started=result.started, attempts=result.attempts, runtime=result.runtime,
            )
        return result

    # -- ending ------------------------------------------------------------------------

    def finish(self, seconds: float) -> None:
        """Record per host how long it ran and whether it was lost."""
        now = time.perf_counter()
        for host in self.hosts:
            host.check_alive()
            if host.name in self.started:
                host.timings["run"] += now - self.started.pop(host.name)
        self.facts["seconds"] = round(seconds, 6)
        self.bundled.clear()  # bundles of results reported twice (the first counted): never fetched

    def info(self) -> dict[str, Any]:
        facts = dict(self.facts)
        if self.cluster is not None:
            facts.update(self.cluster.info())
        return facts

    def close(self) -> None:
        """Close the scheduler, stop every worker on the hosts and remove the run's files there.

        The folders that runs of this home whose manager was killed left on
        these hosts go in the same command (:mod:`.leftovers`).
        """
        cluster, self.cluster = self.cluster, None
        stale = self.leftovers.stale({h.name for h in self.hosts})
        try:
            cleaned = self.loop.call(self._clean_hosts(stale), timeout=60)  # first: the scheduler, still quiet, sees its workers go
            for run_id in [self.task.run_id, *stale]:
                self.leftovers.cleared(run_id, cleaned)
        finally:
            if cluster is not None:
                self.facts.update(cluster.info())
                cluster.close()

    async def _clean_hosts(self, stale: dict[str, dict[str, str]]) -> set[str]:
        """Stop each host's workers and remove its run folders; the hosts where they are gone."""

        async def clean(host: Host) -> bool:
            await host.stop_workers()
            left = [folders[host.name] for folders in stale.values() if host.name in folders]
            return await host.remove(host.run_dir(self.task.run_id), *left)

        done = await asyncio.gather(*(clean(h) for h in self.hosts), return_exceptions=True)
        return {h.name for h, ok in zip(self.hosts, done, strict=True) if ok is True}
