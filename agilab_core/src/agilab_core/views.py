"""The page contract: an analysis view rendered from a run's evidence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs


@attrs.frozen
class PageSpec:
    """How a page registers itself (returned by ``register_pages``).

    ``render(manifest, run_dir, out)`` writes a self-contained HTML file to
    ``out`` from the run's manifest and outputs. ``apps`` limits the page to
    some apps (empty: any app).
    """

    name: str
    render: Callable[[dict[str, Any], Path, Path], None]
    apps: tuple[str, ...] = ()
    description: str = ""
