"""AGILab plugin kernel: run apps on pluggable executors, keep evidence of every run.

The public API for plugin authors and library callers lives here; modules
whose names start with an underscore are private.

Worker processes import this package too, so it imports eagerly only the
worker side (the app contract, errors, atomic files, environment identity,
:class:`WorkerTask`); names whose modules need pluggy or cattrs (the manager
side) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agilab_core.app import (
    ITEM_FAILED,
    ITEM_OK,
    AppSpec,
    ItemError,
    ItemOutput,
    ItemResult,
    Manager,
    OutputFile,
    Worker,
    WorkerContext,
    WorkItem,
)
from agilab_core.atomic import atomic_path, sha256_file, write_json
from agilab_core.errors import AgilabError, ConfigError, EnvironmentMismatch, InputError, PluginError, UsageError, one_line
from agilab_core.identity import environment_hash
from agilab_core.task import WorkerSession, WorkerTask, import_object

if TYPE_CHECKING:
    from agilab_core.dispatch import Entry, Results, SlotQueues
    from agilab_core.env import AgiEnv
    from agilab_core.evidence import Run, verify_outputs
    from agilab_core.executor import (
        CORES,
        THREAD_VARS,
        Executor,
        ExecutorSpec,
        NoOptions,
        OnResult,
        in_range,
        threads_per_worker,
        worker_environment,
    )
    from agilab_core.hookspecs import hookimpl
    from agilab_core.packaging import WorkerPackage
    from agilab_core.plan import LOCALHOST, WorkerSlot, WorkersSpec, WorkPlan, balance
    from agilab_core.plugins import Registry, load_plugins
    from agilab_core.runner import AGI, Agi, PlanResult, RunRequest, RunResult
    from agilab_core.views import PageSpec, RunRecord, render_page

#: Manager-side names and their modules, imported on first use (they pull pluggy or cattrs).
_LAZY = {
    "AgiEnv": "agilab_core.env",
    **dict.fromkeys(["Entry", "Results", "SlotQueues"], "agilab_core.dispatch"),
    **dict.fromkeys(["Run", "verify_outputs"], "agilab_core.evidence"),
    **dict.fromkeys(["CORES", "THREAD_VARS", "Executor", "ExecutorSpec", "NoOptions", "OnResult", "in_range", "threads_per_worker", "worker_environment"], "agilab_core.executor"),
    "hookimpl": "agilab_core.hookspecs",
    "WorkerPackage": "agilab_core.packaging",
    **dict.fromkeys(["LOCALHOST", "WorkerSlot", "WorkersSpec", "WorkPlan", "balance"], "agilab_core.plan"),
    **dict.fromkeys(["Registry", "load_plugins"], "agilab_core.plugins"),
    **dict.fromkeys(["AGI", "Agi", "PlanResult", "RunRequest", "RunResult"], "agilab_core.runner"),
    **dict.fromkeys(["PageSpec", "RunRecord", "render_page"], "agilab_core.views"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    raise AttributeError(f"module 'agilab_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AGI", "Agi", "AgiEnv", "CORES", "AgilabError", "AppSpec", "ConfigError", "EnvironmentMismatch", "Entry", "Executor", "ExecutorSpec",
    "ITEM_FAILED", "ITEM_OK", "InputError", "ItemError", "ItemOutput", "ItemResult", "LOCALHOST",
    "Manager", "NoOptions", "OnResult", "OutputFile", "PageSpec", "PlanResult", "PluginError",
    "Registry", "Results", "Run", "RunRecord", "RunRequest", "RunResult", "SlotQueues", "THREAD_VARS", "UsageError", "WorkItem", "WorkPlan", "Worker", "WorkerContext",
    "WorkerPackage", "WorkerSession", "WorkerSlot", "WorkerTask", "WorkersSpec", "atomic_path",
    "balance", "environment_hash", "hookimpl", "import_object", "in_range", "load_plugins", "one_line", "render_page", "sha256_file", "threads_per_worker", "verify_outputs", "worker_environment", "write_json",
]
