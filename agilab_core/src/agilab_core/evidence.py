"""What a run leaves behind: its folder, its manifest, hashed outputs, telemetry.

Every file here is written to a temporary name in the same folder and renamed
into place, so a reader (or a crash) never sees a half-written manifest, output
or ``capacity.json``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from agilab_core.app import ITEM_OK, ItemResult, OutputFile
from agilab_core.atomic import atomic_path, sha256_file, write_json
from agilab_core.errors import one_line
from agilab_core.journal import JOURNAL, JournalWriter, json_line
from agilab_core.redaction import redact, redact_text
from agilab_core.settings import unstructure

MANIFEST = "manifest.json"
LOG = "run.log"
#: Anything :mod:`agilab_core.redaction` could mask contains one of these once lower-cased
#: (a superset, factored by first letter: one cheap search per result).
_SUSPECT = re.compile(r"://|b(?:egin|earer)|gh|glpat-|xox|a(?:kia|sia|uth)|sk-|eyj|p(?:ass|wd)|secret|token|cred|key|cookie")
#: Longest the manifest lags behind the journal during a run.
CHECKPOINT_SECONDS = 3.0
CAPACITY = "capacity.json"
SCHEMA_VERSION = 1

RUN_RUNNING = "running"
RUN_OK = "ok"
RUN_FAILED = "failed"
RUN_INTERRUPTED = "interrupted"



# -- the run --------------------------------------------------------------------


def new_run_dir(runs_root: Path) -> tuple[str, Path]:
    """Create a fresh, uniquely named run folder; safe for concurrent runs."""
    runs_root.mkdir(parents=True, exist_ok=True)
    while True:
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        run_dir = runs_root / run_id
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        (run_dir / "logs").mkdir()
        return run_id, run_dir


@attrs.frozen
class Run:
    """A run in progress, as given to observer hooks and to ``Manager.reduce``."""

    run_id: str
    app: str
    executor: str
    args: Any
    run_dir: Path
    output_dir: Path
    started: float

    @property
    def manifest_path(self) -> Path:
        return self.run_dir / MANIFEST

    @property
    def journal_path(self) -> Path:
        return self.run_dir / JOURNAL

    @property
    def log_path(self) -> Path:
        return self.run_dir / "logs" / LOG


def manager_identity() -> dict[str, Any]:
    """What tells, later, whether the process recording a run is still alive.

    The pid alone is not enough (pids are reused): the process's start time
    and the machine's boot id pin it down on Linux.
    """
    return {"host": socket.gethostname(), "pid": os.getpid(), "boot_id": boot_id(), "process_start": process_start(os.getpid())}


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def item_counts(total: int, ok: int, failed: int) -> dict[str, int]:
    """The manifest's ``items``: ``unfinished`` appears only when some planned items were never reported."""
    counts = {"total": total, "ok": ok, "failed": failed}
    if total > ok + failed:
        counts["unfinished"] = total - ok - failed
    return counts


def verify_outputs(result: ItemResult, output_dir: Path, content: bool = True) -> ItemResult:
    """``result`` if every output it lists is under ``output_dir`` as recorded.

    Otherwise a failed result naming the first file at fault. ``content``
    compares each file's sha256 (what an executor that moved outputs from
    another host must do); without it, presence and size are checked, which
    costs a ``stat`` instead of reading every byte again.
    """
    for out in result.outputs:
        problem = _output_problem(out, output_dir, content)
        if problem:
            return ItemResult.failure(
                result.item_id, "OutputMismatch", f"output {out.path}: {problem}",
                worker=result.worker, host=result.host, started=result.started, attempts=result.attempts, runtime=result.runtime,
            )
    return result


def _output_problem(out: OutputFile, output_dir: Path, content: bool) -> str | None:
    rel = Path(out.path)
    if rel.is_absolute() or ".." in rel.parts or not out.path:
        return "is not a path inside the output folder"
    path = output_dir / rel
    try:
        size = path.stat().st_size
    except (OSError, ValueError):
        return "is missing"
    if size != out.bytes:
        return f"has {size} bytes, {out.bytes} were recorded"
    if content and sha256_file(path) != out.sha256:
        return "was altered after it was recorded (sha256 differs)"
    return None


