"""``AGI``: the library API behind the CLI — plan a run, or run it, synchronously or not.

A run is: resolve the app and its environment, build typed args, let the
manager list its work items, plan them over the executor's slots, package the
worker, then let the executor run the items while results stream into the
evidence. Everything that can be wrong with the request is checked before the
run folder exists, so a refused request leaves nothing behind. Whatever
happens after (a raising callback, Ctrl-C, SIGTERM, a full disk), the run's
record is finished by its :class:`~agilab_core.evidence.RunRecorder`.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypedDict, Unpack, cast

import attrs

from agilab_core.app import AppSpec, ItemResult, Manager, WorkItem
from agilab_core.atomic import write_json
from agilab_core.capacity import read_capacities, update_capacities
from agilab_core.env import AgiEnv
from agilab_core.errors import AgilabError, ConfigError, InputError, PluginError, UsageError, one_line
from agilab_core.evidence import (
    RUN_FAILED,
    RUN_INTERRUPTED,
    RUN_OK,
    Run,
    RunRecorder,
    manager_identity,
    new_run_dir,
    verify_outputs,
)
from agilab_core.executor import Executor, ExecutorSpec, Report
from agilab_core.packaging import WorkerPackage
from agilab_core.plan import WorkersSpec, WorkPlan
from agilab_core.plugins import Registry, load_plugins
from agilab_core.redaction import secret_values
from agilab_core.resume import PreviousRun
from agilab_core.settings import AppSettings, build_args, fold_dotted, secret_fields, structure, typed_values, unstructure
from agilab_core.task import WorkerTask

DEFAULT_EXECUTOR = "local"
#: File in an output folder naming the app and run that last wrote there.
OUTPUTS_MARK = ".agilab-outputs.json"


class RequestFields(TypedDict, total=False):
    """The fields of a :class:`RunRequest` as keyword arguments of ``AGI.run`` and its siblings."""

    executor: str | None
    workers: str | int | None
    args: Mapping[str, Any] | None
    executor_options: Mapping[str, Any] | None
    home: str | Path | None
    out: str | Path | None
    cython: bool | None
    resume: str | None


def _mapping(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def _out_path(value: str | Path | None) -> Path | None:
    if isinstance(value, str) and not value.strip():  # Path("") would be the current folder
        raise UsageError("--out is empty; give a folder (use --out . to write into the current folder)")
    return _path(value)


@attrs.frozen(kw_only=True)
class RunRequest:
    """What to run, where and how: the one request the CLI and ``AGI`` share.

    ``args`` override the app's settings (``--set``); ``executor_options``
    are the executor's ``-o`` options; ``None`` means "from the app's
    settings, else the default". ``resume`` is the id of a run to complete.
    """

    app: str | AppSpec
    executor: str | None = None
    workers: str | int | None = None
    args: dict[str, Any] = attrs.field(factory=dict, converter=_mapping)
    executor_options: dict[str, Any] = attrs.field(factory=dict, converter=_mapping)
    home: Path | None = attrs.field(default=None, converter=_path)
    out: Path | None = attrs.field(default=None, converter=_out_path)
    cython: bool | None = None
    resume: str | None = None

    @classmethod
    def of(cls, app: str | AppSpec | RunRequest, **fields: Unpack[RequestFields]) -> RunRequest:
        """``app`` as a request (a request given is returned with ``fields`` applied)."""
        if isinstance(app, RunRequest):
            return attrs.evolve(app, **fields) if fields else app
        return cls(app=app, **fields)

    @property
    def app_name(self) -> str:
        return self.app if isinstance(self.app, str) else self.app.name


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

    @classmethod
    def of(cls, run: Run, manifest: dict[str, Any], results: tuple[ItemResult, ...]) -> RunResult:
        """The result of ``run`` as its final ``manifest`` records it."""
        return cls(
            run_id=run.run_id,
            app=run.app,
            executor=run.executor,
            status=manifest["status"],
            items=manifest["items"],
            manifest=run.manifest_path,
            outputs=run.output_dir,
            seconds=manifest["seconds"],
            summary=manifest.get("summary", {}),
            results=results,
            error=_error_line(manifest),
        )

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
    """A resolved request with its typed args, its items and their plan: enough to run."""

    resolved: _Resolved
    args: Any
    manager: Manager
    items: tuple[WorkItem, ...]
    plan: WorkPlan
    capacities: dict[str, float]
    slots: tuple[Any, ...]
    data_root: Path | None = None


class Agi:
    """Entry point for scripts and notebooks. ``AGI`` is a ready-made instance.

    Every method takes the app (or a whole :class:`RunRequest`) and the
    request's fields as keywords. A registry (the loaded plugins) can be given
    for tests or embedding; otherwise plugins are loaded on first use.
    """

    def __init__(self, registry: Registry | None = None) -> None:
        self._registry = registry

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = load_plugins()
        return self._registry

    # -- resolving and planning ------------------------------------------------

    def _env(self, request: RunRequest) -> tuple[AppSpec, AgiEnv]:
        """The request's app and its environment (folders, settings file)."""
        reg = self.registry
        spec = request.app if isinstance(request.app, AppSpec) else reg.app(request.app)
        env: AgiEnv = reg.pm.hook.resolve_env(app=spec, overrides={"home": request.home} if request.home else {})
        return spec, env

    def _resolve(self, request: RunRequest) -> _Resolved:
        reg = self.registry
        spec, env = self._env(request)
        settings = env.settings()
        exec_spec = reg.executor(request.executor or settings.cluster.executor or DEFAULT_EXECUTOR)
        options = fold_dotted({**settings.cluster.options, **request.executor_options}, exec_spec.config_type)
        config: Any = structure(typed_values(options, exec_spec.config_type), exec_spec.config_type, f"executor {exec_spec.name} options (-o)", path="options")
        workers_text = request.workers if request.workers is not None else settings.cluster.workers
        if workers_text is None:
            workers_text = exec_spec.executor.default_workers
        return _Resolved(spec, env, settings, exec_spec, config, WorkersSpec.parse(workers_text))

    def _prepare(self, request: RunRequest) -> _Prepared:
        r = self._resolve(request)
        manager_cls = r.spec.manager
        parsed_args: Any = build_args(manager_cls.args_type, r.settings, typed_values(request.args, manager_cls.args_type))
        slots = r.executor.executor.slots(r.config, r.workers)
        manager = manager_cls()
        items = _checked_items(r.spec, r.env, manager.work_items(parsed_args, r.env))
        measured = read_capacities(r.env.capacity_path)
        if measured.problem:
            warnings.warn(f"agilab: {measured.problem}; those entries are ignored", stacklevel=3)
        capacities = measured.hosts
        plan = self._plan(items, slots, capacities)
        return _Prepared(r, parsed_args, manager, items, plan, capacities, tuple(slots), manager.data_root(parsed_args, r.env))

    def _plan(self, items: tuple[WorkItem, ...], slots: list[Any], capacities: dict[str, float]) -> WorkPlan:
        """Ask ``plan_work`` implementations in hook order; the first answer must place every item once."""
        caller = self.registry.pm.hook.plan_work
        kwargs = {"items": list(items), "workers": slots, "capacities": capacities}
        for impl in reversed(caller.get_hookimpls()):  # pluggy's own order: tryfirst, then last registered first
            if getattr(impl, "hookwrapper", False) or getattr(impl, "wrapper", False):
                continue
            plan: Any = impl.function(*(kwargs[name] for name in impl.argnames))
            if plan is None:
                continue
            problem = _placement_problem(plan, items)
            if problem:
                raise ConfigError(f"plan_work of plugin {impl.plugin_name!r} {problem}; a plan must place every item exactly once")
            return cast(WorkPlan, plan)
        raise ConfigError("no plan_work implementation answered")

    def get_distrib(self, app: str | AppSpec | RunRequest, **fields: Unpack[RequestFields]) -> PlanResult:
        """The work plan per worker slot for this request; nothing is run."""
        p = self._prepare(RunRequest.of(app, **fields))
        r = p.resolved
        return PlanResult(r.spec.name, r.executor.name, str(r.workers), p.args, p.items, p.plan, p.capacities)

    async def aget_distrib(self, app: str | AppSpec | RunRequest, **fields: Unpack[RequestFields]) -> PlanResult:
        """Async twin of :meth:`get_distrib`."""
        import asyncio  # only the async API needs it: not imported by every CLI run

        return await asyncio.to_thread(self.get_distrib, app, **fields)

    # -- installing -----------------------------------------------------------

    def install(self, app: str | AppSpec | RunRequest, *, report: Report | None = None, **fields: Unpack[RequestFields]) -> WorkerPackage:
        """Package the app's worker for the executor and let the executor prepare its workers.

        Returns at once (``cached=True``) when the worker venv is current.
        ``cython`` defaults to ``[cluster] cython`` in the app's settings.
        """
        request = RunRequest.of(app, **fields)
        r = self._resolve(request)
        r.executor.executor.slots(r.config, r.workers)
        package = self._package(r, request.cython, report)
        with _executor(r, report) as ex:
            ex.install(package, r.env)
        return package

    async def ainstall(self, app: str | AppSpec | RunRequest, *, report: Report | None = None, **fields: Unpack[RequestFields]) -> WorkerPackage:
        """Async twin of :meth:`install`."""
        import asyncio  # only the async API needs it: not imported by every CLI run

        return await asyncio.to_thread(self.install, app, report=report, **fields)

    def _package(self, r: _Resolved, cython: bool | None, report: Report | None) -> WorkerPackage:
        ex = r.executor.executor
        options = {
            "cython": r.settings.cluster.cython if cython is None else cython,
            "executor": r.executor.name,
            "isolated": ex.isolated,
            "remote": ex.remote,
            "worker_distributions": ex.worker_distributions,
            "worker_requirements": ex.worker_requirements,
            "report": report,
        }
        package: WorkerPackage = self.registry.pm.hook.package_worker(app=r.spec, env=r.env, options=options)
        return package

    # -- running --------------------------------------------------------------

    def run(
        self,
        app: str | AppSpec | RunRequest,
        *,
        on_start: Callable[[Run, int], None] | None = None,
        on_result: Callable[[ItemResult], None] | None = None,
        report: Report | None = None,
        **fields: Unpack[RequestFields],
    ) -> RunResult:
        """Run the request and return its typed result.

        Raises :class:`AgilabError` (nothing ran) for a bad request. A run whose
        items fail, or whose executor breaks mid-way, returns ``status="failed"``
        with the reasons in the result and the manifest. The worker venv is
        built first when it is missing (``report`` hears about it), never when
        it is current. ``on_start(run, items)`` and ``on_result(result)`` are
        called in this thread; if one raises, the run ends there, recorded as
        failed with that error.
        """
        request = RunRequest.of(app, **fields)
        previous = PreviousRun.find(self._env(request)[1], request.resume) if request.resume else None
        if previous:
            request = previous.defaults_for(request)
        p = self._prepare(request)
        carried: dict[str, ItemResult] = {}
        if previous:
            p, carried = self._without_carried(p, previous)
        package = self._package(p.resolved, request.cython, report)
        if previous:
            previous.check_environment(package.env_hash)
        output_dir = previous.output_dir if previous else _output_folder(request.out, p)
        run, recorder = self._open_run(p, package, output_dir, request, planned=len(p.items) + len(carried))
        with recorder:
            sink = _ResultSink(self, run, recorder, on_result, remote=p.resolved.executor.executor.remote)
            for result in carried.values():
                sink.record(result)
            recorder.log(f"run {run.run_id} of {run.app} on {run.executor}: {len(p.items)} items" + (f", {len(carried)} carried over from {request.resume}" if previous else ""))
            self._notify("run_started", run=run)
            status, extra = self._execute(p, package, run, sink, report, on_start)
            if previous:
                extra["carried_over"] = sorted(carried)
            manifest = recorder.finish(status, **extra)
        problem = update_capacities(p.resolved.env.capacity_path, list(recorder.results.values()), {slot.id: slot.host for slot in p.plan.slots})
        if problem:
            warnings.warn(f"agilab: {problem}", stacklevel=2)
        if self._listened("run_finished"):
            self._notify("run_finished", run=run, manifest=recorder.written())
        return RunResult.of(run, manifest, tuple(recorder.results.values()))

    async def arun(
        self,
        app: str | AppSpec | RunRequest,
        *,
        on_start: Callable[[Run, int], None] | None = None,
        on_result: Callable[[ItemResult], None] | None = None,
        report: Report | None = None,
        **fields: Unpack[RequestFields],
    ) -> RunResult:
        """Async twin of :meth:`run` (the run itself happens in a worker thread)."""
        import asyncio  # only the async API needs it: not imported by every CLI run

        return await asyncio.to_thread(self.run, app, on_start=on_start, on_result=on_result, report=report, **fields)

    def _without_carried(self, p: _Prepared, previous: PreviousRun) -> tuple[_Prepared, dict[str, ItemResult]]:
        """``p`` planned for the items the resumed run did not finish well, and the results carried over."""
        previous.check_request(p)
        carried = previous.verified_results(p.items)
        remaining = tuple(i for i in p.items if i.id not in carried)
        return attrs.evolve(p, items=remaining, plan=self._plan(remaining, list(p.slots), p.capacities)), carried

    def _open_run(self, p: _Prepared, package: WorkerPackage, output_dir: Path | None, request: RunRequest, planned: int) -> tuple[Run, RunRecorder]:
        """Create the run folder and its first manifest; on failure nothing half-made is left."""
        r = p.resolved
        try:
            run_id, run_dir = new_run_dir(r.env.runs_dir)
        except OSError as exc:
            raise ConfigError(f"{r.env.runs_dir}: cannot create the run folder: {exc.strerror}") from None
        try:
            if output_dir is None:
                output_dir = run_dir / "outputs"
            output_dir.mkdir(parents=True, exist_ok=True)
            write_json(output_dir / OUTPUTS_MARK, {"app": r.spec.name, "run_id": run_id})
            run = Run(run_id, r.spec.name, r.executor.name, p.args, run_dir, output_dir, time.time())
            dist, version = self.registry.distribution("app", r.spec.name)
            header = {
                "app": {"name": r.spec.name, "distribution": dist, "version": version},
                "args": unstructure(p.args),
                "executor": {"name": r.executor.name, "options": unstructure(r.config)},
                "workers": str(r.workers),
                "plan": p.plan.to_dict(),
                "environment": _environment(package),
                "manager": manager_identity(),
            }
            if request.resume:
                header["resumed_from"] = request.resume
            paths = _secret_paths(r.spec.manager.args_type, r.executor.config_type)
            secrets = secret_values({k: v for k, v in header.items() if k != "plan"}, paths)
            recorder = RunRecorder(run, header, planned=planned, secret_paths=paths, secrets=secrets)
            recorder.open()
        except OSError as exc:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise ConfigError(f"{run_dir}: cannot start the run's evidence: {exc.strerror or exc}") from None
        return run, recorder

    def _execute(
        self, p: _Prepared, package: WorkerPackage, run: Run, sink: _ResultSink, report: Report | None, on_start: Callable[[Run, int], None] | None
    ) -> tuple[str, dict[str, Any]]:
        """Let the executor run ``items``; the final status and the manifest's extra fields."""
        r = p.resolved
        task = WorkerTask(
            r.spec.name, run.run_id, r.spec.worker, p.args, run.output_dir,
            env_hash=package.env_hash, cython_modules=r.spec.cython_modules, data_dir=p.data_root,
        )
        expected = {i.id: i for i in p.items}
        sink.expect(expected)
        error: str | None = None
        try:
            if on_start:
                on_start(run, len(expected))
            if expected:
                ex = _executor(r, report)
                with ex:
                    ex.install(package, r.env)
                    ex.run(p.plan, expected, task, sink)
                    info = ex.info()
                if info:
                    sink.recorder.header["executor"]["info"] = info
        except KeyboardInterrupt:
            sink.recorder.finish(RUN_INTERRUPTED, error="interrupted", unfinished=sink.unfinished())
            raise
        except AgilabError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the run is recorded as failed, with the reason
            error = f"{type(exc).__name__}: {one_line(exc)}"
        if error:
            return RUN_FAILED, {"error": error, "unfinished": sink.unfinished()}
        sink.close_lost()
        try:
            results = sorted(sink.recorder.results.values(), key=lambda r: r.item_id)  # not arrival order: one input, one summary
            summary = p.manager.reduce(results, run) or {}
        except Exception as exc:  # noqa: BLE001 - the items' evidence stands; the summary is what failed
            return RUN_FAILED, {"error": f"the app's summary (reduce) failed: {type(exc).__name__}: {one_line(exc)}"}
        counts = sink.recorder.counts()
        status = RUN_OK if counts["failed"] == 0 and not sink.recorder.write_error else RUN_FAILED
        extra: dict[str, Any] = {"summary": summary}
        if sink.violations:
            more = f" (and {len(sink.violations) - 1} more)" if len(sink.violations) > 1 else ""
            status = RUN_FAILED
            extra.update(error=f"contract violation: {sink.violations[0]}{more}", contract_violations=sink.violations)
        return status, extra

    def _listened(self, hook: str) -> bool:
        """Whether a plugin implements the observer ``hook``."""
        return bool(getattr(self.registry.pm.hook, hook).get_hookimpls())

    def _notify(self, hook: str, **kwargs: Any) -> None:
        # An observer plugin that raises must not take a run down with it.
        if not self._listened(hook):
            return  # skip pluggy's call machinery (per item, it adds up)
        try:
            getattr(self.registry.pm.hook, hook)(**kwargs)
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"agilab: {hook} hook failed: {type(exc).__name__}: {one_line(exc)}", stacklevel=2)


