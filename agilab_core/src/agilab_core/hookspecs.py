"""Every hook a plugin can implement — the one page a plugin author needs.

Plugins are modules or objects listed under the ``agilab`` entry-point group.
Mark implementations with :data:`hookimpl`. An implementation may accept any
subset of a hook's arguments, so arguments are added over time but never
renamed or removed.

Three families:

* **registration** hooks hand the kernel things to own (apps, executors, pages);
  every plugin's answer is collected, validated and checked for name clashes;
* **decision** hooks (``firstresult``) choose how something is done; the kernel
  ships the default as a ``trylast`` implementation, so a plugin takes over by
  answering first, or passes by returning ``None``;
* **observer** hooks are told what happened; their return values are ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from agilab_core.app import AppSpec, ItemResult, WorkItem
    from agilab_core.env import AgiEnv
    from agilab_core.evidence import Run
    from agilab_core.executor import ExecutorSpec
    from agilab_core.packaging import WorkerPackage
    from agilab_core.plan import WorkerSlot, WorkPlan
    from agilab_core.views import PageSpec

PROJECT = "agilab"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------------
# Registration hooks
# -------------------------------------------------------------------------------


@hookspec
def register_apps() -> list[AppSpec]:
    """Return the apps this plugin provides.

    Called once when the plugin manager is built. Must be free of side effects:
    return :class:`~agilab_core.AppSpec` objects, do not import heavy modules.

    :return: a list of app specs; each ``name`` must be unique across all
        installed plugins (a clash marks the later plugin ``failed``).
    """


@hookspec
def register_executors() -> list[ExecutorSpec]:
    """Return the executors this plugin provides.

    Called once when the plugin manager is built. An executor is selected by
    name (``agilab run --executor NAME``); its options (``-o KEY=VALUE``) are
    structured into the spec's ``config_type``.

    :return: a list of :class:`~agilab_core.ExecutorSpec`; names must be unique.
    """


@hookspec
def register_pages() -> list[PageSpec]:
    """Return the pages (analysis views of a run) this plugin provides.

    :return: a list of :class:`~agilab_core.PageSpec`; names must be unique.
    """


# -------------------------------------------------------------------------------
# Decision hooks (firstresult)
# -------------------------------------------------------------------------------


@hookspec(firstresult=True)
def resolve_env(app: AppSpec, overrides: dict[str, Any]) -> AgiEnv | None:
    """Resolve the environment (home, settings file, folders) of ``app``.

    Called at the start of every run, plan and install. The default
    implementation uses ``overrides["home"]``, ``$AGILAB_HOME`` or
    ``~/.agilab`` and seeds the app's settings file on first use.

    :param app: the app being run.
    :param overrides: caller-supplied values (``home`` at least may be set).
    :return: an :class:`~agilab_core.AgiEnv`, or ``None`` to let the next
        implementation decide.

    Stops at first non-None result.
    """


@hookspec(firstresult=True)
def package_worker(app: AppSpec, env: AgiEnv, options: dict[str, Any]) -> WorkerPackage | None:
    """Prepare the app's worker code for the executor's workers.

    Called by ``agilab install`` / ``AGI.install`` and before every run starts
    its executor, so it must return quickly when nothing changed. The default
    implementation builds (or reuses) a content-addressed worker venv when the
    executor isolates its workers and the app declares ``worker_modules``, and
    runs workers in the manager's own environment otherwise. Workers refuse to
    start when their environment's identity is not the returned ``env_hash``.

    :param app: the app whose worker is packaged.
    :param env: the resolved environment (``env.wenv_dir`` is where venvs go).
    :param options: ``cython`` (bool: compile ``app.cython_modules``),
        ``executor`` (its name), ``isolated`` (its workers run in interpreters
        of their own), ``worker_distributions`` and ``worker_requirements``
        (what the executor's worker side imports), and ``report`` (a callable
        taking a one-line progress message, or None).
    :return: a :class:`~agilab_core.WorkerPackage` describing the interpreter
        workers run with and its environment identity hash, or ``None`` to pass.

    Stops at first non-None result.
    """


@hookspec(firstresult=True)
def plan_work(items: list[WorkItem], workers: list[WorkerSlot], capacities: dict[str, float]) -> WorkPlan | None:
    """Assign work items to worker slots.

    Called once per run and by ``agilab plan``. The default implementation is
    the capacity-weighted balancer: heaviest items first, each to the slot that
    would finish it earliest given its host's measured capacity.

    :param items: every item of the run (ids unique).
    :param workers: the worker slots the executor offers.
    :param capacities: relative throughput per host from ``capacity.json``
        (hosts without a measurement are absent).
    :return: a :class:`~agilab_core.WorkPlan` that places every item exactly
        once, or ``None`` to pass.

    Stops at first non-None result.
    """


# -------------------------------------------------------------------------------
# Observer hooks
# -------------------------------------------------------------------------------


@hookspec
def run_started(run: Run) -> None:
    """Called once a run's folder exists and before any item is dispatched.

    :param run: the run (id, app, executor, args, folders).
    """


@hookspec
def item_finished(run: Run, result: ItemResult) -> None:
    """Called in the manager process as each item's result arrives.

    Called from the thread that drives the executor; keep it fast.

    :param run: the run the item belongs to.
    :param result: the item's result (``ok`` or ``failed``).
    """


@hookspec
def run_finished(run: Run, manifest: dict[str, Any]) -> None:
    """Called after the final ``manifest.json`` is written.

    :param run: the finished run.
    :param manifest: the manifest as written (status ``ok``, ``failed`` or
        ``interrupted``).
    """
