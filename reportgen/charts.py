"""Deterministic PNG charts for bone-health reports (the project's only matplotlib user)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import math
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.patheffects import Normal, Stroke
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter, MultipleLocator
from matplotlib.transforms import ScaledTranslation
from PIL import Image

from reportgen import i18n
from reportgen.errors import ReportError
from reportgen.i18n import _
from reportgen.models import STATUS_LABELS

__all__ = [
    "DPI",
    "FONT_FAMILY",
    "PNG_PALETTE",
    "ZONE_COLORS",
    "clear_cache",
    "plot_dose_vs_yam",
    "plot_days_vs_yam",
    "plot_status_counts",
    "plot_timeline",
    "plot_yam_zones",
]

DPI = 150
"""Pixels per inch of every PNG (pixel width / DPI = design width in inches). Call
`clear_cache()` after changing it or `PNG_PALETTE`."""

PNG_PALETTE = False  # full colour: WeasyPrint re-encodes palette PNGs (+28 ms/page)
"""True: ≤ 256-colour PNGs (about 2.3x smaller; the most frequent colours exact). False:
full-colour PNGs, encoded fast. WeasyPrint converts palette PNGs to RGB and re-encodes them
twice, while 8-bit RGB ones are embedded as they are (`reportgen.pdf_tuning`)."""

ZONE_COLORS: dict[str, str] = {
    "osteoporosis": "#c0392b",
    "low_bone_mass": "#e6a23c",
    "normal": "#1a8a7d",
}
"""Zone colours (red / amber / teal: distinct under common colour-vision deficiencies)."""

_ZONE_LABELS = STATUS_LABELS  # the one table, reportgen.models
_ZONE_TEXT = {"osteoporosis": "white", "low_bone_mass": "#1f1f1f", "normal": "white"}
_YAM_RANGE = (40.0, 120.0)
_CM = 1 / 2.54
_INK = "#1f1f1f"
_MUTED = "#555555"
_POINT = "#3b5b92"
_FRACTURE = "#111111"
_HIGHLIGHT = "#ffd21f"
_DENSE_N = 5000  # above this many points the cohort is drawn as a 2-D density image
_DENSITY = LinearSegmentedColormap.from_list("reportgen_density", ["#d4e0f2", "#3b5b92", "#0b1f44"])
_GUIDE = {
    "color": "#444444",
    "linestyle": (0, (4, 3)),
    "linewidth": 0.8,
    "path_effects": [Stroke(linewidth=2.2, foreground="white", alpha=0.8), Normal()],
}
_CACHE_SIZE = 6  # cached figures per chart kind
_EXACT_COLOURS = 160  # palette entries kept for the most frequent colours, exactly
_PNG_LEVEL = 6  # zlib level: 9 is 5-10 % smaller but ~5x slower

# --- style: matplotlib defaults (ignoring any user matplotlibrc) + ours, validated once ---

_FONT_DIRS = (
    Path(__file__).resolve().parent / "assets" / "fonts",  # bundled with reportgen
    Path("/usr/share/fonts/truetype/liberation"),
)


def _register_font() -> str:
    """Register Liberation Sans (bundled copy first, then Debian's), else use DejaVu Sans."""
    for folder in _FONT_DIRS:
        if (folder / "LiberationSans-Regular.ttf").is_file():
            for style in ("Regular", "Bold", "Italic", "BoldItalic"):
                path = folder / f"LiberationSans-{style}.ttf"
                if path.is_file():
                    font_manager.fontManager.addfont(str(path))
            return "Liberation Sans"
    return "DejaVu Sans"


FONT_FAMILY = _register_font()
# Japanese charts: IPAex Gothic from Debian's fonts-ipaexfont-gothic (scripts/setup-system),
# after Liberation Sans in the family list (Latin letters and digits as in English charts).
JA_FONT_FILE = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")
JA_FONT_FAMILY = "IPAexGothic"
JA_FONT_PACKAGE = "fonts-ipaexfont-gothic"


@functools.cache
def _register_japanese_font() -> str:
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
    manager._findfont_cached.cache_clear()  # as addfont does
    return JA_FONT_FAMILY


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
        "axes.edgecolor": _MUTED,
        "axes.labelcolor": _INK,
        "axes.linewidth": 0.6,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "xtick.labelsize": 7.5,
        "ytick.labelsize": 7.5,
        "xtick.color": _MUTED,
        "ytick.color": _MUTED,
        "xtick.labelcolor": _INK,
        "ytick.labelcolor": _INK,
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "xtick.major.size": 3.0,
        "ytick.major.size": 3.0,
        "legend.fontsize": 7.5,
        "legend.frameon": False,
        "text.color": _INK,
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "figure.facecolor": "white",
    }
)

_LOCK = threading.RLock()


@contextmanager
def _style() -> Iterator[None]:
    """Apply the fixed style to the global rcParams for the duration (cheap, unvalidated copy)."""
    params = mpl.rcParams
    saved = dict(dict.items(params))
    dict.update(params, dict.items(_STYLE))  # = params._update_raw(_STYLE) (matplotlib ≥ 3.10)
    if i18n.current() == "ja":  # Japanese glyphs fall back to IPAex Gothic
        dict.__setitem__(params, "font.family", [FONT_FAMILY, _register_japanese_font()])
    try:
        yield
    finally:
        dict.update(params, saved)


# --- rendering: cached "plates" (figure + rendered static background + dynamic artists) ---


def _new_figure(width_cm: float, height_cm: float) -> Figure:
    fig = Figure(figsize=(width_cm * _CM, height_cm * _CM), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _pixels(fig: Figure) -> np.ndarray:
    """The Agg canvas as a (height, width) uint32 view, R | G << 8 | B << 16 | A << 24."""
    buffer = fig.canvas.buffer_rgba()
    return np.frombuffer(buffer, dtype="<u4").reshape(buffer.shape[0], buffer.shape[1])


def _encode(indices: np.ndarray, palette: bytes) -> bytes:
    height, width = indices.shape
    image = Image.frombuffer("P", (width, height), indices, "raw", "P", 0, 1)
    image.putpalette(palette)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=_PNG_LEVEL, dpi=(DPI, DPI))
    return out.getvalue()


