"""AGILab plugin kernel: run apps on pluggable executors, keep evidence of every run.

The public API for plugin authors and library callers lives here; modules
whose names start with an underscore are private.
"""

from __future__ import annotations

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
from agilab_core.env import AgiEnv
from agilab_core.errors import AgilabError, ConfigError, EnvironmentMismatch, InputError, PluginError, UsageError, one_line
from agilab_core.atomic import atomic_path, sha256_file, write_json
from agilab_core.evidence import Run
from agilab_core.executor import THREAD_VARS, Executor, ExecutorSpec, NoOptions, OnResult, threads_per_worker
from agilab_core.hookspecs import hookimpl
from agilab_core.packaging import WorkerPackage, environment_hash
from agilab_core.plan import LOCALHOST, WorkerSlot, WorkersSpec, WorkPlan, balance
from agilab_core.task import WorkerSession, WorkerTask, import_object
from agilab_core.views import PageSpec

if TYPE_CHECKING:
    from agilab_core.plugins import Registry, load_plugins
    from agilab_core.runner import AGI, Agi, PlanResult, RunResult

_LAZY = {
    "AGI": "agilab_core.runner",
    "Agi": "agilab_core.runner",
    "RunResult": "agilab_core.runner",
    "PlanResult": "agilab_core.runner",
    "Registry": "agilab_core.plugins",
    "load_plugins": "agilab_core.plugins",
}


def __getattr__(name: str) -> Any:
    # The runner and plugin loader are for the manager side; worker processes
    # import this package too and should not pay for them.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agilab_core' has no attribute {name!r}")


__all__ = [
    "AGI", "Agi", "AgiEnv", "AgilabError", "AppSpec", "ConfigError", "EnvironmentMismatch", "Executor", "ExecutorSpec",
    "ITEM_FAILED", "ITEM_OK", "InputError", "ItemError", "ItemOutput", "ItemResult", "LOCALHOST",
    "Manager", "NoOptions", "OnResult", "OutputFile", "PageSpec", "PlanResult", "PluginError",
    "Registry", "Run", "RunResult", "THREAD_VARS", "UsageError", "WorkItem", "WorkPlan", "Worker", "WorkerContext",
    "WorkerPackage", "WorkerSession", "WorkerSlot", "WorkerTask", "WorkersSpec", "atomic_path",
    "balance", "environment_hash", "hookimpl", "import_object", "load_plugins", "one_line", "sha256_file", "threads_per_worker", "write_json",
]
