"""Cohort follow-up: who was re-scanned, after how long, and how many changed beyond the LSC."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from reportgen import formatting as fmt
from reportgen.followup import Change, Verdict, assess_scans
from reportgen.rules import RuleSet
from reportgen.scans import Scan
from reportgen.settings import DxaSettings
from reportgen.sites import site_order

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