def _encode_rgb(fig: Figure) -> bytes:
    """The canvas as a full-colour PNG: no filter, zlib level 1 (fast; Pillow's is ~3x slower)."""
    rgba = np.asarray(fig.canvas.buffer_rgba())
    height, width = rgba.shape[:2]
    rows = np.empty((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None
    rows[:, 1:] = rgba[..., :3].reshape(height, -1)
    ppm = round(DPI / 0.0254)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
        )

    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(
                b"IHDR", width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\0\0\0"
            ),
            chunk(b"pHYs", ppm.to_bytes(4, "big") * 2 + b"\x01"),
            chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)),
            chunk(b"IEND", b""),
        ]
    )


def _render_once(fig: Figure) -> bytes:
    """Draw a whole (uncached) figure and encode it (see `PNG_PALETTE`)."""
    fig.canvas.draw()
    if not PNG_PALETTE:
        return _encode_rgb(fig)
    pixels = _pixels(fig)
    palette = _Palette(pixels)
    return _encode(palette.map(pixels), palette.bytes)


class _Palette:
    """≤ 256 colours chosen once per image or plate; maps any colour to its nearest entry.

    The most frequent colours (backgrounds, zone fills, markers, text) are kept exactly; the
    antialiasing tail is represented by a median-cut (MAXCOVERAGE) selection.
    """

    def __init__(self, pixels: np.ndarray) -> None:
        keys, counts = np.unique(pixels & 0xFFFFFF, return_counts=True)
        if len(keys) > 256:
            order = np.lexsort((keys, -counts))  # by count, then by colour: deterministic
            exact = keys[order[:_EXACT_COLOURS]]
            rgb = Image.fromarray(pixels.view(np.uint8).reshape(*pixels.shape, 4)[..., :3])
            tail = (
                rgb.quantize(
                    256 - _EXACT_COLOURS,
                    method=Image.Quantize.MAXCOVERAGE,
                    dither=Image.Dither.NONE,
                ).getpalette()
                or []
            )
            tail_rgb = np.asarray(tail, dtype=np.uint32).reshape(-1, 3)
            keys = np.union1d(exact, tail_rgb[:, 0] | tail_rgb[:, 1] << 8 | tail_rgb[:, 2] << 16)
        self.rgb = np.stack([keys & 255, keys >> 8 & 255, keys >> 16 & 255], 1).astype(np.int64)
        self.bytes = self.rgb.astype(np.uint8).tobytes()
        self._rgb_t = self.rgb.T.astype(np.float64)
        self._norm2 = (self.rgb.astype(np.float64) ** 2).sum(1)
        self._memo: dict[int, int] = {}

    def nearest(self, keys: np.ndarray) -> np.ndarray:
        """Index of the nearest palette colour (squared RGB distance, first on ties)."""
        out = np.empty(len(keys), dtype=np.uint8)
        for start in range(0, len(keys), 8192):
            k = keys[start : start + 8192].astype(np.int64)
            rgb = np.stack([k & 255, k >> 8 & 255, k >> 16 & 255], 1).astype(np.float64)
            # |c - p|^2 - |c|^2; every term is a small integer, so float64 is exact
            out[start : start + 8192] = (self._norm2 - 2.0 * (rgb @ self._rgb_t)).argmin(1)
        return out

    def map(self, pixels: np.ndarray) -> np.ndarray:
        """Palette indices (uint8) for uint32 RGBA pixels (alpha ignored)."""
        flat = (pixels & 0xFFFFFF).reshape(-1)
        keys = np.unique(flat, return_counts=True)[0]  # (the counts path is the fast one)
        inverse = np.searchsorted(keys, flat)  # faster than np.unique(return_inverse=True)
        if len(keys) > 4096:  # whole backgrounds: vectorised
            lookup = self.nearest(keys)
        else:  # the few colours of the redrawn highlight: memoised
            memo = self._memo
            if len(memo) > 100_000:
                memo.clear()
            listed = keys.tolist()
            missing = [k for k in listed if k not in memo]
            if missing:
                found = self.nearest(np.asarray(missing, dtype=np.int64)).tolist()
                memo.update(zip(missing, found, strict=True))
            lookup = np.fromiter((memo[k] for k in listed), dtype=np.uint8, count=len(listed))
        return lookup[inverse].reshape(pixels.shape)


class _Plate:
    """A figure whose static part is rendered once; only `dynamic` artists are redrawn.

    The palette and the background's palette indices depend only on the plate (its static part
    plus the dynamic artists in a canonical `probe` state), so a warm call and a cold call with
    the same arguments give byte-identical PNGs.
    """

    def __init__(
        self, fig: Figure, dynamic: Sequence[Artist], update: Callable[..., None], probe: tuple
    ) -> None:
        self.fig = fig
        self.dynamic = list(dynamic)
        self.update = update
        for artist in self.dynamic:
            artist.set_animated(True)  # excluded from canvas.draw()
        fig.canvas.draw()
        self.background = fig.canvas.copy_from_bbox(fig.bbox)
        self._probe = probe
        self.palette: _Palette | None = None  # built on first use: ~75 ms, RGB needs none

    def _palette(self) -> _Palette:
        if self.palette is None:
            self.fig.canvas.restore_region(self.background)
            self._bg = _pixels(self.fig).copy()
            self._compose(self._probe)
            self.palette = _Palette(_pixels(self.fig))
            self._bg_indices = self.palette.map(self._bg)
        return self.palette

    def _compose(self, args: tuple) -> None:
        self.fig.canvas.restore_region(self.background)
        self.update(*args)
        for artist in self.dynamic:
            if artist.get_visible():
                self.fig.draw_artist(artist)

    def render(self, *args: object) -> bytes:
        if not PNG_PALETTE:
            self._compose(args)
            return _encode_rgb(self.fig)
        palette = self._palette()
        self._compose(args)
        pixels = _pixels(self.fig)
        changed = pixels != self._bg
        indices = self._bg_indices.copy()
        if changed.any():
            indices[changed] = palette.map(pixels[changed])
        return _encode(indices, palette.bytes)


