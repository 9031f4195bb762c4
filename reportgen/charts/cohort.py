"""The cohort report's own chart: patients per bone status (the scatters are in
`reportgen.charts.scatter`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.ticker import FuncFormatter

from reportgen.charts.plates import render_once
from reportgen.charts.scales import grams, integer_ticks
from reportgen.charts.style import LOCK, MUTED, ZONE_COLORS, ZONE_LABELS, new_figure, style
from reportgen.i18n import _


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
    with LOCK, style():
        fig = new_figure(12.0, 6.5)
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
        ax.set_xticks(positions, [_(ZONE_LABELS[k]) for k in order])
        ax.tick_params(axis="x", length=0, labelsize=8, pad=4)
        ax.yaxis.set_major_formatter(FuncFormatter(grams))
        integer_ticks(ax.yaxis)
        ax.set_ylabel(_("Patients"))
        ax.grid(axis="y", color="#dddddd", linewidth=0.5, zorder=0)
        for pos, value in zip(positions, values, strict=True):
            share = f" ({100 * value / total:.1f} %)" if total else ""
            ax.text(
                float(pos),
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
                color=MUTED,
                fontstyle="italic",
            )
        return render_once(fig)