class _ResultSink:
    """What an executor's ``on_result`` is: checks each result against the contract, then records it.

    An item reported twice, or an item that is not part of the run, is a
    contract violation of the executor: recorded, never merged. An item whose
    outputs are not where the executor says (missing, of another size, outside
    the output folder, claimed by another item, or, from a remote executor,
    with other contents) fails, naming the file.
    """

    def __init__(self, agi: Agi, run: Run, recorder: RunRecorder, on_result: Callable[[ItemResult], None] | None, remote: bool = False) -> None:
        self.agi = agi
        self.remote = remote  # outputs crossed a network: compare contents, not only sizes
        self.run = run
        self.recorder = recorder
        self.on_result = on_result
        self.expected: dict[str, WorkItem] = {}
        self.claimed: dict[str, str] = {}  # output path -> item id
        self.violations: list[str] = []
        self.observed = agi._listened("item_finished")  # asked once: per item, even the question adds up

    def expect(self, items: dict[str, WorkItem]) -> None:
        self.expected = items

    def __call__(self, result: ItemResult) -> None:
        if result.item_id not in self.expected:
            return self._violation(f"reported item {result.item_id!r}, which is not part of this run")
        if result.item_id in self.recorder.results:
            return self._violation(f"reported item {result.item_id!r} twice")
        self.record(self._checked(result))

    def record(self, result: ItemResult) -> None:
        """Record a result that is known good (carried over, or checked)."""
        for out in result.outputs:
            self.claimed.setdefault(out.path, result.item_id)
        self.recorder.add(result)
        if not result.ok and result.error:
            self.recorder.log(f"item {result.item_id} failed: {result.error.type}: {result.error.message}")
        if self.observed:
            self.agi._notify("item_finished", run=self.run, result=result)
        if self.on_result:
            self.on_result(result)

    def _checked(self, result: ItemResult) -> ItemResult:
        if not result.outputs:
            return result
        for out in result.outputs:
            owner = self.claimed.get(out.path)
            if owner is not None and owner != result.item_id:
                self._reverify(owner)
                return ItemResult.failure(
                    result.item_id, "OutputCollision", f"output {out.path} is also written by item {owner}; two items may not share an output",
                    worker=result.worker, host=result.host, started=result.started, attempts=result.attempts, runtime=result.runtime,
                )
        return verify_outputs(result, self.run.output_dir, content=self.remote)

    def _reverify(self, item_id: str) -> None:
        """An earlier item whose output another item has just overwritten fails too (its evidence no longer holds)."""
        earlier = self.recorder.results.get(item_id)
        if earlier is not None and earlier.ok:
            checked = verify_outputs(earlier, self.run.output_dir)
            if not checked.ok:
                self.recorder.add(checked)
                self.recorder.log(f"item {item_id} failed: its output was overwritten by another item")

    def _violation(self, what: str) -> None:
        message = f"executor {self.run.executor} {what}"
        self.violations.append(message)
        self.recorder.log(f"contract violation: {message}")
        warnings.warn(f"agilab: {message}", stacklevel=3)

    def unfinished(self) -> list[str]:
        return sorted(self.expected.keys() - self.recorder.results.keys())

    def close_lost(self) -> None:
        """Items the executor never reported are recorded as lost."""
        for item_id in self.unfinished():
            self.record(ItemResult.failure(item_id, "LostItem", "the executor returned no result for this item"))