# Per process: up to _CACHE_SIZE plates per chart kind (keyed by everything static: reference
# data digest, thresholds, axis range, labels), LRU. A plate holds ~7 MB for a scatter, ~2 MB
# for the band or the timeline. Every public function holds _LOCK (calls from several threads
# are serialised) and applies the fixed style to the global rcParams only while it runs.
_CACHES: dict[str, OrderedDict[tuple, _Plate]] = {}
_YAM_PNGS: OrderedDict[tuple, bytes] = OrderedDict()  # finished band PNGs, by (zones, YAM)


def _plate(kind: str, key: tuple, build: Callable[[], _Plate]) -> _Plate:
    cache = _CACHES.setdefault(kind, OrderedDict())
    key = (*key, i18n.current())  # the plate's static words are in the report's language
    plate = cache.get(key)
    if plate is None:
        plate = build()
        cache[key] = plate
        if len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return plate


def clear_cache() -> None:
    """Drop all cached figures (frees memory; results are unaffected)."""
    with _LOCK:
        _CACHES.clear()
        _YAM_PNGS.clear()


# --- formatting helpers ---


def _fmt_num(value: float) -> str:
    """67 -> '67', 67.25 -> '67.2', 1260 -> '1,260'."""
    text = f"{value:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def _check_zones(osteoporosis_max_pct: float, normal_min_pct: float) -> tuple[float, float]:
    low, high = float(osteoporosis_max_pct), float(normal_min_pct)
    if not _YAM_RANGE[0] < low < high < _YAM_RANGE[1]:
        raise ValueError(
            f"need {_YAM_RANGE[0]:g} < osteoporosis_max_pct < normal_min_pct"
            f" < {_YAM_RANGE[1]:g}, got {low:g} and {high:g}"
        )
    return low, high


def _zones(low: float, high: float) -> list[tuple[str, float, float, str]]:
    """(key, from, to, range text) for the three YAM zones inside the axis range."""
    lo, hi = _YAM_RANGE
    return [
        ("osteoporosis", lo, low, f"≤ {low:g} %"),
        ("low_bone_mass", low, high, f"{low:g}–{high:g} %"),
        ("normal", high, hi, f"≥ {high:g} %"),
    ]


def _nice_ceiling(value: float) -> float:
    """Round up, with ~3 % headroom, to a multiple of half a power of ten (3,756 -> 4,000)."""
    value = max(value * 1.03, 1.0)
    step = 10 ** math.floor(math.log10(value)) / 2
    return math.ceil(value / step) * step


# --- 1. YAM zone band ---


def _build_yam_zones(low: float, high: float, caption_right: bool) -> _Plate:
    """The YAM band plate (call under `_style()`, like every builder)."""
    fig = _new_figure(17.0, 3.0)
    ax = fig.add_axes((0.6 / 17, 0.62 / 3, 15.8 / 17, 0.95 / 3))
    ax.set_xlim(*_YAM_RANGE)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    for side in ("left", "right", "top", "bottom"):
        ax.spines[side].set_visible(False)
    for key, start, stop, range_text in _zones(low, high):
        ax.add_patch(
            Rectangle(
                (start, 0),
                stop - start,
                1,
                facecolor=ZONE_COLORS[key],
                edgecolor="white",
                linewidth=1.0,
            )
        )
        narrow = (stop - start) < 20
        ax.text(
            (start + stop) / 2,
            0.5,
            f"{_(_ZONE_LABELS[key])}\n{range_text}"
            if narrow
            else f"{_(_ZONE_LABELS[key])}  {range_text}",
            ha="center",
            va="center",
            color=_ZONE_TEXT[key],
            fontsize=7 if narrow else 8,
            fontweight="normal" if narrow else "bold",
            linespacing=1.15,
        )
    ax.xaxis.set_major_locator(MultipleLocator(10))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} %"))
    ax.tick_params(axis="x", length=3, pad=2)
    marker = Line2D(
        [],
        [],
        marker="v",
        markersize=11,
        color=_INK,
        markeredgecolor="white",
        markeredgewidth=0.8,
        linestyle="none",
        clip_on=False,
    )
    notch = Line2D([], [], color=_INK, linewidth=2.2, solid_capstyle="butt", clip_on=False)
    xaxis_tf = ax.get_xaxis_transform()
    label = Text(
        0,
        1.62,
        "",
        transform=xaxis_tf,
        fontsize=10,
        fontweight="bold",
        va="bottom",
        ha="center",
        clip_on=False,
    )
    # the caption sits at the end away from the patient's label (two plates per zone set)
    ax.text(
        1.0 if caption_right else 0.0,
        1.62,
        _("Bone mineral density, % of young adult mean (YAM)"),
        transform=ax.transAxes,
        fontsize=7,
        color=_MUTED,
        va="bottom",
        ha="right" if caption_right else "left",
    )
    for line in (notch, marker):
        line.set_transform(xaxis_tf)
        ax.add_line(line)
    ax.add_artist(label)

    def update(yam: float) -> None:
        known = not math.isnan(yam)
        x = min(max(yam, _YAM_RANGE[0]), _YAM_RANGE[1]) if known else sum(_YAM_RANGE) / 2
        frac = (x - _YAM_RANGE[0]) / (_YAM_RANGE[1] - _YAM_RANGE[0])
        marker.set_visible(known)
        notch.set_visible(known)
        marker.set_data([x], [1.2])
        notch.set_data([x, x], [0.72, 1.0])
        off_scale = _(" (off scale)") if known and x != yam else ""
        label.set_text(f"YAM {_fmt_num(yam)} %{off_scale}" if known else _("YAM not available"))
        label.set_color(_INK if known else _MUTED)
        label.set_x(x)
        label.set_ha("left" if frac < 0.05 else "right" if frac > 0.95 else "center")

    return _Plate(fig, [notch, marker, label], update, probe=(90.0 if caption_right else 60.0,))


