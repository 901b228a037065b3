"""``AGI``: the library API behind the CLI — plan a run, or run it, synchronously or not.

A run is: resolve the app and its environment, build typed args, let the
manager plan items, balance them over the executor's slots, package the worker,
then let the executor run the items while results stream into the manifest.
Everything that can be wrong with the request is checked before the run folder
exists, so a refused request leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from agilab_core.app import ITEM_FAILED, AppSpec, ItemError, ItemResult, Manager, WorkItem
from agilab_core.env import AgiEnv
from agilab_core.errors import AgilabError, ConfigError, InputError, UsageError, one_line
from agilab_core.evidence import (
    RUN_FAILED,
    RUN_INTERRUPTED,
    RUN_OK,
    Run,
    RunRecorder,
    new_run_dir,
    read_capacities,
    redact,
    update_capacities,
)
from agilab_core.executor import Executor, ExecutorSpec
from agilab_core.packaging import WorkerPackage
from agilab_core.plan import WorkersSpec, WorkPlan
from agilab_core.plugins import Registry, load_plugins
from agilab_core.settings import AppSettings, build_args, fold_dotted, structure, typed_values, unstructure
from agilab_core.task import WorkerTask

DEFAULT_EXECUTOR = "local"


@attrs.frozen
class PlanResult:
    """What ``AGI.get_distrib`` returns: the plan, nothing run."""

    app: str
    executor: str
    workers: str
    args: Any
    items: tuple[WorkItem, ...]
    plan: WorkPlan
    capacities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        weights = {i.id: i.weight for i in self.items}
        slots = self.plan.to_dict()["slots"]
        for slot in slots:
            slot["weight"] = sum(weights[i] for i in slot["items"])
        return {
            "app": self.app,
            "executor": self.executor,
            "workers": self.workers,
            "items": len(self.items),
            "capacities": self.capacities,
            "slots": slots,
        }


@attrs.frozen
class RunResult:
    """What ``AGI.run`` returns; ``to_dict()`` is the ``agilab run --json`` object."""

    run_id: str
    app: str
    executor: str
    status: str
    items: dict[str, int]
    manifest: Path
    outputs: Path
    seconds: float
    summary: dict[str, Any]
    results: tuple[ItemResult, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == RUN_OK

    @property
    def run_dir(self) -> Path:
        return self.manifest.parent

    def failed(self) -> list[ItemResult]:
        return [r for r in self.results if not r.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "app": self.app,
            "executor": self.executor,
            "status": self.status,
            "items": self.items,
            "manifest": str(self.manifest),
            "outputs": str(self.outputs),
            "seconds": round(self.seconds, 6),
            "summary": self.summary,
            "error": self.error,
            "failed": [{"item": r.item_id, "error": r.error.message if r.error else None} for r in self.failed()],
        }


@attrs.frozen
class _Resolved:
    """An app, its environment and settings, and a configured executor: enough to install."""

    spec: AppSpec
    env: AgiEnv
    settings: AppSettings
    executor: ExecutorSpec
    config: Any
    workers: WorkersSpec


@attrs.frozen
class _Prepared:
    """A resolved request with its typed args and balanced plan: enough to run."""

    resolved: _Resolved
    args: Any
    manager: Manager
    items: tuple[WorkItem, ...]
    plan: WorkPlan
    capacities: dict[str, float]
    data_root: Path | None = None


class Agi:
    """Entry point for scripts and notebooks. ``AGI`` is a ready-made instance.

    A registry (the loaded plugins) can be given for tests or embedding;
    otherwise plugins are loaded on first use.
    """

    def __init__(self, registry: Registry | None = None) -> None:
        self._registry = registry

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = load_plugins()
        return self._registry

    # -- resolving and planning ------------------------------------------------

    def _resolve(
        self,
        app: str | AppSpec,
        executor: str | None,
        workers: str | int | None,
        executor_options: Mapping[str, Any] | None,
        home: str | Path | None,
    ) -> _Resolved:
        reg = self.registry
        spec = app if isinstance(app, AppSpec) else reg.app(app)
        env = reg.pm.hook.resolve_env(app=spec, overrides={"home": home} if home else {})
        settings = env.settings()
        exec_spec = reg.executor(executor or settings.cluster.executor or DEFAULT_EXECUTOR)
        options = fold_dotted({**settings.cluster.options, **(executor_options or {})}, exec_spec.config_type)
        config = structure(typed_values(options, exec_spec.config_type), exec_spec.config_type, f"executor {exec_spec.name} options (-o)", path="options")
        workers_text = workers if workers is not None else settings.cluster.workers
        if workers_text is None:
            workers_text = exec_spec.executor.default_workers
        return _Resolved(spec, env, settings, exec_spec, config, WorkersSpec.parse(workers_text))

    def _prepare(
        self,
        app: str | AppSpec,
        executor: str | None,
        workers: str | int | None,
        args: Mapping[str, Any] | None,
        executor_options: Mapping[str, Any] | None,
        home: str | Path | None,
    ) -> _Prepared:
        r = self._resolve(app, executor, workers, executor_options, home)
        spec, env = r.spec, r.env
        manager_cls = spec.manager
        parsed_args = build_args(manager_cls.args_type, r.settings, typed_values(args, manager_cls.args_type))
        slots = r.executor.executor.slots(r.config, r.workers)
        manager = manager_cls()
        items = tuple(manager.work_items(parsed_args, env))
        if not items:
            raise InputError(f"app {spec.name} planned no work items; check its input settings in {env.settings_path}")
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise InputError(f"app {spec.name} planned item id {item.id!r} twice; item ids must be unique")
            seen.add(item.id)
        capacities = read_capacities(env.capacity_path)
        plan = self.registry.pm.hook.plan_work(items=list(items), workers=slots, capacities=capacities)
        if plan.item_count != len(items):
            raise ConfigError(f"plan_work placed {plan.item_count} of {len(items)} items; a plan must place every item once")
        return _Prepared(r, parsed_args, manager, items, plan, capacities, manager.data_root(parsed_args, env))

    def get_distrib(
        self,
        app: str | AppSpec,
        executor: str | None = None,
        workers: str | int | None = None,
        args: Mapping[str, Any] | None = None,
        executor_options: Mapping[str, Any] | None = None,
        home: str | Path | None = None,
    ) -> PlanResult:
        """The work plan per worker slot for these settings; nothing is run."""
        p = self._prepare(app, executor, workers, args, executor_options, home)
        r = p.resolved
        return PlanResult(r.spec.name, r.executor.name, str(r.workers), p.args, p.items, p.plan, p.capacities)

    async def aget_distrib(self, *a: Any, **kw: Any) -> PlanResult:
        """Async twin of :meth:`get_distrib`."""
        return await asyncio.to_thread(self.get_distrib, *a, **kw)

    # -- installing -----------------------------------------------------------

    def install(
        self,
        app: str | AppSpec,
        executor: str | None = None,
        workers: str | int | None = None,
        cython: bool | None = None,
        executor_options: Mapping[str, Any] | None = None,
        home: str | Path | None = None,
        report: Callable[[str], None] | None = None,
    ) -> WorkerPackage:
        """Package the app's worker for ``executor`` and let the executor prepare its workers.

        Returns at once (``cached=True``) when the worker venv is current.
        ``cython`` defaults to ``[cluster] cython`` in the app's settings.
        """
        r = self._resolve(app, executor, workers, executor_options, home)
        r.executor.executor.slots(r.config, r.workers)
        package = self._package(r, cython, report)
        with r.executor.executor(r.config, r.workers) as ex:
            ex.install(package, r.env)
        return package

    async def ainstall(self, *a: Any, **kw: Any) -> WorkerPackage:
        """Async twin of :meth:`install`."""
        return await asyncio.to_thread(self.install, *a, **kw)

    def _package(self, r: _Resolved, cython: bool | None, report: Callable[[str], None] | None) -> WorkerPackage:
        ex = r.executor.executor
        options = {
            "cython": r.settings.cluster.cython if cython is None else cython,
            "executor": r.executor.name,
            "isolated": ex.isolated,
            "worker_distributions": ex.worker_distributions,
            "worker_requirements": ex.worker_requirements,
            "report": report,
        }
        return self.registry.pm.hook.package_worker(app=r.spec, env=r.env, options=options)

    # -- running --------------------------------------------------------------

    def run(
        self,
        app: str | AppSpec,
        executor: str | None = None,
        workers: str | int | None = None,
        args: Mapping[str, Any] | None = None,
        executor_options: Mapping[str, Any] | None = None,
        out: str | Path | None = None,
        home: str | Path | None = None,
        on_start: Callable[[Run, int], None] | None = None,
        on_result: Callable[[ItemResult], None] | None = None,
        cython: bool | None = None,
        report: Callable[[str], None] | None = None,
    ) -> RunResult:
        """Run ``app`` and return its typed result.

        Raises :class:`AgilabError` (nothing ran) for a bad request. A run whose
        items fail, or whose executor breaks mid-way, returns ``status="failed"``
        with the reasons in the result and the manifest. The worker venv is
        built first when it is missing (``report`` hears about it), never when
        it is current.
        """
        p = self._prepare(app, executor, workers, args, executor_options, home)
        r = p.resolved
        reg = self.registry
        package = self._package(r, cython, report)
        if out:
            output_dir = Path(out).expanduser().resolve()
            try:
                output_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"--out {output_dir}: cannot create folder: {exc.strerror}") from None
        try:
            run_id, run_dir = new_run_dir(r.env.runs_dir)
        except OSError as exc:
            raise ConfigError(f"{r.env.runs_dir}: cannot create the run folder: {exc.strerror}") from None
        if not out:
            output_dir = run_dir / "outputs"
            output_dir.mkdir()
        run = Run(run_id, r.spec.name, r.executor.name, p.args, run_dir, output_dir, time.time())
        dist, version = reg.distribution("app", r.spec.name)
        header = {
            "app": {"name": r.spec.name, "distribution": dist, "version": version},
            "args": unstructure(p.args),
            "executor": {"name": r.executor.name, "options": redact(unstructure(r.config))},
            "workers": str(r.workers),
            "plan": p.plan.to_dict(),
            "environment": _environment(package),
        }
        recorder = RunRecorder(run, header)
        recorder.start()
        log = (run_dir / "logs" / "run.log").open("a", encoding="utf-8")
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} run {run_id} of {r.spec.name} on {r.executor.name} ({len(p.items)} items)\n")
        self._notify("run_started", run=run)
        if on_start:
            on_start(run, len(p.items))
        reported: set[str] = set()

        def on_item(result: ItemResult) -> None:
            if result.item_id in reported:
                return  # an executor must report each item once; keep the first
            reported.add(result.item_id)
            recorder.add(result)
            if not result.ok and result.error:
                log.write(f"item {result.item_id} failed: {result.error.type}: {result.error.message}\n")
            self._notify("item_finished", run=run, result=result)
            if on_result:
                on_result(result)

        task = WorkerTask(r.spec.name, run_id, r.spec.worker, p.args, output_dir, env_hash=package.env_hash, cython_modules=r.spec.cython_modules, data_dir=p.data_root)
        items_by_id = {i.id: i for i in p.items}
        error: str | None = None
        status = RUN_FAILED
        extra: dict[str, Any] = {}
        try:
            ex: Executor = r.executor.executor(r.config, r.workers)
            with ex:
                ex.install(package, r.env)
                ex.run(p.plan, items_by_id, task, on_item)
                info = ex.info()
            if info:
                header["executor"]["info"] = info
            for item_id in items_by_id.keys() - reported:
                on_item(_lost(item_id, "the executor returned no result for this item"))
            summary = p.manager.reduce(list(recorder.results), run) or {}
            counts = recorder.counts()
            status = RUN_OK if counts["failed"] == 0 else RUN_FAILED
            extra["summary"] = summary
        except KeyboardInterrupt:
            recorder.finish(RUN_INTERRUPTED, error="interrupted", unfinished=sorted(items_by_id.keys() - reported))
            log.close()
            raise
        except AgilabError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the run is recorded as failed, with the reason
            error = f"{type(exc).__name__}: {one_line(exc)}"
        if error:
            log.write(f"run failed: {error}\n")
            extra.update(error=error, unfinished=sorted(items_by_id.keys() - reported))
        manifest = recorder.finish(status, **extra)
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} run {run_id} {status}\n")
        log.close()
        update_capacities(r.env.capacity_path, recorder.results, {slot.id: slot.host for slot in p.plan.slots})
        self._notify("run_finished", run=run, manifest=manifest)
        return RunResult(
            run_id=run_id,
            app=r.spec.name,
            executor=r.executor.name,
            status=status,
            items=manifest["items"],
            manifest=run.manifest_path,
            outputs=output_dir,
            seconds=manifest["seconds"],
            summary=manifest.get("summary", {}),
            results=tuple(recorder.results),
            error=error,
        )

    async def arun(self, *a: Any, **kw: Any) -> RunResult:
        """Async twin of :meth:`run` (the run itself happens in a worker thread)."""
        return await asyncio.to_thread(self.run, *a, **kw)

    def _notify(self, hook: str, **kwargs: Any) -> None:
        # An observer plugin that raises must not take a run down with it.
        caller = getattr(self.registry.pm.hook, hook)
        if not caller.get_hookimpls():
            return  # nobody listens: skip pluggy's call machinery (per item, it adds up)
        try:
            caller(**kwargs)
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"agilab: {hook} hook failed: {type(exc).__name__}: {one_line(exc)}", stacklevel=2)


def _environment(package: WorkerPackage) -> dict[str, Any]:
    """The manifest's ``environment``: identity hash first, then how it was packaged."""
    facts = package.to_dict()
    del facts["app"]
    return {"hash": facts.pop("env_hash"), **facts}


def _lost(item_id: str, why: str) -> ItemResult:
    now = time.time()
    return ItemResult(item_id, ITEM_FAILED, "none", "none", now, now, error=ItemError("LostItem", why))


AGI = Agi()
