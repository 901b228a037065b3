"""Registers the ``maps`` page and renders it from a run record. Imported on every ``agilab`` command, so it stays light."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agilab_core import PageSpec, RunRecord, UsageError, hookimpl

NAME = "maps"
#: Options of the page, with their defaults: the downsampling tolerances and point budget.
DEFAULTS: dict[str, float | int] = {"budget": 100_000, "distance_tol": 30.0, "speed_tol": 15.0}


def page_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` checked against :data:`DEFAULTS`; a bad one is one :class:`UsageError` line naming it."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"page {NAME!r}: unknown option {', '.join(unknown)} (known: {', '.join(DEFAULTS)})")
    return {**DEFAULTS, **{key: option_value(key, value) for key, value in options.items()}}


def option_value(key: str, value: Any) -> int | float:
    """An option as a number (numeric strings accepted, as a command line gives them): ``budget`` >= 2, the rest > 0 and finite."""
    kind, expected = (int, "an integer >= 2") if key == "budget" else (float, "a number > 0")
    try:
        whole = not (kind is int and isinstance(value, float) and not value.is_integer())
        number = kind(value) if whole and not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or not (number >= 2 if kind is int else 0 < number < float("inf")):
        raise UsageError(f"page {NAME!r}: option {key} must be {expected}, got {value!r}")
    return number


def render(record: RunRecord, options: Mapping[str, Any]) -> str:
    """The maps page of ``record``: its flight tracks, or a page saying why there are none."""
    from agilab_page_maps.page import maps_html, message_html
    from agilab_page_maps.simplify import downsample
    from agilab_page_maps.tracks import output_files, read_tracks

    chosen = page_options(options)
    title = f"Flight tracks of run {record.run_id}"
    files = output_files(record.output_dir, record.results)
    failed = sum(not r.ok for r in record.results)
    if not files:
        return message_html(title, f"Run {record.run_id} ({record.app}, {record.status}) has no flight outputs to map: {len(record.results)} item(s), {failed} failed.")
    tracks = read_tracks(files)
    if tracks.size == 0:
        return message_html(title, f"Run {record.run_id} has {tracks.total:,} fix(es) in {len(files)} flight output(s), none with a position to map.")
    kept = downsample(
        tracks.lat, tracks.lon, tracks.time, tracks.speed, tracks.starts,
        distance_tol=chosen["distance_tol"], speed_tol=chosen["speed_tol"], budget=chosen["budget"],
    )  # fmt: skip
    rule = (
        f"Downsampled per track segment by Douglas-Peucker: a fix is kept when over {chosen['distance_tol'] * kept.scale:,.1f} m off the line "
        f"or {chosen['speed_tol'] * kept.scale:,.1f} m/s off the speed interpolated between kept fixes, for at most {chosen['budget']:,} fixes"
        f" (tolerances {chosen['distance_tol']:g} m and {chosen['speed_tol']:g} m/s, x{kept.scale:.3g})."
    )
    if tracks.undrawable:
        rule += f" {tracks.undrawable:,} fix(es) without a position are left out."
    return maps_html(title, tracks, kept, rule)


@hookimpl
def register_pages() -> list[PageSpec]:
    return [
        PageSpec(
            name=NAME,
            render=render,
            apps=("flight",),
            description="Flight tracks coloured by speed over Natural Earth land, offline (one self-contained HTML file).",
        )
    ]