def plot_yam_zones(
    yam_percent: float, *, osteoporosis_max_pct: float = 70.0, normal_min_pct: float = 80.0
) -> bytes:
    """Band 40–120 % YAM in the three JOS 2012 zones with the patient's YAM marked.

    17 × 3 cm at `DPI`. Values outside 40–120 % are marked at the band's end (the label keeps the
    true value); NaN gives the band with "YAM not available".
    """
    low, high = _check_zones(osteoporosis_max_pct, normal_min_pct)
    yam = float(yam_percent) + 0.0  # -0.0 -> 0.0
    key = (low, high, "nan" if math.isnan(yam) else yam, PNG_PALETTE, i18n.current())
    with _LOCK:
        png = _YAM_PNGS.get(key)  # YAM values repeat across patients: keep recent results
        if png is None:
            right = yam < sum(_YAM_RANGE) / 2  # caption opposite the label; False for NaN
            with _style():
                plate = _plate(
                    "yam_zones", (low, high, right), lambda: _build_yam_zones(low, high, right)
                )
                png = plate.render(yam)
            _YAM_PNGS[key] = png
            if len(_YAM_PNGS) > 512:
                _YAM_PNGS.popitem(last=False)
        else:
            _YAM_PNGS.move_to_end(key)
        return png


# --- 2./3. cohort scatter (dose or days vs YAM) ---


