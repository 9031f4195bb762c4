"""The dose-vs-YAM and days-vs-YAM scatters: a case series in the three YAM zones, fractures
marked, with an optional highlighted patient (the patient report's backdrop) or without (the
cohort report's charts)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.colors import LinearSegmentedColormap, LogNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter

from reportgen.charts.plates import Plate, plate
from reportgen.charts.scales import check_zones, fmt_num, grams, nice_ceiling, zones
from reportgen.charts.style import (
    DPI,
    GUIDE,
    INK,
    LOCK,
    MUTED,
    POINT,
    YAM_RANGE,
    ZONE_COLORS,
    ZONE_LABELS,
    canvas,
    new_figure,
    style,
)
from reportgen.i18n import _

HIGHLIGHT = "#ffd21f"  # the halo around the highlighted patient
_FRACTURE = "#111111"
_DENSE_N = 5000  # above this many points the cohort is drawn as a 2-D density image
_DENSITY = LinearSegmentedColormap.from_list("reportgen_density", ["#d4e0f2", "#3b5b92", "#0b1f44"])


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
    clamped = int(np.count_nonzero((y < YAM_RANGE[0]) | (y > YAM_RANGE[1]) | (x < 0)))
    x = np.maximum(x, 0.0)
    y = np.clip(y, *YAM_RANGE)
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
    spec: dict[str, Any],
) -> Plate:
    low, high = spec["low"], spec["high"]
    title = spec["title"]
    width, base_height = spec["size_cm"]
    height = base_height + (0.5 if title else 0.0)
    fig = new_figure(width, height)
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
    ax.set_ylim(*YAM_RANGE)
    ax.set_ylabel("YAM (%)")
    ax.set_xlabel(spec["xlabel"])
    ax.yaxis.set_major_locator(FixedLocator(list(range(40, 121, 10))))
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
    for key, start, stop, range_text in zones(low, high):
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
            f"{_(ZONE_LABELS[key])}\n{range_text}",
            transform=key_tf,
            ha="left",
            va="center",
            fontsize=7,
            linespacing=1.15,
            color=INK,
        )
    for level in (low, high):
        ax.axhline(level, zorder=2.5, **GUIDE)
    threshold = spec["threshold"]
    ax.axvline(threshold, zorder=2.5, **GUIDE)
    ax.text(
        threshold,
        0.985,
        " " + spec["threshold_label"],
        transform=ax.get_xaxis_transform(),
        ha="left",
        va="top",
        fontsize=7,
        color=INK,
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
        ybins = np.linspace(*YAM_RANGE, 81)
        counts = np.histogram2d(x, y, bins=(xbins, ybins))[0]
        counts = np.ma.masked_equal(counts.T, 0)
        ax.imshow(
            counts,
            origin="lower",
            extent=(0, xmax, *YAM_RANGE),
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
            markerfacecolor=POINT,
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
                markerfacecolor=POINT,
                markeredgecolor="white",
            )
        )
        labels.append(_("No fracture (n = {n})").format(n=f"{int(ok.sum()):,}"))
    if nf <= 300:
        size, opacity, edge = 6.5, 1.0, "white"
    elif nf <= 1000:
        size, opacity, edge = 5.0, 0.75, "white"
    else:
        size, opacity, edge = 3.0, 0.5, "none"
    ax.plot(
        x[frac],
        y[frac],
        linestyle="none",
        marker="X",
        markerfacecolor=_FRACTURE,
        markeredgewidth=0.4,
        zorder=4,
        clip_on=False,
        markersize=size,
        alpha=opacity,
        markeredgecolor=edge,
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
            color=MUTED,
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
            color=MUTED,
        )
    # dynamic: the highlighted patient (a ring, so the patient's own cohort point shows)
    # and its label ("<highlight_label>: <x>, YAM <y> %") with a leader line
    renderer = canvas(fig).get_renderer()
    in_fig = fig.transFigure  # positions are computed in pixels, set as figure fractions
    halo, ring = _ring(17.0)
    leader = Line2D([], [], color=INK, linewidth=0.7, transform=in_fig, zorder=6, clip_on=False)
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
            "edgecolor": INK,
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
        py = min(max(hy, YAM_RANGE[0]), YAM_RANGE[1])
        for line in (halo, ring):
            line.set_data([px], [py])
        note.set_text(f"{label}: {xfmt(hx)}, YAM {fmt_num(hy)} %")
        box = note.get_window_extent(renderer)
        pad = 0.25 * 7.5 * DPI / 72  # the bbox's pad: keep the box, not just the text, clear
        cx, cy = ax.transData.transform((px, py))
        dx, dy = _place_label(
            (cx, cy), box.width + 2 * pad, box.height + 2 * pad, points_px, axes_box, offset
        )
        tx, ty = cx + dx * (offset + pad), cy + dy * (offset + pad)
        fw, fh = fig.bbox.width, fig.bbox.height
        note.set_position((tx / fw, ty / fh))
        note.set_horizontalalignment("left" if dx > 0 else "right")
        note.set_verticalalignment("bottom" if dy > 0 else "top")
        # leader from the ring's edge to the label's near corner
        length = math.hypot(tx - cx, ty - cy)
        sx, sy = cx + (tx - cx) * ring_radius / length, cy + (ty - cy) * ring_radius / length
        leader.set_data([sx / fw, tx / fw], [sy / fh, ty / fh])

    return Plate(fig, [halo, ring, leader, note], update)


def _ring(size: float) -> tuple[Line2D, Line2D]:
    """Highlight marker: a black ring on a wide yellow halo (readable in grey-scale too)."""
    return (_ring_line(size, HIGHLIGHT, 4.0), _ring_line(size, INK, 1.6))


def _ring_line(size: float, colour: str, width: float) -> Line2D:
    return Line2D(
        [],
        [],
        markeredgecolor=colour,
        markeredgewidth=width,
        zorder=6,
        linestyle="none",
        marker="o",
        markersize=size,
        markerfacecolor="none",
        clip_on=False,
    )


def _place_label(
    anchor: tuple[float, float],
    width: float,
    height: float,
    points: np.ndarray,
    axes_box: tuple[float, float, float, float],
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
    spec: dict[str, Any],
) -> bytes:
    spec["low"], spec["high"] = check_zones(spec["low"], spec["high"])
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
    xmax = nice_ceiling(top)
    key = (
        _digest(x, y, frac),
        dropped,
        clamped,
        xmax,
        tuple(sorted((k, v) for k, v in spec.items() if not callable(v))),
    )
    with LOCK, style():
        scatter = plate(
            spec["kind"],
            key,
            lambda: _build_scatter(x, y, frac, dropped, clamped, xmax, spec),
            persist=highlight is not None,  # a backdrop shared by patients, not a cohort's data
        )
        return scatter.render(hx, hy, label)


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
        "xtick": grams,
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
