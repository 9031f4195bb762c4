"""Where reportgen keeps what a new process need not build again: chart plate backgrounds
(:mod:`reportgen.charts.plate_store`) and compiled templates (:mod:`reportgen.render`). Never
patient data. ``$REPORTGEN_CACHE_DIR`` (empty: no cache at all), else
``$XDG_CACHE_HOME/reportgen`` or ``~/.cache/reportgen``."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "REPORTGEN_CACHE_DIR"


def cache_root() -> Path | None:
    """The cache directory (not created here), or None when caching is off."""
    configured = os.environ.get(ENV_VAR)
    if configured is not None:
        return Path(configured) if configured else None
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    try:
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    except RuntimeError:  # no home directory
        return None
    return base / "reportgen"
