"""Resuming a run: complete RUN_ID by running only what it did not finish well.

A resumed run is a new run (its own id, manifest and journal, ``resumed_from``
naming the old one) that writes into the old run's output folder. The old
run's ``ok`` items whose outputs still match their recorded sha256 are carried
over into the new run's evidence; every other item (failed, never finished,
or whose output changed since) runs again. Resuming is refused when the app,
its arguments or the worker environment changed: the outputs would then mix
two different computations.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from agilab_core.app import ItemResult, WorkItem
from agilab_core.env import AgiEnv
from agilab_core.errors import ConfigError, UsageError
from agilab_core.evidence import RUN_RUNNING, verify_outputs
from agilab_core.redaction import redact
from agilab_core.runs import find_run, read_run
from agilab_core.settings import structure, unstructure

if TYPE_CHECKING:
    from agilab_core.runner import RunRequest, _Prepared

#: What redaction leaves in place of a secret: such an argument is taken from the settings again.
REDACTED = "***"


def _field(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


@attrs.frozen
class PreviousRun:
    """The run being resumed, as its evidence tells it."""

    run_id: str
    manifest: dict[str, Any]
    output_dir: Path

    @classmethod
    def find(cls, env: AgiEnv, run_id: str) -> PreviousRun:
        path = find_run(env.runs_root, run_id)
        manifest = read_run(path)
        if manifest["status"] == RUN_RUNNING:
            raise UsageError(f"run {manifest['run_id']} is still running (or its manager cannot be checked from this machine); resume it when it has ended")
        outputs = manifest.get("outputs")
        if not isinstance(outputs, str) or not outputs:
            raise UsageError(f"run {manifest['run_id']}: its manifest names no output folder ({path})")
        return cls(manifest["run_id"], manifest, Path(outputs))

    def defaults_for(self, request: RunRequest) -> RunRequest:
        """``request`` completed from the resumed run: its arguments (but secrets), executor and workers."""
        args = self.manifest.get("args")
        kept = {k: v for k, v in args.items() if v != REDACTED} if isinstance(args, dict) else {}
        executor = request.executor or _field(self.manifest, "executor", "name")
        workers = request.workers if request.workers is not None else self.manifest.get("workers")
        return attrs.evolve(
            request,
            args={**kept, **request.args},
            executor=executor if isinstance(executor, str) else None,
            workers=workers if isinstance(workers, (str, int)) else None,
        )

    def check_request(self, p: _Prepared) -> None:
        """Refuse when the app or its arguments differ from the resumed run's."""
        app = p.resolved.spec.name
        if self.manifest["app"]["name"] != app:
            raise UsageError(f"run {self.run_id} is a run of {self.manifest['app']['name']}, not of {app}")
        now = redact(unstructure(p.args))
        before = self.manifest.get("args")
        if now != before:
            changed = sorted(k for k in set(now) | set(before or {}) if now.get(k) != (before or {}).get(k)) if isinstance(before, dict) else ["args"]
            raise UsageError(f"cannot resume run {self.run_id}: the app's arguments changed since ({', '.join(changed)}); start a new run instead")

    def check_environment(self, env_hash: str) -> None:
        environment = self.manifest.get("environment")
        before = environment.get("hash") if isinstance(environment, dict) else None
        if before != env_hash:
            raise UsageError(
                f"cannot resume run {self.run_id}: its worker environment was {before}, it is now {env_hash} "
                "(the app, the kernel or the executor changed); start a new run instead"
            )

    def verified_results(self, items: tuple[WorkItem, ...]) -> dict[str, ItemResult]:
        """The ok results of planned items whose outputs are still exactly as recorded."""
        wanted = {i.id for i in items}
        kept: dict[str, ItemResult] = {}
        for raw in self.manifest.get("results") or []:
            if not isinstance(raw, dict) or raw.get("status") != "ok" or raw.get("item_id") not in wanted:
                continue
            try:
                result = structure(raw, ItemResult, f"run {self.run_id} results", path="results")
            except ConfigError:  # a damaged record is simply run again
                continue
            if verify_outputs(result, self.output_dir).ok:
                kept[result.item_id] = result
        return kept