def _clean_cohort(
    xs: Sequence[float], ys: Sequence[float], flags: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Drop non-finite points, clamp to the axis range; returns x, y, fracture, dropped, clamped."""
    x = np.asarray(xs, dtype=float).reshape(-1)
    y = np.asarray(ys, dtype=float).reshape(-1)
    f = np.asarray(flags, dtype=bool).reshape(-1)
    if not len(x) == len(y) == len(f):
        raise ValueError(
            f"length mismatch: {len(x)} x values, {len(y)} YAM values, {len(f)} fracture flags"
        )
    keep = np.isfinite(x) & np.isfinite(y)
    dropped = int(len(x) - np.count_nonzero(keep))
    x, y, f = x[keep], y[keep], f[keep]
    clamped = int(np.count_nonzero((y < _YAM_RANGE[0]) | (y > _YAM_RANGE[1]) | (x < 0)))
    x = np.maximum(x, 0.0)
    y = np.clip(y, *_YAM_RANGE)
    return x, y, f, dropped, clamped


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
        h.update(b"|")
    return h.hexdigest()


def _build_scatter(
    x: np.ndarray,
    y: np.ndarray,
    frac: np.ndarray,
    dropped: int,
    clamped: int,
    xmax: float,
    spec: dict,
) -> _Plate:
    low, high = spec["low"], spec["high"]
    title = spec["title"]
    width, base_height = spec["size_cm"]
    height = base_height + (0.5 if title else 0.0)
    fig = _new_figure(width, height)
    left, right, bottom, top = 1.45, 2.45, 1.2, 0.8 + (0.5 if title else 0.0)
    ax = fig.add_axes(
        (
            left / width,
            bottom / height,
            (width - left - right) / width,
            (height - bottom - top) / height,
        )
    )
    ax.set_xlim(0, xmax)
    ax.set_ylim(*_YAM_RANGE)
    ax.set_ylabel("YAM (%)")
    ax.set_xlabel(spec["xlabel"])
    ax.yaxis.set_major_locator(FixedLocator(np.arange(40, 121, 10)))
    ax.xaxis.set_major_formatter(FuncFormatter(spec["xtick"]))
    if title:
        fig.text(
            0.25 / width,
            1 - 0.12 / height,
            title,
            ha="left",
            va="top",
            fontsize=9,
            fontweight="bold",
            parse_math=False,
        )
    # zones: faint tint in the plot, coloured key + text in the right margin
    key_tf = ax.get_yaxis_transform()
    for key, start, stop, range_text in _zones(low, high):
        ax.axhspan(start, stop, color=ZONE_COLORS[key], alpha=0.07, linewidth=0, zorder=0)
        ax.add_patch(
            Rectangle(
                (1.004, start),
                0.012,
                stop - start,
                transform=key_tf,
                facecolor=ZONE_COLORS[key],
                edgecolor="white",
                linewidth=0.5,
                clip_on=False,
            )
        )
        ax.text(
            1.03,
            (start + stop) / 2,
            f"{_(_ZONE_LABELS[key])}\n{range_text}",
            transform=key_tf,
            ha="left",
            va="center",
            fontsize=7,
            linespacing=1.15,
            color=_INK,
        )
    for level in (low, high):
        ax.axhline(level, zorder=2.5, **_GUIDE)
    threshold = spec["threshold"]
    ax.axvline(threshold, zorder=2.5, **_GUIDE)
    ax.text(
        threshold,
        0.985,
        " " + spec["threshold_label"],
        transform=ax.get_xaxis_transform(),
        ha="left",
        va="top",
        fontsize=7,
        color=_INK,
        fontstyle="italic",
        zorder=5,
        bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "alpha": 0.75, "linewidth": 0},
    )
    # cohort
    n, nf = len(x), int(frac.sum())
    handles: list[Artist | tuple[Artist, ...]] = []
    labels: list[str] = []
    if n > _DENSE_N:
        xbins = np.linspace(0, xmax, 171)
        ybins = np.linspace(*_YAM_RANGE, 81)
        counts = np.histogram2d(x, y, bins=(xbins, ybins))[0]
        counts = np.ma.masked_equal(counts.T, 0)
        ax.imshow(
            counts,
            origin="lower",
            extent=(0, xmax, *_YAM_RANGE),
            aspect="auto",
            cmap=_DENSITY,
            norm=LogNorm(vmin=1, vmax=max(2.0, float(counts.max()))),
            interpolation="nearest",
            zorder=2,
        )
        handles.append(Patch(color=_DENSITY(0.5)))
        labels.append(_("All cases, density (n = {n})").format(n=f"{n:,}"))
    else:
        ok = ~frac
        alpha = 0.85 if n <= 300 else 0.85 * math.sqrt(300 / n)
        ax.plot(
            x[ok],
            y[ok],
            linestyle="none",
            marker="o",
            markersize=5.0 if n <= 300 else 3.5,
            markerfacecolor=_POINT,
            markeredgecolor="white",
            markeredgewidth=0.4,
            alpha=alpha,
            zorder=3,
            clip_on=False,
        )
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                markersize=5,
                markerfacecolor=_POINT,
                markeredgecolor="white",
            )
        )
        labels.append(_("No fracture (n = {n})").format(n=f"{int(ok.sum()):,}"))
    if nf <= 300:
        fracture_style = {"markersize": 6.5, "alpha": 1.0, "markeredgecolor": "white"}
    elif nf <= 1000:
        fracture_style = {"markersize": 5.0, "alpha": 0.75, "markeredgecolor": "white"}
    else:
        fracture_style = {"markersize": 3.0, "alpha": 0.5, "markeredgecolor": "none"}
    ax.plot(
        x[frac],
        y[frac],
        linestyle="none",
        marker="X",
        markerfacecolor=_FRACTURE,
        markeredgewidth=0.4,
        zorder=4,
        clip_on=False,
        **fracture_style,
    )
    handles.append(
        Line2D(
            [],
            [],
            linestyle="none",
            marker="X",
            markersize=6.5,
            markerfacecolor=_FRACTURE,
            markeredgecolor="white",
        )
    )
    labels.append(_("Fracture (n = {n})").format(n=f"{nf:,}"))
    ax.legend(
        handles=handles,
        labels=labels,
        ncol=len(handles),
        loc="lower left",
        bbox_to_anchor=(0, 1.005),
        borderaxespad=0,
        handletextpad=0.3,
        columnspacing=1.4,
    )
    notes = []
    if n == 0:
        ax.text(
            0.5,
            0.69,
            _("No data"),
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=10,
            color=_MUTED,
            fontstyle="italic",
            zorder=5,
        )
    if clamped:
        notes.append(_("{n} value(s) outside the axes drawn at the edge").format(n=f"{clamped:,}"))
    if dropped:
        notes.append(_("{n} case(s) with missing values not shown").format(n=f"{dropped:,}"))
    if notes:
        fig.text(
            1 - 0.15 / width,
            0.1 / height,
            "; ".join(notes),
            ha="right",
            va="bottom",
            fontsize=7,
            color=_MUTED,
        )
    # dynamic: the highlighted patient (a ring, so the patient's own cohort point shows)
    # and its label ("<highlight_label>: <x>, YAM <y> %") with a leader line
    renderer = fig.canvas.get_renderer()
    in_fig = fig.transFigure  # positions are computed in pixels, set as figure fractions
    halo, ring = _ring(17.0)
    leader = Line2D([], [], color=_INK, linewidth=0.7, transform=in_fig, zorder=6, clip_on=False)
    for line in (halo, ring):
        ax.add_line(line)
    ax.add_line(leader)
    note = Text(
        0,
        0,
        "",
        transform=in_fig,
        fontsize=7.5,
        fontweight="bold",
        zorder=7,
        parse_math=False,
        clip_on=False,
        bbox={
            "boxstyle": "round,pad=0.25",
            "facecolor": "white",
            "edgecolor": _INK,
            "linewidth": 0.6,
        },
    )
    ax.add_artist(note)
    points_px = ax.transData.transform(np.column_stack([x, y])) if n else np.zeros((0, 2))
    axes_box = ax.bbox.extents

    xfmt = spec["xvalue"]
    ring_radius = (17.0 / 2 + 1.5) * DPI / 72
    offset = 14 * DPI / 72

    def update(hx: float, hy: float, label: str) -> None:
        visible = math.isfinite(hx) and math.isfinite(hy)
        for artist in (halo, ring, leader, note):
            artist.set_visible(visible)
        if not visible:
            return
        px = min(max(hx, 0.0), xmax)
        py = min(max(hy, _YAM_RANGE[0]), _YAM_RANGE[1])
        for line in (halo, ring):
            line.set_data([px], [py])
        note.set_text(f"{label}: {xfmt(hx)}, YAM {_fmt_num(hy)} %")
        box = note.get_window_extent(renderer)
        pad = 0.25 * 7.5 * DPI / 72  # the bbox's pad: keep the box, not just the text, clear
        cx, cy = ax.transData.transform((px, py))
        dx, dy = _place_label(
            (cx, cy), box.width + 2 * pad, box.height + 2 * pad, points_px, axes_box, offset
        )
        tx, ty = cx + dx * (offset + pad), cy + dy * (offset + pad)
        fw, fh = fig.bbox.width, fig.bbox.height
        note.set_position((tx / fw, ty / fh))
        note.set_ha("left" if dx > 0 else "right")
        note.set_va("bottom" if dy > 0 else "top")
        # leader from the ring's edge to the label's near corner
        length = math.hypot(tx - cx, ty - cy)
        sx, sy = cx + (tx - cx) * ring_radius / length, cy + (ty - cy) * ring_radius / length
        leader.set_data([sx / fw, tx / fw], [sy / fh, ty / fh])

    probe = (xmax / 2, sum(_YAM_RANGE) / 2, _("This patient"))
    return _Plate(fig, [halo, ring, leader, note], update, probe=probe)


def _ring(size: float) -> tuple[Line2D, Line2D]:
    """Highlight marker: a black ring on a wide yellow halo (readable in grey-scale too)."""
    common = {
        "linestyle": "none",
        "marker": "o",
        "markersize": size,
        "markerfacecolor": "none",
        "clip_on": False,
    }
    return (
        Line2D([], [], markeredgecolor=_HIGHLIGHT, markeredgewidth=4.0, zorder=6, **common),
        Line2D([], [], markeredgecolor=_INK, markeredgewidth=1.6, zorder=6, **common),
    )


def _place_label(
    anchor: np.ndarray,
    width: float,
    height: float,
    points: np.ndarray,
    axes_box: np.ndarray,
    offset: float,
) -> tuple[int, int]:
    """Pick the label quadrant (dx, dy in ±1) that stays in the axes and covers fewest points."""
    ax0, ay0, ax1, ay1 = axes_box
    best: tuple[tuple[int, int], tuple[int, int]] | None = None
    for dx, dy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        x0 = anchor[0] + offset if dx > 0 else anchor[0] - offset - width
        y0 = anchor[1] + offset if dy > 0 else anchor[1] - offset - height
        x1, y1 = x0 + width, y0 + height
        outside = int(x0 < ax0 or x1 > ax1 or y0 < ay0 or y1 > ay1)
        pad = 6.0
        covered = int(
            np.count_nonzero(
                (points[:, 0] > x0 - pad)
                & (points[:, 0] < x1 + pad)
                & (points[:, 1] > y0 - pad)
                & (points[:, 1] < y1 + pad)
            )
        )
        score = (outside, covered)
        if best is None or score < best[0]:
            best = (score, (dx, dy))
    assert best is not None
    return best[1]


def _scatter(
    xs: Sequence[float],
    ys: Sequence[float],
    flags: Sequence[bool],
    highlight: tuple[float, float] | None,
    spec: dict,
) -> bytes:
    spec["low"], spec["high"] = _check_zones(spec["low"], spec["high"])
    x, y, frac, dropped, clamped = _clean_cohort(xs, ys, flags)
    hx, hy = (math.nan, math.nan) if highlight is None else map(float, highlight)
    if not (math.isfinite(hx) and math.isfinite(hy)):
        hx = hy = math.nan
    label = spec.pop("highlight_label")
    top = max(
        float(x.max()) if len(x) else 0.0,
        spec["threshold"] * 1.25,
        hx if math.isfinite(hx) else 0.0,
    )
    xmax = _nice_ceiling(top)
    key = (
        _digest(x, y, frac),
        dropped,
        clamped,
        xmax,
        tuple(sorted((k, v) for k, v in spec.items() if not callable(v))),
    )
    with _LOCK, _style():
        plate = _plate(
            spec["kind"], key, lambda: _build_scatter(x, y, frac, dropped, clamped, xmax, spec)
        )
        return plate.render(hx, hy, label)


def _grams(value: float, _pos: object = None) -> str:
    return f"{value:,.0f}"


def plot_dose_vs_yam(
    doses_g: Sequence[float],
    yams: Sequence[float],
    fractures: Sequence[bool],
    *,
    highlight: tuple[float, float] | None = None,
    highlight_label: str = "This patient",
    dose_threshold_g: float = 1000.0,
    osteoporosis_max_pct: float = 70.0,
    normal_min_pct: float = 80.0,
    title: str | None = None,
    size_cm: tuple[float, float] = (17.0, 9.0),
) -> bytes:
    """Cumulative MgSO4 dose (g) vs YAM % scatter, fractures marked, optional highlighted patient.

    ``size_cm`` at print size (+0.5 cm height with a title). Points with a NaN coordinate are
    dropped (counted in a note); YAM is clamped to 40–120 % and doses below 0 to 0. Above
    5,000 points the cohort is drawn as a density image with fracture cases on top. A
    ``highlight`` with a NaN is ignored.
    """
    spec = {
        "kind": "dose",
        "low": osteoporosis_max_pct,
        "high": normal_min_pct,
        "threshold": float(dose_threshold_g),
        "threshold_label": _("{grams} g (hypothesis)").format(
            grams=f"{float(dose_threshold_g):,.0f}"
        ),
        "xlabel": _("Cumulative MgSO4 dose (g)"),
        "xtick": _grams,
        "xvalue": lambda v: f"{v:,.0f} g",
        "highlight_label": str(highlight_label),
        "title": title or None,
        "size_cm": (float(size_cm[0]), float(size_cm[1])),
    }
    return _scatter(doses_g, yams, fractures, highlight, spec)


def plot_days_vs_yam(
    days: Sequence[float],
    yams: Sequence[float],
    fractures: Sequence[bool],
    *,
    long_term_days: float = 8.0,
    osteoporosis_max_pct: float = 70.0,
    normal_min_pct: float = 80.0,
) -> bytes:
    """Days on MgSO4 vs YAM % scatter with the long-term threshold; same rules as dose chart."""
    spec = {
        "kind": "days",
        "low": osteoporosis_max_pct,
        "high": normal_min_pct,
        "threshold": float(long_term_days),
        "threshold_label": _("{days} days (long-term)").format(days=f"{float(long_term_days):g}"),
        "xlabel": _("Days on MgSO4"),
        "xtick": lambda v, _pos=None: f"{v:g}",
        "xvalue": lambda v: _("{days} days").format(days=f"{v:g}"),
        "highlight_label": "",
        "title": None,
        "size_cm": (17.0, 9.0),
    }
    return _scatter(days, yams, fractures, None, spec)


# --- 4. status counts ---


def plot_status_counts(counts: Mapping[str, int]) -> bytes:
    """Bar chart of patients per bone status ("normal", "low_bone_mass", "osteoporosis").

    Missing keys count as 0; unknown keys or negative counts raise ValueError. 12 × 6.5 cm.
    """
    order = ("normal", "low_bone_mass", "osteoporosis")
    unknown = sorted(set(counts) - set(order))
    if unknown:
        raise ValueError(f"unknown status key(s): {unknown}; expected {list(order)}")
    values = [int(counts.get(key, 0)) for key in order]
    if min(values) < 0:
        raise ValueError(f"negative count in {dict(counts)}")
    total = sum(values)
    with _LOCK, _style():
        fig = _new_figure(12.0, 6.5)
        ax = fig.add_axes((1.5 / 12, 0.9 / 6.5, 10.2 / 12, 4.9 / 6.5))
        positions = np.arange(len(order))
        ax.bar(
            positions,
            values,
            width=0.6,
            color=[ZONE_COLORS[k] for k in order],
            edgecolor="white",
            linewidth=0.5,
            zorder=2,
        )
        top = max(values) if total else 1
        ax.set_ylim(0, top * 1.28)
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.set_xticks(positions, [_(_ZONE_LABELS[k]) for k in order])
        ax.tick_params(axis="x", length=0, labelsize=8, pad=4)
        ax.yaxis.set_major_formatter(FuncFormatter(_grams))
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(_("Patients"))
        ax.grid(axis="y", color="#dddddd", linewidth=0.5, zorder=0)
        for pos, value in zip(positions, values, strict=True):
            share = f" ({100 * value / total:.1f} %)" if total else ""
            ax.text(
                pos,
                value + top * 0.03,
                f"{value:,}{share}",
                ha="center",
                va="bottom",
                fontsize=8,
                fontweight="bold",
            )
        fig.text(
            1.5 / 12,
            1 - 0.2 / 6.5,
            _("Bone status (n = {n})").format(n=f"{total:,}"),
            ha="left",
            va="top",
            fontsize=9,
            fontweight="bold",
        )
        if not total:
            ax.text(
                0.5,
                0.55,
                _("No patients"),
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=10,
                color=_MUTED,
                fontstyle="italic",
            )
        return _render_once(fig)


# --- 5. timeline ---

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = date(1970, 1, 1)


def _day(value: date) -> float:
    return (
        float((value - _EPOCH).days)
        if not hasattr(value, "hour")
        else ((value.date() - _EPOCH).days + (value.hour * 60 + value.minute) / 1440)
    )


def _date_text(day: float) -> str:
    d = _EPOCH + timedelta(days=math.floor(day + 1e-9))
    if i18n.current() == "ja":
        return f"{d.year}年{d.month}月{d.day}日"
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def _date_ticks(lo: float, hi: float) -> list[float]:
    """Tick positions (days since 1970-01-01) at day, week or month boundaries, ≤ 7 ticks."""
    for step in (1, 2, 7, 14):
        first = math.ceil(lo / step) * step + (4 if step >= 7 else 0)  # weeks start on Monday
        while first - step >= lo:
            first -= step
        ticks = [float(t) for t in range(int(first), int(hi) + 1, step) if lo <= t <= hi]
        if len(ticks) <= 7:
            return ticks
    start, end = _EPOCH + timedelta(days=math.ceil(lo)), _EPOCH + timedelta(days=math.floor(hi))
    for months in (1, 2, 3, 6, 12, 24, 60):
        ticks = []
        index = start.year * 12 + start.month - 1 + (0 if start.day == 1 else 1)
        index = math.ceil(index / months) * months
        while True:
            d = date(index // 12, index % 12 + 1, 1)
            if d > end:
                break
            ticks.append(float((d - _EPOCH).days))
            index += months
        if len(ticks) <= 7:
            return ticks
    return [lo, hi]


def _timeline_window(rows: Sequence[tuple[float, float | None]]) -> tuple[float, float]:
    """x limits (days): the events' extent, at least 6 days, padded by 4 %."""
    lo = min(start for start, _ in rows)
    hi = max(start if end is None else end for start, end in rows)
    span = max(hi - lo, 6.0)
    mid = (lo + hi) / 2
    return mid - span * 0.54, mid + span * 0.54


def _build_timeline(labels: tuple[str, ...], spans: tuple[bool, ...]) -> _Plate:
    n = len(labels)
    height = 1.2 + 0.6 * n
    fig = _new_figure(17.0, height)
    left, right = 3.6, 0.5
    ax = fig.add_axes(
        (left / 17, 0.75 / height, (17 - left - right) / 17, (height - 0.95) / height)
    )
    ax.set_ylim(n - 0.4, -0.6)
    ax.spines["left"].set_visible(False)
    ax.set_xticks([])  # date ticks are dynamic (drawn per call, below)
    ax.tick_params(axis="y", length=0, labelsize=8)
    ax.set_yticks(
        range(n),
        [(lbl if len(lbl) <= 26 else lbl[:25] + "…").replace("$", r"\$") for lbl in labels],
    )
    x_axis = ax.get_xaxis_transform()  # x in days, y in axes fraction
    grid = Line2D([], [], color="#e3e3e3", linewidth=0.5, transform=x_axis)
    tick_marks = Line2D(
        [],
        [],
        linestyle="none",
        marker=3,
        markersize=3.0,
        markeredgewidth=0.6,
        color=_MUTED,
        transform=x_axis,
        clip_on=False,
    )
    below = x_axis + ScaledTranslation(0, -6.0 / 72, fig.dpi_scale_trans)
    tick_labels = [
        Text(0, 0, "", transform=below, ha="center", va="top", fontsize=7.5, clip_on=False)
        for _ in range(7)
    ]
    shapes: list[Artist] = []
    for row, span in enumerate(spans):
        if span:
            shapes.append(Rectangle((0, row - 0.25), 0, 0.5, color=_POINT, linewidth=0))
        else:
            shapes.append(
                Line2D(
                    [], [], marker="D", markersize=6.5, color=_INK, linestyle="none", clip_on=False
                )
            )
    row_texts = [Text(0, row, "", va="center", fontsize=7.5, clip_on=False) for row in range(n)]
    for artist in (grid, tick_marks, *shapes):
        ax.add_artist(artist)
    for artist in (*tick_labels, *row_texts):
        ax.add_artist(artist)
    renderer = fig.canvas.get_renderer()

    def update(rows: tuple[tuple[float, float | None], ...]) -> None:
        xlo, xhi = _timeline_window(rows)
        ax.set_xlim(xlo, xhi)
        ticks = _date_ticks(xlo, xhi)
        grid.set_data(
            [v for t in ticks for v in (t, t, math.nan)],
            [v for _ in ticks for v in (0.0, 1.0, math.nan)],
        )
        tick_marks.set_data(ticks, [0.0] * len(ticks))
        for text, tick in zip(tick_labels, [*ticks, *[None] * 7], strict=False):
            text.set_visible(tick is not None)
            if tick is not None:
                text.set_x(tick)
                text.set_text(_date_text(tick))
        x0_px, _, x1_px, _ = ax.bbox.extents
        for row, ((start, end), shape, text) in enumerate(
            zip(rows, shapes, row_texts, strict=True)
        ):
            if isinstance(shape, Rectangle):
                assert end is not None
                shape.set_bounds(start, row - 0.25, max(end - start, (xhi - xlo) * 0.004), 0.5)
                label = f"{_date_text(start)} – {_date_text(end)}"  # no day count: stays and
                # infusion days count days differently (nights vs calendar days)
                gap_pt = 4.0
            else:
                assert isinstance(shape, Line2D)
                shape.set_data([start], [row])
                label, end, gap_pt = _date_text(start), start, 7.0  # clear of the diamond
            text.set_text(label)
            text.set_color(_INK)
            text.set_fontweight("normal")
            text_px = text.get_window_extent(renderer).width
            lo_px, hi_px = (ax.transData.transform((v, row))[0] for v in (start, end))
            gap = gap_pt * DPI / 72
            if hi_px + gap + text_px <= x1_px:  # right of the event
                text.set_x(end)
                text.set_ha("left")
                text.set_transform(ax.transData + _offset(fig, gap_pt))
            elif lo_px - gap - text_px >= x0_px:  # left of the event
                text.set_x(start)
                text.set_ha("right")
                text.set_transform(ax.transData + _offset(fig, -gap_pt))
            else:  # inside the bar
                text.set_x((start + end) / 2)
                text.set_ha("center")
                text.set_transform(ax.transData)
                text.set_color("white")
                text.set_fontweight("bold")

    probe = tuple((0.0, 30.0) if span else (15.0, None) for span in spans)
    return _Plate(
        fig, [grid, *shapes, tick_marks, *tick_labels, *row_texts], update, probe=(probe,)
    )


def plot_timeline(events: Sequence[tuple[str, date, date | None]]) -> bytes | None:
    """Gantt-style timeline of (label, start, end-or-None) events; None if < 2 dated events.

    Events without a start date are skipped; an end before the start raises ValueError. 17 cm
    wide, 1.2 cm + 0.6 cm per event. Dates are written locale-independently ("3 Mar 2024").
    """
    dated = [
        (str(label), _day(start), None if end is None else _day(end))
        for label, start, end in events
        if start is not None
    ]
    if len(dated) < 2:
        return None
    for label, start, end in dated:
        if end is not None and end < start:
            raise ValueError(f"event {label!r} ends before it starts")
    labels = tuple(label for label, _, _ in dated)
    spans = tuple(end is not None for _, _, end in dated)
    rows = tuple((start, end) for _, start, end in dated)
    with _LOCK, _style():
        plate = _plate("timeline", (labels, spans), lambda: _build_timeline(labels, spans))
        return plate.render(rows)


def _offset(fig: Figure, points: float) -> ScaledTranslation:
    return ScaledTranslation(points / 72, 0, fig.dpi_scale_trans)


# --- 6. MgSO4 exposure so far (inpatients, --as-of) ---


def plot_cumulative_dose(
    series: Sequence[tuple[date, float]],
    *,
    as_of: date,
    threshold_g: float,
    long_term_days: float,
    projected: tuple[date, float] | None = None,
) -> bytes | None:
    """Cumulative MgSO4 (g) over time up to ``as_of``, the high-dose threshold line, the
    long-term-days line (first infusion + N days) and, while infusing, the projection to the
    threshold (dashed). None with fewer than two points. 17 cm × 5.2 cm at print size."""
    if len(series) < 2:
        return None
    xs = [_day(moment) for moment, _ in series]
    ys = [grams for _, grams in series]
    with _LOCK, _style():
        fig = _new_figure(17.0, 5.2)
        ax = fig.add_axes((1.6 / 17, 0.9 / 5.2, 12.4 / 17, 3.9 / 5.2))
        ax.plot(xs, ys, color=_POINT, linewidth=1.8, zorder=3)
        top = max(max(ys), threshold_g) * 1.15
        end = _day(as_of)
        if projected is not None:
            px = _day(projected[0])
            ax.plot(
                [xs[-1], px],
                [ys[-1], projected[1]],
                color=_POINT,
                linewidth=1.2,
                linestyle=(0, (3, 2)),
                zorder=3,
            )
            end = max(end, px)
        ax.axhline(threshold_g, zorder=2.5, **_GUIDE)
        ax.text(
            1.005,
            threshold_g,
            _("{grams} g (hypothesis)").format(grams=f"{threshold_g:,.0f}"),
            transform=ax.get_yaxis_transform(),
            ha="left",
            va="center",
            fontsize=7,
            color=_INK,
        )
        long_term = xs[0] + long_term_days
        ax.axvline(long_term, zorder=2.5, **_GUIDE)
        ax.text(
            long_term,
            0.98,
            _(" day {days} (long-term)").format(days=f"{long_term_days:g}"),
            transform=ax.get_xaxis_transform(),
            ha="left",
            va="top",
            fontsize=7,
            color=_INK,
            fontstyle="italic",
        )
        ax.axvline(_day(as_of), color=_INK, linewidth=0.8, zorder=2.6)
        ax.text(
            _day(as_of),
            0.02,
            _(" as of"),
            transform=ax.get_xaxis_transform(),
            ha="left",
            va="bottom",
            fontsize=7,
            color=_INK,
        )
        ax.set_xlim(xs[0], max(end, long_term) + 1)
        ax.set_ylim(0, top)
        ax.set_ylabel(_("Cumulative MgSO4 (g)"))
        ax.yaxis.set_major_formatter(FuncFormatter(_grams))
        lo, hi = ax.get_xlim()
        ax.xaxis.set_major_locator(FixedLocator(_date_ticks(lo, hi)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p=None: _date_text(v)))
        return _render_once(fig)