def _executor(r: _Resolved, report: Report | None) -> Executor:
    """The executor of a resolved request, with ``report`` set (also for executors with their own ``__init__``)."""
    ex: Executor = r.executor.executor(r.config, r.workers)
    if report is not None:
        ex.report = report
    return ex


def _checked_items(spec: AppSpec, env: AgiEnv, items: Any) -> tuple[WorkItem, ...]:
    """The manager's items, refused when empty, of the wrong type, twice the same id, or with unsafe inputs."""
    items = tuple(items)
    if not items:
        raise InputError(f"app {spec.name} planned no work items; check its input settings in {env.settings_path}")
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, WorkItem):
            raise PluginError(f"app {spec.name}: work_items returned a {type(item).__name__}, expected WorkItem")
        if item.id in seen:
            raise InputError(f"app {spec.name} planned item id {item.id!r} twice; item ids must be unique")
        seen.add(item.id)
        for rel in item.inputs:
            if not isinstance(rel, str) or rel.startswith("/") or ".." in rel.split("/"):
                raise PluginError(f"app {spec.name}: item {item.id!r} input {rel!r} is not a path relative to the data root")
    return items


def _placement_problem(plan: Any, items: tuple[WorkItem, ...]) -> str | None:
    """Why ``plan`` does not place each of ``items`` exactly once (None when it does)."""
    if not isinstance(plan, WorkPlan):
        return f"returned a {type(plan).__name__}, not a WorkPlan"
    placed = [i for assignment in plan.assignments for i in assignment]
    wanted = {i.id for i in items}
    twice = sorted({i for i in placed if placed.count(i) > 1}) if len(placed) != len(set(placed)) else []
    if twice:
        return f"placed item {twice[0]!r} more than once"
    missing = sorted(wanted - set(placed))
    if missing:
        return f"placed {len(wanted) - len(missing)} of {len(wanted)} items (missing {missing[0]!r})"
    unknown = sorted(set(placed) - wanted)
    if unknown:
        return f"placed unknown item {unknown[0]!r}"
    return None


