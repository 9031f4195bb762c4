"""Cohort follow-up: who was re-scanned, after how long, and how many changed beyond the LSC."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from reportgen import formatting as fmt
from reportgen.followup import Change, Verdict, assess_scans
from reportgen.rules import RuleSet
from reportgen.scans import Scan
from reportgen.settings import DxaSettings
from reportgen.sites import site_label, site_order

# Breastfeeding groups, keyed by the English yes/no words (ids in the JSON, not display).
_FEEDING = {value: fmt.yes_no(value, "en") for value in (True, False, None)}


def summarise_follow_up(
    records: Sequence[dict], scans: Mapping[str, list[Scan]], rules: RuleSet, dxa: DxaSettings
) -> dict[str, object]:
    """Per site: patients compared with their baseline, the median change, how many gained
    or lost beyond the LSC, by breastfeeding; each patient's latest scan against her first."""
    intervals: list[int] = []
    latest: dict[str, list[tuple[Change, object]]] = {}
    with_scans = 0
    for record in records:
        own = scans.get(str(record["patient_id"]))
        if not own:
            continue
        with_scans += 1
        follow_up = assess_scans(record, own, rules, dxa)
        dates = sorted({s.scan_date for s in own})
        if len(dates) > 1:
            intervals.append((dates[-1] - dates[0]).days)
        for site in {c.site for c in follow_up.changes}:
            last = [c for c in follow_up.changes if c.site == site and c.basis == "baseline"][-1]
            latest.setdefault(site, []).append((last, record.get("breastfeeding")))
    return {
        "patients_with_scans": with_scans,
        "patients_with_follow_up": len(intervals),
        "median_interval_days": statistics.median(intervals) if intervals else None,
        "sites": [_site_summary(site, latest[site]) for site in sorted(latest, key=site_order)],
    }


def _site_summary(site: str, items: list[tuple[Change, object]]) -> dict[str, object]:
    compared = [c for c, _ in items if c.verdict is not None]
    return {
        "site": site,
        "patients": len(items),
        "lsc_percent": items[0][0].lsc.lsc_percent,
        "median_change_percent": (
            round(statistics.median(c.change_percent for c in compared), 2) if compared else None
        ),
        **_counts([c for c, _ in items]),
        "by_breastfeeding": {
            label: _counts([c for c, f in items if f is feeding])
            for feeding, label in _FEEDING.items()
            if any(f is feeding for _, f in items)
        },
    }


def _counts(changes: list[Change]) -> dict[str, int]:
    return {
        "gained": sum(c.verdict is Verdict.INCREASE for c in changes),
        "lost": sum(c.verdict is Verdict.DECREASE for c in changes),
        "no_significant_change": sum(c.verdict is Verdict.NO_SIGNIFICANT_CHANGE for c in changes),
        "not_comparable": sum(c.verdict is None for c in changes),
    }


def follow_up_rows(summary: dict[str, Any]) -> dict[str, object]:
    """The cohort report's follow-up section as display strings, and its chart."""
    from reportgen.context import chart_image  # matplotlib: only when a report is drawn
    from reportgen.followup_charts import plot_follow_up_outcomes

    interval = summary["median_interval_days"]
    rows = []
    for site in summary["sites"]:
        for label, counts in [("all", site), *site["by_breastfeeding"].items()]:
            rows.append(
                {
                    "site": site_label(site["site"]) if label == "all" else "",
                    "group": label,
                    "lsc": fmt.half_up(site["lsc_percent"], 1),
                    "patients": fmt.count(
                        sum(
                            counts[k]
                            for k in ("gained", "lost", "no_significant_change", "not_comparable")
                        )
                    ),
                    "median": (
                        fmt.half_up(site["median_change_percent"], 1) if label == "all" else ""
                    ),
                    "gained": fmt.count(counts["gained"]),
                    "lost": fmt.count(counts["lost"]),
                    "none": fmt.count(counts["no_significant_change"]),
                    "not_comparable": fmt.count(counts["not_comparable"]),
                }
            )
    chart = plot_follow_up_outcomes([(site_label(site["site"]), site) for site in summary["sites"]])
    return {
        "chart": chart_image(chart),
        "with_scans": fmt.count(summary["patients_with_scans"]),
        "with_follow_up": fmt.count(summary["patients_with_follow_up"]),
        "interval": "—" if interval is None else f"{fmt.number(interval)} days",
        "rows": rows,
    }
