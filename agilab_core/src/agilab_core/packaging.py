"""Worker packaging: what the workers of a run execute, and its identity.

Manager and worker are two runtimes. An app that declares its worker side
(``AppSpec.worker_modules``) gets, for executors whose workers run in their own
interpreters, a worker venv of its own: the declared modules built into a
wheel (optionally compiled with Cython), the kernel and the executor's worker
side, and the worker's third-party requirements — nothing of the manager's
CLI, pages or other apps. Everything that goes in is hashed into a
:class:`~agilab_core.recipe.WorkerRecipe` digest, which names the venv, so an
unchanged app never builds twice. Apps without a declared worker side, and the
``local`` executor, run workers in the manager's own environment; workers on
other machines (a ``remote`` executor) always get a venv, whose wheels,
requirements and identity the :class:`WorkerPackage` carries so the executor
can rebuild it there.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import attrs

from agilab_core.app import AppSpec
from agilab_core.errors import UsageError
from agilab_core.hookspecs import hookimpl
from agilab_core.identity import environment_hash, environment_identity
from agilab_core.recipe import WorkerRecipe
from agilab_core.wenv import WorkerVenv, install_venv


@attrs.frozen
class WorkerPackage:
    """What workers run: the ``python`` to start them with and the environment's identity.

    ``kind`` is ``"inplace"`` (the manager's environment) or ``"venv"`` (a
    worker venv at ``venv``); ``runtime`` is ``"cython"`` when the worker wheel
    holds compiled modules; ``cached`` says the venv already existed;
    ``seconds`` is the time packaging took; ``rebuilt`` says why an existing
    venv was rebuilt (it had changed since it was built).

    What it takes to rebuild the venv elsewhere: install ``requirements``
    (pinned, with their dependencies), then ``wheels`` (file paths: the
    worker wheel, then the kernel's and the executor's when built from their
    project folders) and ``distributions`` (``name==version`` from an index),
    both without dependencies. ``identity`` is the record hashed into
    ``env_hash`` (:func:`agilab_core.identity.digest`).
    """

    app: str
    python: str
    env_hash: str
    kind: str = "inplace"
    runtime: str = "python"
    venv: str | None = None
    cached: bool = True
    seconds: float = 0.0
    details: dict[str, Any] = attrs.field(factory=dict)
    wheels: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    distributions: tuple[str, ...] = ()
    identity: dict[str, Any] = attrs.field(factory=dict)
    rebuilt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env_hash": self.env_hash,
            "kind": self.kind,
            "runtime": self.runtime,
            "python": self.python,
            "venv": self.venv,
            "cached": self.cached,
            "seconds": round(self.seconds, 6),
            "rebuilt": self.rebuilt,
            "wheels": list(self.wheels),
            "requirements": list(self.requirements),
            "distributions": list(self.distributions),
            "identity": self.identity,
        }

    @classmethod
    def of_venv(cls, app: str, venv: WorkerVenv, seconds: float) -> WorkerPackage:
        record = venv.record
        return cls(
            app=app,
            python=str(venv.python),
            env_hash=str(record["hash"]),
            kind="venv",
            runtime=str(record.get("runtime", "python")),
            venv=str(venv.path),
            cached=venv.cached,
            seconds=seconds,
            wheels=tuple(map(str, venv.wheels)),
            requirements=tuple(record["requirements"]),
            distributions=tuple(record["distributions"]),
            identity=dict(record["identity"]),
            rebuilt=venv.rebuilt,
        )


def inplace_package(app: AppSpec) -> WorkerPackage:
    """Workers run with this interpreter, in this environment."""
    return WorkerPackage(app=app.name, python=sys.executable, env_hash=environment_hash(), kind="inplace", identity=environment_identity())


@hookimpl(trylast=True)
def package_worker(app: AppSpec, env: Any, options: dict[str, Any]) -> WorkerPackage:
    """Default: a content-addressed worker venv when the executor isolates its workers
    and the app declares its worker side, or always for a remote executor; the
    manager's environment otherwise."""
    cython = bool(options.get("cython"))
    executor = options.get("executor", "local")
    if options.get("remote") and not app.worker_modules:
        raise UsageError(
            f"app {app.name}: executor {executor} runs workers on other machines, which need its worker side packaged; "
            "declare worker_modules (and worker_requirements) in its AppSpec"
        )
    if not options.get("remote") and (not options.get("isolated") or not app.worker_modules):
        if cython:
            why = (
                f"executor {executor} runs items in this process"
                if not options.get("isolated")
                else f"app {app.name} declares no worker_modules to package"
            )
            raise UsageError(f"--cython needs a worker venv, but {why}; use an executor such as pool or dask")
        return inplace_package(app)
    started = time.perf_counter()
    recipe = WorkerRecipe.of(app, cython, options.get("worker_distributions", ()), options.get("worker_requirements", ()))
    fix = f"agilab install {app.name} -e {executor}" + (" --cython" if cython else "")
    venv = install_venv(recipe, env.wenv_dir, report=options.get("report"), fix=fix)
    return WorkerPackage.of_venv(app.name, venv, time.perf_counter() - started)
