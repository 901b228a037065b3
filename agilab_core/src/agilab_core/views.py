"""The page contract: an analysis view rendered from a run's evidence.

A page is a function that turns a read-only :class:`RunRecord` into HTML text;
the kernel decides where that text goes (``<run>/views/<page>.html``, a web
response, a notebook cell). :func:`render_page` calls it with only the
arguments its signature declares, as pluggy does for hooks, so arguments can
be added to the contract without breaking pages written against an older one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from agilab_core.app import ItemResult
from agilab_core.errors import AgilabError, InputError, PluginError, UsageError, one_line
from agilab_core.evidence import MANIFEST
from agilab_core.journal import JOURNAL, numbered_records
from agilab_core.runs import read_run
from agilab_core.settings import structure

VIEWS = "views"

#: The arguments a page's ``render`` may declare, by name.
PAGE_ARGUMENTS = ("record", "manifest", "results", "run_dir", "output_dir", "journal", "options")


def _frozen(value: Any) -> Any:
    """JSON builtins made read-only: dicts become mapping proxies, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _thawed(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    return value


def _results(values: Iterable[ItemResult]) -> tuple[ItemResult, ...]:
    return tuple(values)


@attrs.frozen(eq=False)
class RunRecord:
    """A finished (or running, or killed) run as pages see it: typed and read-only.

    ``manifest`` is the run's ``manifest.json`` as a read-only mapping (nested
    lists become tuples); ``results`` are the items' results, from the journal
    ``items.jsonl`` when the run has one (the last line of an item wins), else
    from the manifest; ``output_dir`` is where the items wrote their files.
    """

    run_id: str
    app: str
    status: str
    manifest: Mapping[str, Any] = attrs.field(converter=_frozen)
    results: tuple[ItemResult, ...] = attrs.field(converter=_results)
    run_dir: Path
    output_dir: Path
    journal: Path

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> RunRecord:
        """Read a run folder as :func:`agilab_core.runs.read_run` tells it (a dead manager's run is ``interrupted``).

        A folder without a manifest is a :class:`UsageError`, a damaged
        manifest a :class:`~agilab_core.runs.DamagedEvidence`, a journal line
        that is not a result an :class:`InputError`: one line each, naming the file.
        """
        run_dir = Path(run_dir)
        path = run_dir / MANIFEST
        if not path.is_file():
            raise UsageError(f"{run_dir}: not a run folder (no {MANIFEST})")
        manifest = read_run(path)
        outputs = manifest.get("outputs")
        output_dir = run_dir / outputs if isinstance(outputs, str) and outputs else run_dir / "outputs"
        journal = run_dir / _file_name(manifest.get("journal"), JOURNAL)
        by_id = {r.item_id: r for r in _manifest_results(manifest, path)}
        by_id.update((r.item_id, r) for r in _journal_results(journal))
        return cls(
            run_id=manifest["run_id"],
            app=manifest["app"]["name"],
            status=manifest["status"],
            manifest=manifest,
            results=tuple(by_id.values()),
            run_dir=run_dir,
            output_dir=output_dir,
            journal=journal,
        )

    def manifest_dict(self) -> dict[str, Any]:
        """A mutable copy of the manifest in plain JSON builtins (to serialise, say)."""
        return _thawed(self.manifest)

    def view_path(self, page: str) -> Path:
        """Where the kernel keeps ``page``'s HTML for this run."""
        return self.run_dir / VIEWS / f"{page}.html"


def _file_name(value: Any, default: str) -> str:
    """A file name recorded in a manifest, or ``default`` when it is missing or would leave the run folder."""
    return value if isinstance(value, str) and value and Path(value).name == value and value not in (".", "..") else default


def _item_result(data: Any, source: str) -> ItemResult:
    try:
        return structure(data, ItemResult, source, path="result")
    except AgilabError as exc:
        raise InputError(one_line(exc)) from None


def _manifest_results(manifest: Mapping[str, Any], path: Path) -> Iterator[ItemResult]:
    results = manifest.get("results") or []
    if not isinstance(results, list):
        raise InputError(f"{path}: 'results' is not a list")
    for i, data in enumerate(results):
        yield _item_result(data, f"{path}: results[{i}]")


def _journal_results(path: Path) -> Iterator[ItemResult]:
    """Results of the journal in order; a line cut short by a crash is not a result."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    for lineno, record in numbered_records(data):
        yield _item_result(record, f"{path}:{lineno}")


@attrs.frozen
class PageSpec:
    """How a page registers itself (returned by ``register_pages``).

    ``render`` returns the page as self-contained HTML text (no network
    resources). It declares, by name, any of the arguments in
    :data:`PAGE_ARGUMENTS`: ``record`` (the :class:`RunRecord`), ``manifest``,
    ``results``, ``run_dir``, ``output_dir``, ``journal`` (its parts) and
    ``options`` (a read-only mapping of caller options, empty by default); it
    gets only those. ``apps`` limits the page to runs of some apps (empty: any
    app). ``can_show(record)`` returns a one-line reason why the page cannot
    show a run (``None``: it can), say a run without the outputs it reads.
    """

    name: str
    render: Callable[..., str]
    apps: tuple[str, ...] = attrs.field(default=(), converter=lambda v: (v,) if isinstance(v, str) else tuple(v))
    description: str = ""
    can_show: Callable[[RunRecord], str | None] | None = None


def render_arguments(render: Callable[..., Any]) -> tuple[set[str], bool]:
    """Names ``render`` declares, and whether it takes ``**kwargs``; :class:`PluginError` if it needs others."""
    try:
        params = inspect.signature(render).parameters.values()
    except (TypeError, ValueError) as exc:
        raise PluginError(f"render {render!r} has no readable signature: {one_line(exc)}") from None
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    required = sorted(
        p.name
        for p in params
        if p.default is p.empty and (p.kind is p.POSITIONAL_ONLY or (p.name not in PAGE_ARGUMENTS and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)))
    )
    if required:
        raise PluginError(f"render needs argument(s) {', '.join(required)}; a page gets only {', '.join(PAGE_ARGUMENTS)}")
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def cannot_show(spec: PageSpec, record: RunRecord) -> str | None:
    """Why ``spec`` cannot show ``record`` (one line), or ``None`` when it can."""
    if spec.apps and record.app not in spec.apps:
        return f"it shows runs of {', '.join(spec.apps)}, and run {record.run_id} is of app {record.app!r}"
    if spec.can_show is None:
        return None
    try:
        reason = spec.can_show(record)
    except Exception as exc:  # noqa: BLE001 - a page's bug is the page's, in one line
        raise PluginError(f"page {spec.name!r}: can_show failed on run {record.run_id}: {type(exc).__name__}: {one_line(exc)}") from exc
    return str(reason).strip().splitlines()[0] if reason and str(reason).strip() else None


def render_page(spec: PageSpec, record: RunRecord, /, **extra: Any) -> str:
    """``spec``'s HTML for ``record``; :class:`UsageError` when the page cannot show this run.

    ``extra`` may hold ``options`` and arguments of later versions of the
    contract: each goes only to a ``render`` that declares it (or ``**kwargs``).
    """
    reason = cannot_show(spec, record)
    if reason:
        raise UsageError(f"page {spec.name!r} cannot show run {record.run_id}: {reason}")
    try:
        names, takes_any = render_arguments(spec.render)
    except PluginError as exc:
        raise PluginError(f"page {spec.name!r}: {exc}") from None
    offered = {
        **extra,
        "record": record,
        "manifest": record.manifest,
        "results": record.results,
        "run_dir": record.run_dir,
        "output_dir": record.output_dir,
        "journal": record.journal,
        "options": MappingProxyType(dict(extra.get("options") or {})),
    }
    kwargs = offered if takes_any else {k: v for k, v in offered.items() if k in names}
    try:
        html = spec.render(**kwargs)
    except AgilabError:
        raise
    except Exception as exc:  # noqa: BLE001 - a page's bug is the page's, in one line
        raise PluginError(f"page {spec.name!r} failed on run {record.run_id}: {type(exc).__name__}: {one_line(exc)}") from exc
    if not isinstance(html, str):
        raise PluginError(f"page {spec.name!r}: render returned {type(html).__name__}, expected HTML text (str)")
    return html
