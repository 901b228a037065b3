"""Every hook a plugin can implement — the one page a plugin author needs.

Plugins are modules or objects listed under the ``agilab`` entry-point group.
Mark implementations with :data:`hookimpl`. An implementation may accept any
subset of a hook's arguments, so arguments are added over time but never
renamed or removed.

Three families:

* **registration** hooks hand the kernel things to own (apps, executors, pages,
  ``agilab`` sub-commands);
  every plugin's answer is collected, validated and checked for name clashes
  when the plugins are loaded: a plugin that returns something unusable is
  listed ``failed`` with a one-line reason, and the other plugins keep working;
* **decision** hooks (``firstresult``) choose how something is done; the kernel
  ships the default as a ``trylast`` implementation, so a plugin takes over by
  answering first, or passes by returning ``None``;
* **observer** hooks are told what happened; their return values are ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

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

    Called once, in the manager process, when the plugins are loaded. Must be
    free of side effects: return :class:`~agilab_core.AppSpec` objects, do not
    import heavy modules. Each spec is checked as it is collected:

    * ``name`` is a short name: lowercase letters, digits, ``-`` or ``_``,
      starting with a letter, at most 64 characters;
    * ``manager`` is a subclass of :class:`~agilab_core.Manager` whose
      ``args_type`` is an attrs class (the kernel builds it from the settings
      file and ``--set``). The manager's ``work_items(args, env)`` returns the
      run's :class:`~agilab_core.WorkItem` s (the plan that assigns them to
      workers is made by :func:`plan_work`); ``data_root(args, env)`` names the
      folder that items' ``inputs`` (relative POSIX paths of the files an
      item reads) are relative to, ``None`` when items read no files;
      ``reduce(results, run)`` summarises the finished items, given sorted
      by item id whatever order the executor finished them in;
    * ``worker`` may be omitted (the one ``Worker`` subclass of the ``worker``
      module of the manager's package, else of the manager's module), given
      as the class, or as ``"module:Class"``. The module is never imported
      here (only worker processes import it): its source is read, and a
      module or class that does not exist marks the plugin ``failed``.

    :return: a list of app specs; each ``name`` must be unique across all
        installed plugins (a clash marks the later plugin ``failed``).
    """


@hookspec
def register_executors() -> list[ExecutorSpec]:
    """Return the executors this plugin provides.

    Called once, in the manager process, when the plugins are loaded. An
    executor is selected by name (``agilab run --executor NAME``); its options
    (``-o KEY=VALUE``) are structured into the spec's ``config_type``. Each
    spec is checked as it is collected: a short ``name`` (as for apps),
    ``executor`` a subclass of :class:`~agilab_core.Executor`, ``config_type``
    an attrs class (:class:`~agilab_core.NoOptions` when it takes none).

    The executor is built as ``Executor(config, workers, report)``:
    ``report`` takes one-line progress messages (the CLI shows them). An
    executor whose workers run on other machines sets ``remote = True``: the
    kernel then packages a rebuildable worker venv for them, and the executor
    brings every output home before calling ``on_result``.

    :return: a list of :class:`~agilab_core.ExecutorSpec`; names must be unique.
    """


@hookspec
def register_pages() -> list[PageSpec]:
    """Return the pages (analysis views of a run) this plugin provides.

    Called once, in the manager process, when the plugins are loaded. A page's
    ``render`` turns a finished (or running) run into self-contained HTML text
    and returns it; the kernel decides where it is written
    (``<run>/views/<page>.html``, a web response...). ``render`` declares, by
    name, any of ``record`` (a read-only :class:`~agilab_core.views.RunRecord`),
    ``manifest``, ``results``, ``run_dir``, ``output_dir``, ``journal`` and
    ``options``, and gets only those, so arguments added later never break it.
    ``apps`` limits the page to some apps' runs; ``can_show(record)`` returns a
    one-line reason why the page cannot show a run, or ``None``.

    Each spec is checked as it is collected: a short ``name`` (as for apps), a
    callable ``render`` that needs no argument outside the list above, and a
    ``can_show`` that is ``None`` or callable.

    :return: a list of :class:`~agilab_core.PageSpec`; names must be unique.
    """


@hookspec
def register_commands() -> list[click.Command]:
    """Return the ``agilab`` sub-commands this plugin provides.

    Called when the ``agilab`` command needs a name it does not know (or lists
    every command, as ``agilab --help`` does) and by ``agilab plugins``; never
    when a built-in command runs, so a plugin's bug cannot break those. Return
    :class:`click.Command` (or :class:`click.Group`) objects; import what they
    need (a web server, say) inside the command's function, not here. Each
    command is checked as it is collected: a ``click.Command`` whose ``name``
    is a short name (as for apps). A name taken by a built-in command
    (``run``, ``show``...) or by another plugin's command marks this plugin
    ``failed``: built-in commands always win.

    A command reports a user's mistake by raising an
    :class:`~agilab_core.errors.UsageError` (or ``click.UsageError``): one
    line on stderr, exit 2, as built-in commands do.

    :return: a list of click commands; names must be unique.
    """


# -------------------------------------------------------------------------------
# Decision hooks (firstresult)
# -------------------------------------------------------------------------------


@hookspec(firstresult=True)
def resolve_env(app: AppSpec, overrides: dict[str, Any]) -> AgiEnv | None:
    """Resolve the environment (home, settings file, folders) of ``app``.

    Called at the start of every run, plan and install. The default
    implementation uses ``overrides["home"]``, ``$AGILAB_HOME`` or
    ``~/.agilab``, made absolute once (a relative home is taken from the
    current folder), seeds the app's settings file on first use (upgrading
    it when the app's version changed, see ``docs/settings.md``) and the
    app's sample data when its data folder does not exist yet.

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
        of their own), ``remote`` (its workers run on other machines: always a
        worker venv, whose ``wheels``, ``requirements``, ``distributions`` and
        ``identity`` the returned package must carry so the executor can
        rebuild it there), ``worker_distributions`` and ``worker_requirements``
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

    :param items: every item of the run, as ``Manager.work_items`` returned
        them (ids unique; ``weight`` estimates each item's cost).
    :param workers: the worker slots the executor offers.
    :param capacities: relative throughput per host from ``capacity.json``
        (hosts without a measurement are absent; the default balancer also
        treats a value that is not a finite positive number as unmeasured).
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