class RunRecorder:
    """The one owner of a run's evidence: manifest, journal, log, final status.

    Use it as a context manager: leaving it without :meth:`finish` (an
    exception, Ctrl-C) still finishes the manifest, as ``interrupted`` or
    ``failed``. Writing problems (a full disk) never raise out of :meth:`add`:
    the first one is kept in :attr:`write_error`, results stay in memory, and
    the final manifest says what could not be written.
    """

    def __init__(
        self, run: Run, header: dict[str, Any], planned: int = 0, secret_paths: Iterable[str] = (), secrets: Iterable[str] = ()
    ) -> None:
        self.run = run
        self.planned = planned
        self.secret_paths = tuple(secret_paths)
        self.secrets = frozenset(secrets)
        # the plan is item ids and host names (never credentials) and, for a big
        # run, most of the header: it is not walked
        self.header = {**self._redact({k: v for k, v in header.items() if k != "plan"}), **({"plan": header["plan"]} if "plan" in header else {})}
        self._records: dict[str, dict[str, Any]] = {}  # item id -> its redacted, JSON-ready result
        self._lines: dict[str, str] = {}  # item id -> the same as JSON, reused by the final manifest
        self.results: dict[str, ItemResult] = {}
        self.write_error: str | None = None
        self.finished: dict[str, Any] | None = None
        self._journal: JournalWriter | None = None
        self._log: Any = None
        self._checkpointed = 0.0

    # -- lifecycle ---------------------------------------------------------------

    def open(self) -> None:
        """Write the ``running`` manifest and open the journal and the log (raises ``OSError``)."""
        write_json(self.run.manifest_path, self.manifest(RUN_RUNNING))
        self._journal = JournalWriter(self.run.journal_path)
        self._log = self.run.log_path.open("a", encoding="utf-8", errors="backslashreplace")
        self._checkpointed = time.monotonic()

    def __enter__(self) -> RunRecorder:
        if self._journal is None:  # not opened yet (the runner opens it first, to clean up if it cannot)
            self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self.finished is None:
            interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
            why = "interrupted" if interrupted else (f"{exc_type.__name__}: {one_line(exc)}" if exc_type and exc else "run ended without a status")
            self.finish(RUN_INTERRUPTED if interrupted else RUN_FAILED, error=why)

    # -- during the run ------------------------------------------------------------

    def add(self, result: ItemResult) -> None:
        """Record one item's result: journal line now, manifest checkpoint at most every few seconds."""
        self.results[result.item_id] = result
        record, line = self._record(result)
        self._records[result.item_id] = record
        self._lines[result.item_id] = line
        self._write(lambda: self._journal.append_line(line) if self._journal else None)
        if time.monotonic() - self._checkpointed >= CHECKPOINT_SECONDS:
            self._checkpointed = time.monotonic()
            self._write(lambda: write_json(self.run.manifest_path, self.manifest(RUN_RUNNING)))

    def log(self, message: str) -> None:
        """One line in ``logs/run.log``, timestamped, secrets redacted, flushed at once."""
        if self._log is None:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {redact_text(message, self.secrets)}".replace("\n", " ")
        self._write(lambda: (self._log.write(line + "\n"), self._log.flush()))

    def counts(self) -> dict[str, int]:
        """``total`` planned items: ``ok`` + ``failed`` + ``unfinished`` (never reported; only when some are)."""
        ok = sum(1 for r in self.results.values() if r.status == ITEM_OK)
        return item_counts(max(self.planned, len(self.results)), ok, len(self.results) - ok)

    def manifest(self, status: str, **extra: Any) -> dict[str, Any]:
        now = time.time()
        running = status == RUN_RUNNING
        data = {
            "schema": SCHEMA_VERSION,
            "run_id": self.run.run_id,
            "status": status,
            **self.header,
            "started": self.run.started,
            "finished": None if running else now,
            "seconds": None if running else round(now - self.run.started, 6),
            "outputs": str(self.run.output_dir),
            "journal": JOURNAL,
            "items": self.counts(),
            **self._redact(extra),
        }
        if not running:
            data["results"] = list(self._records.values())
        return data

    def finish(self, status: str, **extra: Any) -> dict[str, Any]:
        """Write the final manifest (results included) and close journal and log; returns the manifest."""
        if self.finished is not None:
            return self.finished
        if extra.get("error"):
            self.log(f"run failed: {extra['error']}")
        self.log(f"run {self.run.run_id} {status}")
        if self._journal is not None:
            self._write(self._journal.close)
        if self.write_error:
            extra.setdefault("evidence_error", self.write_error)
        data = self.manifest(status, **extra)
        try:
            self._write_final(data)
        except OSError as exc:
            self._keep_error(exc)
            data["evidence_error"] = self.write_error
            slim = {k: v for k, v in data.items() if k != "results"}  # the journal holds them
            try:
                write_json(self.run.manifest_path, slim)
            except OSError:
                pass  # the checkpoint manifest and the journal stay as the record
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
        self.finished = data
        return data

    def _write_final(self, data: dict[str, Any]) -> None:
        """The final manifest, its results spliced in from the journal lines already encoded."""
        head = json_line({k: v for k, v in data.items() if k != "results"})
        results = ",".join(self._lines.values())
        text = f'{head[:-1]},"results":[{results}]}}' if head != "{}" else f'{{"results":[{results}]}}'
        with atomic_path(self.run.manifest_path) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8", errors="surrogateescape")

    def _redact(self, data: dict[str, Any]) -> Any:
        return redact(data, self.secret_paths, secrets=self.secrets)

    def _record(self, result: ItemResult) -> tuple[dict[str, Any], str]:
        """``result`` as the manifest and (as one JSON line) the journal hold it, secrets masked.

        Most results hold nothing that could be a secret: a few substring
        searches over their JSON text decide, and only suspects take the full walk.
        """
        record: dict[str, Any] = unstructure(result)
        line = json_line(record)
        if _SUSPECT.search(line.lower()) or any(secret in line for secret in self.secrets):
            record = redact(record, secrets=self.secrets)
            line = json_line(record)
        return record, line

    def _write(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except OSError as exc:
            self._keep_error(exc)

    def _keep_error(self, exc: OSError) -> None:
        if self.write_error is None:
            self.write_error = f"cannot write evidence in {self.run.run_dir}: {exc.strerror or exc}"
