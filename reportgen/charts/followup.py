"""Follow-up charts: BMD over time per site with the LSC band; the cohort's changes per site.

A follow-up chart is rare, so it is drawn whole, not cached.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from reportgen import formatting as fmt
from reportgen.charts.plates import render_once
from reportgen.charts.scales import date_text, date_ticks, day, integer_ticks, tick_texts
from reportgen.charts.style import LOCK, MUTED, new_figure, style

# Colour-blind-safe (Okabe-Ito) site colours, in vendor-report order.
SITE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
TREND_SIZE_CM = (17.0, 6.2)


@dataclass(frozen=True)
class SiteSeries:
    """One site's scans: (date, BMD g/cm², device) in date order, and its LSC band."""

    label: str
    points: tuple[tuple[date, float, str], ...]
    lsc_percent: float
    # Per point after the first: not comparable with the one before (a device change or other
    # vertebrae: followup's rule). Empty: only a change of recorded device is a break.
    breaks: tuple[bool, ...] = ()


# The legend beside the plot holds about 16 narrow characters at 7.5 pt (3.2 cm).
_LEGEND_COLUMNS = 16


def legend_label(label: str) -> str:
    """A site name that fits the legend: a long one is broken before its last bracket or
    space ("大腿骨近位部（全体）" -> "大腿骨近位部\n（全体）"), a wide (CJK) letter counting two."""
    if _columns(label) <= _LEGEND_COLUMNS:
        return label
    cut = max(label.rfind("（"), label.rfind("(")) if "(" in label or "（" in label else -1
    cut = cut if cut > 0 else label.rfind(" ")
    if cut <= 0:
        return label
    return f"{label[:cut].rstrip()}\n{label[cut:].lstrip()}"


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def plot_bmd_trend(
    series: Sequence[SiteSeries], events: Sequence[tuple[str, date]] = ()
) -> bytes | None:
    """BMD per site over time; a shaded band of ± LSC around each site's baseline BMD;
    dashed lines where the device changed (not comparable); events as vertical lines.
    None when no site has two scans. 17 × 6.2 cm."""
    if not any(len(s.points) > 1 for s in series):
        return None
    width, height = TREND_SIZE_CM
    days = [day(d) for s in series for d, _, _ in s.points] + [day(d) for _, d in events]
    lo, hi = min(days), max(days)
    pad = max(hi - lo, 30.0) * 0.06
    with LOCK, style():
        fig = new_figure(width, height)
        ax = fig.add_axes((1.6 / width, 1.0 / height, 12.0 / width, (height - 1.7) / height))
        ax.set_xlim(lo - pad, hi + pad)
        bmds = [b for s in series for _, b, _ in s.points]
        for colour, site in zip(SITE_COLOURS * 2, series, strict=False):
            _draw_site(ax, site, colour, hi + pad)
        top = max(max(bmds) * (1 + max(s.lsc_percent for s in series) / 100), max(bmds))
        bottom = min(min(bmds) * (1 - max(s.lsc_percent for s in series) / 100), min(bmds))
        margin = (top - bottom) * 0.12
        ax.set_ylim(bottom - margin, top + margin * (1.5 + 0.9 * len(events)))
        for row, (label, when) in enumerate(sorted(events, key=lambda e: e[1])):
            x = day(when)
            ax.axvline(x, color=MUTED, linewidth=0.8, linestyle=(0, (3, 2)), zorder=1)
            ax.text(
                x,
                1.0 - 0.075 * row,
                f" {label} {date_text(x)}",  # staggered: events
                transform=ax.get_xaxis_transform(),  # cluster around the delivery
                ha="left",
                va="top",
                fontsize=7,
                color=MUTED,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3, "alpha": 0.8},
            )
        ticks = date_ticks(lo - pad, hi + pad)
        ax.set_xticks(ticks, tick_texts(ticks))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt.half_up(v, 2)))
        ax.set_ylabel("BMD (g/cm²)")
        ax.grid(axis="y", color="#e3e3e3", linewidth=0.5, zorder=0)
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0,
            handlelength=1.2,
            fontsize=7.5,
            labelspacing=0.9,
        )
        return render_once(fig)


def _draw_site(ax: Axes, site: SiteSeries, colour: str, x1: float) -> None:
    xs = [day(d) for d, _, _ in site.points]
    ys = [b for _, b, _ in site.points]
    base = ys[0]
    band = base * site.lsc_percent / 100
    ax.fill_between(
        [xs[0], x1], base - band, base + band, color=colour, alpha=0.12, linewidth=0, zorder=1
    )
    ax.plot([xs[0], x1], [base, base], color=colour, linewidth=0.5, alpha=0.6, zorder=1)
    for i in range(1, len(xs)):
        changed = (
            site.breaks[i - 1]
            if site.breaks
            else _device(site.points[i - 1][2]) != _device(site.points[i][2])
            and all(_device(p[2]) for p in site.points[i - 1 : i + 1])
        )
        ax.plot(
            xs[i - 1 : i + 1],
            ys[i - 1 : i + 1],
            color=colour,
            linewidth=1.4,
            zorder=3,
            linestyle=(0, (2, 2)) if changed else "-",
        )
    ax.plot(
        xs,
        ys,
        linestyle="none",
        marker="o",
        markersize=4.5,
        color=colour,
        zorder=4,
        label=f"{legend_label(site.label)}\nLSC ± {fmt.half_up(site.lsc_percent, 1)} %",
    )


def _device(name: str) -> str:
    return " ".join((name or "").lower().split())


_OUTCOMES = (
    ("gained", "Gained beyond the LSC", "#1e7b55"),
    ("no_significant_change", "No change beyond the LSC", "#9aa5b1"),
    ("lost", "Lost beyond the LSC", "#b03a2e"),
    ("not_comparable", "Not comparable (device)", "#e6a23c"),
)


def plot_follow_up_outcomes(sites: Sequence[tuple[str, dict[str, int]]]) -> bytes | None:
    """Cohort: patients per site whose latest scan gained, lost or did not change beyond the
    LSC against their first (stacked bars). None without sites. 17 × (2.3 + 0.7 per site) cm."""
    if not sites:
        return None
    width, height = 17.0, 2.3 + 0.7 * len(sites)
    with LOCK, style():
        fig = new_figure(width, height)
        ax = fig.add_axes((3.0 / width, 1.6 / height, 13.4 / width, (height - 1.9) / height))
        rows = range(len(sites))
        left = [0] * len(sites)
        for key, label, colour in _OUTCOMES:
            values = [counts.get(key, 0) for _, counts in sites]
            ax.barh(
                rows,
                values,
                left=left,
                color=colour,
                height=0.55,
                label=label,
                edgecolor="white",
                linewidth=0.5,
            )
            for row, (start, value) in enumerate(zip(left, values, strict=True)):
                if value:
                    ax.text(
                        start + value / 2,
                        row,
                        str(value),
                        ha="center",
                        va="center",
                        fontsize=7.5,
                        color="white",
                        fontweight="bold",
                    )
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.set_yticks(list(rows), [label for label, _ in sites])
        ax.set_ylim(len(sites) - 0.5, -0.5)
        ax.set_xlim(0, max(max(left), 1) * 1.02)
        integer_ticks(ax.xaxis)
        ax.set_xlabel("Patients (latest scan against the first)")
        ax.tick_params(axis="y", length=0)
        fig.legend(
            loc="lower center", bbox_to_anchor=(0.5, 0.02), ncol=4, fontsize=7, handlelength=1.0
        )
        return render_once(fig)
