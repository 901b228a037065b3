"""What a run leaves behind: its folder, its manifest, hashed outputs, telemetry.

Every file here is written to a temporary name in the same folder and renamed
into place, so a reader (or a crash) never sees a half-written manifest, output
or ``capacity.json``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

import attrs

from agilab_core.app import ITEM_OK, ItemResult, OutputFile
from agilab_core.atomic import atomic_path, sha256_file, write_json
from agilab_core.errors import one_line
from agilab_core.journal import JOURNAL, JournalWriter, json_line
from agilab_core.redaction import may_need_redaction, redact, redact_text
from agilab_core.settings import unstructure

MANIFEST = "manifest.json"
LOG = "run.log"
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
        self._lines: dict[str, str] = {}  # item id -> its redacted result as one JSON line
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
        line = self._lines[result.item_id] = self._record(result)
        if self._journal is not None:
            try:
                self._journal.append_line(line)
            except OSError as exc:
                self._keep_error(exc)
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
        return data

    def written(self) -> dict[str, Any]:
        """The final manifest as written, its ``results`` included (decoded on demand: most callers need only the head)."""
        if self.finished is None:
            raise RuntimeError("the run is not finished")
        return {**self.finished, "results": json.loads(f"[{','.join(self._lines.values())}]")}

    def finish(self, status: str, **extra: Any) -> dict[str, Any]:
        """Write the final manifest and close journal and log; returns the manifest without its ``results``
        (:meth:`written` has them)."""
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
            try:  # without the results: the journal holds them
                write_json(self.run.manifest_path, data)
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
        head = json_line(data)
        results = ",".join(self._lines.values())
        text = f'{head[:-1]},"results":[{results}]}}'  # the head is never empty: schema, run_id, status...
        with atomic_path(self.run.manifest_path) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8", errors="surrogateescape")

    def _redact(self, data: dict[str, Any]) -> Any:
        return redact(data, self.secret_paths, secrets=self.secrets)

    def _record(self, result: ItemResult) -> str:
        """``result`` as one JSON line, as the journal and the manifest hold it, secrets masked.

        Most results hold nothing that could be a secret: one search over their
        JSON text decides, and only suspects take the full walk.
        """
        line, strings = result_json(result)
        if may_need_redaction(strings, self.secrets):
            line = json_line(redact(unstructure(result), secrets=self.secrets))
        return line

    def _write(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except OSError as exc:
            self._keep_error(exc)

    def _keep_error(self, exc: OSError) -> None:
        if self.write_error is None:
            self.write_error = f"cannot write evidence in {self.run.run_dir}: {exc.strerror or exc}"


# -- one result as JSON ------------------------------------------------------------


def result_json(result: ItemResult) -> tuple[str, str]:
    """``json_line(unstructure(result))`` built directly, and the part of it a secret could be in.

    One result per item is encoded as it arrives; going through a dict and
    ``json.dumps`` costs about twice as much, for every item of every run.
    The second text holds every string of the result but its sha256 digests
    (hex never looks like a secret), and none of its fixed keys or numbers: the
    secret screen reads a third of the line. Unusual field types (a numpy
    integer, a non-finite time, metrics that are not a dict) take the generic
    path, whose screen text is the whole line.
    """
    r = result
    s = encode_basestring_ascii  # raises TypeError for anything but text
    try:
        if not (
            type(r.rows) is type(r.bytes_in) is type(r.bytes_out) is type(r.attempts) is int
            and type(r.started) is type(r.finished) is float
            and math.isfinite(r.started)
            and math.isfinite(r.finished)
            and type(r.metrics) is dict
        ):
            raise TypeError("a field of an unusual type")
        outputs = paths = ""
        if r.outputs:
            parts, names = [], []
            for o in r.outputs:
                if type(o.bytes) is not int:
                    raise TypeError("not an int")
                names.append(path := s(o.path))
                parts.append(f'{{"path":{path},"sha256":{s(o.sha256)},"bytes":{o.bytes}}}')
            outputs, paths = ",".join(parts), "".join(names)
        e = r.error
        error = "null" if e is None else f'{{"type":{s(e.type)},"message":{s(e.message)},"traceback":{s(e.traceback)}}}'
        item_id, status, worker, host, runtime = s(r.item_id), s(r.status), s(r.worker), s(r.host), s(r.runtime)
        metrics = _metrics_json(r.metrics) if r.metrics else "{}"
    except TypeError:
        line = json_line(unstructure(r))
        return line, line
    line = (
        f'{{"item_id":{item_id},"status":{status},"worker":{worker},"host":{host},'
        f'"started":{r.started!r},"finished":{r.finished!r},"rows":{r.rows},"bytes_in":{r.bytes_in},'
        f'"bytes_out":{r.bytes_out},"outputs":[{outputs}],"metrics":{metrics},"error":{error},'
        f'"attempts":{r.attempts},"runtime":{runtime}}}'
    )
    return line, f"{item_id}{status}{worker}{host}{runtime}{paths}{metrics}{error}"


def _metrics_json(metrics: dict[str, Any]) -> str:
    """``metrics`` as :func:`json_line` encodes it, through the C encoder straight
    (``JSONEncoder.encode`` builds a closure per call, the largest cost here)."""
    if c_make_encoder is None:  # an interpreter without the C accelerator
        return json_line(metrics)
    encode = c_make_encoder({}, str, encode_basestring_ascii, None, ":", ",", False, False, True)
    return "".join(encode(metrics, 0))