def _output_folder(out: Path | None, p: _Prepared) -> Path | None:
    """``--out`` checked: not the current folder by accident, not inside the input, empty or this app's."""
    if out is None:
        return None
    folder = out.expanduser().resolve()
    if p.data_root is not None:
        root = Path(p.data_root).resolve()
        if folder == root or root in folder.parents:
            raise UsageError(f"--out {folder} is inside the app's input folder {root}; its outputs would be read back as input")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {folder} is a file, not a folder")
    app = p.resolved.spec.name
    if folder.is_dir() and any(folder.iterdir()) and _outputs_owner(folder) != app:
        raise UsageError(f"--out {folder} is not empty and holds no earlier outputs of {app}; give an empty or new folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {folder}: cannot create folder: {exc.strerror}") from None
    return folder


def _outputs_owner(folder: Path) -> str | None:
    """The app whose run last wrote into ``folder`` (from its :data:`OUTPUTS_MARK`), if any."""
    try:
        mark = json.loads((folder / OUTPUTS_MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return mark.get("app") if isinstance(mark, dict) else None


def _secret_paths(args_type: type, config_type: type) -> list[str]:
    """Manifest paths of the fields marked secret in the app's args and the executor's options."""
    return [f"args.{f}" for f in secret_fields(args_type)] + [f"executor.options.{f}" for f in secret_fields(config_type)]


def _error_line(manifest: dict[str, Any]) -> str | None:
    error = manifest.get("error")
    evidence = manifest.get("evidence_error")
    return "; ".join(e for e in (error, evidence) if e) or None


def _environment(package: WorkerPackage) -> dict[str, Any]:
    """The manifest's ``environment``: identity hash first, then how it was packaged."""
    facts = package.to_dict()
    del facts["app"]
    return {"hash": facts.pop("env_hash"), **facts}


AGI = Agi()
