"""The patient report's own charts: the YAM zone band, the timeline of the stay and the MgSO4
exposure so far (the dose-vs-YAM scatter is in `reportgen.charts.scatter`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, MultipleLocator
from matplotlib.transforms import ScaledTranslation

from reportgen.charts.plates import Plate, memo_png, plate, render_once
from reportgen.charts.scales import (
    check_zones,
    date_text,
    date_ticks,
    day,
    fmt_num,
    grams,
    tick_texts,
    zones,
)
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

_ZONE_TEXT = {"osteoporosis": "white", "low_bone_mass": "#1f1f1f", "normal": "white"}

# --- YAM zone band ---


def _build_yam_zones(low: float, high: float, caption_right: bool) -> Plate:
    """The YAM band plate (call under `style()`, like every builder)."""
    fig = new_figure(17.0, 3.0)
    ax = fig.add_axes((0.6 / 17, 0.62 / 3, 15.8 / 17, 0.95 / 3))
    ax.set_xlim(*YAM_RANGE)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    for side in ("left", "right", "top", "bottom"):
        ax.spines[side].set_visible(False)
    for key, start, stop, range_text in zones(low, high):
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
            f"{_(ZONE_LABELS[key])}\n{range_text}"
            if narrow
            else f"{_(ZONE_LABELS[key])}  {range_text}",
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
        color=INK,
        markeredgecolor="white",
        markeredgewidth=0.8,
        linestyle="none",
        clip_on=False,
    )
    notch = Line2D([], [], color=INK, linewidth=2.2, solid_capstyle="butt", clip_on=False)
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
        color=MUTED,
        va="bottom",
        ha="right" if caption_right else "left",
    )
    for line in (notch, marker):
        line.set_transform(xaxis_tf)
        ax.add_line(line)
    ax.add_artist(label)

    def update(yam: float) -> None:
        known = not math.isnan(yam)
        x = min(max(yam, YAM_RANGE[0]), YAM_RANGE[1]) if known else sum(YAM_RANGE) / 2
        frac = (x - YAM_RANGE[0]) / (YAM_RANGE[1] - YAM_RANGE[0])
        marker.set_visible(known)
        notch.set_visible(known)
        marker.set_data([x], [1.2])
        notch.set_data([x, x], [0.72, 1.0])
        off_scale = _(" (off scale)") if known and x != yam else ""
        label.set_text(f"YAM {fmt_num(yam)} %{off_scale}" if known else _("YAM not available"))
        label.set_color(INK if known else MUTED)
        label.set_x(x)
        label.set_horizontalalignment(
            "left" if frac < 0.05 else "right" if frac > 0.95 else "center"
        )

    return Plate(fig, [notch, marker, label], update)


def plot_yam_zones(
    yam_percent: float, *, osteoporosis_max_pct: float = 70.0, normal_min_pct: float = 80.0
) -> bytes:
    """Band 40–120 % YAM in the three JOS 2012 zones with the patient's YAM marked.

    17 × 3 cm at `DPI`. Values outside 40–120 % are marked at the band's end (the label keeps the
    true value); NaN gives the band with "YAM not available".
    """
    low, high = check_zones(osteoporosis_max_pct, normal_min_pct)
    yam = float(yam_percent) + 0.0  # -0.0 -> 0.0
    right = yam < sum(YAM_RANGE) / 2  # caption opposite the label; False for NaN

    def draw() -> bytes:
        with style():
            band = plate(
                "yam_zones",
                (low, high, right),
                lambda: _build_yam_zones(low, high, right),
                persist=True,
            )
            return band.render(yam)

    with LOCK:  # YAM values repeat across patients: recent results are kept
        return memo_png(("yam_zones", low, high, "nan" if math.isnan(yam) else yam), draw)


# --- timeline of the stay ---


def _timeline_window(rows: Sequence[tuple[float, float | None]]) -> tuple[float, float]:
    """x limits (days): the events' extent, at least 6 days, padded by 4 %."""
    lo = min(start for start, _ in rows)
    hi = max(start if end is None else end for start, end in rows)
    span = max(hi - lo, 6.0)
    mid = (lo + hi) / 2
    return mid - span * 0.54, mid + span * 0.54


