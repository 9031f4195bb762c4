"""The charts' look: print size, colours, fonts and matplotlib style, applied per call.

Every chart function holds `LOCK` (calls from several threads are serialised) and draws under
`style()`, which sets matplotlib's global rcParams to matplotlib's defaults (ignoring any user
matplotlibrc) plus ours only while it runs.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict

import matplotlib as mpl
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patheffects import AbstractPathEffect, Normal, Stroke

from reportgen import i18n
from reportgen.errors import ReportError
from reportgen.models import STATUS_LABELS

DPI = 150
"""Pixels per inch of every PNG (pixel width / DPI = design width in inches). Call
`reportgen.charts.clear_cache()` after changing it."""

ZONE_COLORS: dict[str, str] = {
    "osteoporosis": "#c0392b",
    "low_bone_mass": "#e6a23c",
    "normal": "#1a8a7d",
}
"""Zone colours (red / amber / teal: distinct under common colour-vision deficiencies)."""

ZONE_LABELS = STATUS_LABELS  # the one table, reportgen.models
YAM_RANGE = (40.0, 120.0)  # the YAM axis of every chart, %
CM = 1 / 2.54  # inches per centimetre
INK = "#1f1f1f"
MUTED = "#555555"
POINT = "#3b5b92"


class LineStyle(TypedDict):
    """Keyword arguments of a matplotlib line (`GUIDE`)."""

    color: str
    linestyle: tuple[float, tuple[float, ...]]
    linewidth: float
    path_effects: list[AbstractPathEffect]


GUIDE: LineStyle = {
    "color": "#444444",
    "linestyle": (0, (4, 3)),
    "linewidth": 0.8,
    "path_effects": [Stroke(linewidth=2.2, foreground="white", alpha=0.8), Normal()],
}
"""Threshold lines: dashed grey with a white halo, readable over points and zone tints."""

# --- fonts ---

FONT_FILES = tuple(
    f"LiberationSans-{style}.ttf" for style in ("Regular", "Bold", "Italic", "BoldItalic")
)
_FONT_DIRS = (
    Path(__file__).resolve().parent.parent / "assets" / "fonts",  # bundled with reportgen
    Path("/usr/share/fonts/truetype/liberation"),
)


def _register_font() -> tuple[str, tuple[Path, ...]]:
    """Register Liberation Sans (bundled copy first, then Debian's), else use DejaVu Sans;
    returns the family and the files registered."""
    for folder in _FONT_DIRS:
        if (folder / FONT_FILES[0]).is_file():
            paths = tuple(folder / name for name in FONT_FILES if (folder / name).is_file())
            for path in paths:
                font_manager.fontManager.addfont(str(path))
            return "Liberation Sans", paths
    return "DejaVu Sans", ()  # matplotlib's own font (its version is in the plate key)


FONT_FAMILY, FONT_PATHS = _register_font()  # ~1 ms: not worth registering lazily
# Japanese charts: IPAex Gothic from Debian's fonts-ipaexfont-gothic (scripts/setup-system),
# after Liberation Sans in the family list (Latin letters and digits as in English charts).
JA_FONT_FILE = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")
JA_FONT_FAMILY = "IPAexGothic"
JA_FONT_PACKAGE = "fonts-ipaexfont-gothic"


@functools.cache
def register_japanese_font() -> str:
    """Register IPAex Gothic once; a clear error naming the Debian package when missing."""
    if not JA_FONT_FILE.is_file():
        raise ReportError(
            f"Japanese reports need the IPAex Gothic font ({JA_FONT_FILE}): "
            f"install the Debian package {JA_FONT_PACKAGE} (scripts/setup-system)"
        )
    manager = font_manager.fontManager
    manager.addfont(str(JA_FONT_FILE))
    # IPAex Gothic has one weight: let bold titles use it too (as WeasyPrint does) instead of
    # matplotlib warning "Failed to find font weight bold" on every chart.
    regular = next(f for f in manager.ttflist if f.fname == str(JA_FONT_FILE))
    manager.ttflist.append(dataclasses.replace(regular, weight=700))
    # as addfont does; a private lru_cache of matplotlib's (not in its stubs)
    manager._findfont_cached.cache_clear()  # type: ignore[attr-defined]
    return JA_FONT_FAMILY


def font_files() -> tuple[Path, ...]:
    """The font files the charts of the current language are drawn with (for cache keys)."""
    if i18n.current() == "ja":
        return (*FONT_PATHS, JA_FONT_FILE)
    return FONT_PATHS


# --- style: matplotlib defaults (ignoring any user matplotlibrc) + ours, validated once ---

_NOT_STYLE = (
    "backend",
    "interactive",
    "toolbar",
    "timezone",
    "webagg.",
    "tk.",
    "date.epoch",
    "savefig.directory",
    "figure.max_open_warning",
    "figure.raise_window",
    "docstring.hardcopy",
)
_STYLE = mpl.RcParams(
    {
        **{k: v for k, v in mpl.rcParamsDefault.items() if not k.startswith(_NOT_STYLE)},
        "font.family": [FONT_FAMILY],
        "font.size": 8.0,
        "axes.labelsize": 8.0,
        "axes.titlesize": 9.0,
        "axes.titleweight": "bold",
        "axes.edgecolor": MUTED,
        "axes.labelcolor": INK,
        "axes.linewidth": 0.6,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "xtick.labelsize": 7.5,
        "ytick.labelsize": 7.5,
        "xtick.color": MUTED,
        "ytick.color": MUTED,
        "xtick.labelcolor": INK,
        "ytick.labelcolor": INK,
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "xtick.major.size": 3.0,
        "ytick.major.size": 3.0,
        "legend.fontsize": 7.5,
        "legend.frameon": False,
        "text.color": INK,
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "figure.facecolor": "white",
    }
)

LOCK = threading.RLock()


@contextmanager
def style() -> Iterator[None]:
    """Apply the fixed style to the global rcParams for the duration (cheap, unvalidated copy)."""
    params = mpl.rcParams
    saved = dict(dict.items(params))
    dict.update(params, dict.items(_STYLE))  # = params._update_raw(_STYLE) (matplotlib ≥ 3.10)
    if i18n.current() == "ja":  # Japanese glyphs fall back to IPAex Gothic
        dict.__setitem__(params, "font.family", [FONT_FAMILY, register_japanese_font()])
    try:
        yield
    finally:
        dict.update(params, saved)


def new_figure(width_cm: float, height_cm: float) -> Figure:
    """A figure of that print size at `DPI` on an Agg canvas (call under `style()`)."""
    fig = Figure(figsize=(width_cm * CM, height_cm * CM), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def canvas(fig: Figure) -> FigureCanvasAgg:
    """The figure's Agg canvas (every figure here is made by `new_figure`)."""
    agg = fig.canvas
    assert isinstance(agg, FigureCanvasAgg)
    return agg