def _build_timeline(labels: tuple[str, ...], spans: tuple[bool, ...]) -> Plate:
    n = len(labels)
    height = 1.2 + 0.6 * n
    fig = new_figure(17.0, height)
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
        color=MUTED,
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
            shapes.append(Rectangle((0, row - 0.25), 0, 0.5, color=POINT, linewidth=0))
        else:
            shapes.append(
                Line2D(
                    [], [], marker="D", markersize=6.5, color=INK, linestyle="none", clip_on=False
                )
            )
    row_texts = [Text(0, row, "", va="center", fontsize=7.5, clip_on=False) for row in range(n)]
    for artist in (grid, tick_marks, *shapes):
        ax.add_artist(artist)
    for artist in (*tick_labels, *row_texts):
        ax.add_artist(artist)
    renderer = canvas(fig).get_renderer()

    def update(rows: tuple[tuple[float, float | None], ...]) -> None:
        xlo, xhi = _timeline_window(rows)
        ax.set_xlim(xlo, xhi)
        ticks = date_ticks(xlo, xhi)
        grid.set_data(
            [v for t in ticks for v in (t, t, math.nan)],
            [v for _ in ticks for v in (0.0, 1.0, math.nan)],
        )
        tick_marks.set_data(ticks, [0.0] * len(ticks))
        labels = dict(zip(ticks, tick_texts(ticks), strict=True))
        for text, tick in zip(tick_labels, [*ticks, *[None] * 7], strict=False):
            text.set_visible(tick is not None)
            if tick is not None:
                text.set_x(tick)
                text.set_text(labels[tick])
        x0_px, _, x1_px, _ = ax.bbox.extents
        for row, ((start, end), shape, text) in enumerate(
            zip(rows, shapes, row_texts, strict=True)
        ):
            if isinstance(shape, Rectangle):
                assert end is not None
                shape.set_bounds(start, row - 0.25, max(end - start, (xhi - xlo) * 0.004), 0.5)
                label = f"{date_text(start)} – {date_text(end)}"  # no day count: stays and
                # infusion days count days differently (nights vs calendar days)
                gap_pt = 4.0
            else:
                assert isinstance(shape, Line2D)
                shape.set_data([start], [row])
                label, end, gap_pt = date_text(start), start, 7.0  # clear of the diamond
            text.set_text(label)
            text.set_color(INK)
            text.set_fontweight("normal")
            text_px = text.get_window_extent(renderer).width
            lo_px, hi_px = (ax.transData.transform((v, row))[0] for v in (start, end))
            gap = gap_pt * DPI / 72
            if hi_px + gap + text_px <= x1_px:  # right of the event
                text.set_x(end)
                text.set_horizontalalignment("left")
                text.set_transform(ax.transData + _offset(fig, gap_pt))
            elif lo_px - gap - text_px >= x0_px:  # left of the event
                text.set_x(start)
                text.set_horizontalalignment("right")
                text.set_transform(ax.transData + _offset(fig, -gap_pt))
            else:  # inside the bar
                text.set_x((start + end) / 2)
                text.set_horizontalalignment("center")
                text.set_transform(ax.transData)
                text.set_color("white")
                text.set_fontweight("bold")

    return Plate(fig, [grid, *shapes, tick_marks, *tick_labels, *row_texts], update)


def plot_timeline(events: Sequence[tuple[str, date, date | None]]) -> bytes | None:
    """Gantt-style timeline of (label, start, end-or-None) events; None if < 2 dated events.

    Events without a start date are skipped; an end before the start raises ValueError. 17 cm
    wide, 1.2 cm + 0.6 cm per event. Dates are written locale-independently ("3 Mar 2024").
    """
    dated = [
        (str(label), day(start), None if end is None else day(end))
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
    with LOCK, style():
        timeline = plate(
            "timeline", (labels, spans), lambda: _build_timeline(labels, spans), persist=True
        )
        return timeline.render(rows)


def _offset(fig: Figure, points: float) -> ScaledTranslation:
    return ScaledTranslation(points / 72, 0, fig.dpi_scale_trans)


# --- MgSO4 exposure so far (inpatients, --as-of) ---


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
    xs = [day(moment) for moment, _ in series]
    ys = [grams for _, grams in series]
    with LOCK, style():
        fig = new_figure(17.0, 5.2)
        ax = fig.add_axes((1.6 / 17, 0.9 / 5.2, 12.4 / 17, 3.9 / 5.2))
        ax.plot(xs, ys, color=POINT, linewidth=1.8, zorder=3)
        top = max(max(ys), threshold_g) * 1.15
        end = day(as_of)
        if projected is not None:
            px = day(projected[0])
            ax.plot(
                [xs[-1], px],
                [ys[-1], projected[1]],
                color=POINT,
                linewidth=1.2,
                linestyle=(0, (3, 2)),
                zorder=3,
            )
            end = max(end, px)
        ax.axhline(threshold_g, zorder=2.5, **GUIDE)
        ax.text(
            1.005,
            threshold_g,
            _("{grams} g (hypothesis)").format(grams=f"{threshold_g:,.0f}"),
            transform=ax.get_yaxis_transform(),
            ha="left",
            va="center",
            fontsize=7,
            color=INK,
        )
        long_term = xs[0] + long_term_days
        ax.axvline(long_term, zorder=2.5, **GUIDE)
        ax.text(
            long_term,
            0.98,
            _(" day {days} (long-term)").format(days=f"{long_term_days:g}"),
            transform=ax.get_xaxis_transform(),
            ha="left",
            va="top",
            fontsize=7,
            color=INK,
            fontstyle="italic",
        )
        ax.axvline(day(as_of), color=INK, linewidth=0.8, zorder=2.6)
        ax.text(
            day(as_of),
            0.02,
            _(" as of"),
            transform=ax.get_xaxis_transform(),
            ha="left",
            va="bottom",
            fontsize=7,
            color=INK,
        )
        ax.set_xlim(xs[0], max(end, long_term) + 1)
        ax.set_ylim(0, top)
        ax.set_ylabel(_("Cumulative MgSO4 (g)"))
        ax.yaxis.set_major_formatter(FuncFormatter(grams))
        lo, hi = ax.get_xlim()
        ticks = date_ticks(lo, hi)
        ax.set_xticks(ticks, tick_texts(ticks))
        return render_once(fig)
