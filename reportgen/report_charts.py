"""Which charts each report has, drawn from the record and the rule set before its context.

The contexts (``context.py``, ``cohort_context.py``) take these PNG bytes as input and only
turn them into ``data:`` URIs: building a context draws nothing (issue 18).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any, cast

from reportgen import charts
from reportgen.charts.followup import SiteSeries, plot_bmd_trend, plot_follow_up_outcomes
from reportgen.exposure import cumulative_series, stored_infusions
from reportgen.followup import FollowUp, not_comparable
from reportgen.i18n import N_, _
from reportgen.models import Assessment
from reportgen.rules import RuleSet
from reportgen.scans import Scan
from reportgen.sites import site_label

PATIENT_SCATTER_CM = (11.5, 6.4)  # beside the caveats, at print size (text ≥ 7 pt)
_EVENTS = (  # marked on the follow-up trend chart
    ("delivery_date", N_("Delivery")),
    ("weaning_date", N_("Weaning")),
    ("treatment_start", N_("Treatment start")),
)


@dataclass(frozen=True)
class PatientCharts:
    """The PNG charts of one patient report; None where the report has no such chart."""

    trend: bytes | None = None  # follow-up BMD per site over time (with scans, issue 12)
    so_far: bytes | None = None  # cumulative MgSO4 dose so far (--as-of with infusions)
    timeline: bytes | None = None  # admission, MgSO4, delivery, DXA (not beside the others)
    yam_zones: bytes | None = None  # the patient's YAM on the JOS zones
    dose_vs_yam: bytes | None = None  # the patient beside the seed's nine cases


@dataclass(frozen=True)
class CohortCharts:
    """The PNG charts of the cohort summary (figures 1–3)."""

    status: bytes | None  # patients per bone status
    dose_vs_yam: bytes | None  # YAM against cumulative MgSO4 dose
    days_vs_yam: bytes | None  # YAM against days on MgSO4
    follow_up: bytes | None = None  # outcomes of the follow-up scans per site (--scans)


@cache
def reference_cohort() -> tuple[tuple[float, float, bool], ...]:
    """The seed's Table 1 (dose g, YAM %, fracture), shipped as reference data."""
    text = resources.files("reportgen.assets").joinpath("reference/iio2022_table1.csv")
    rows = csv.DictReader(text.read_text("utf-8").splitlines())
    return tuple(
        (float(r["mgso4_total_g"]), float(r["yam_percent"]), r["fracture"] == "yes") for r in rows
    )


def draw_patient_charts(assessment: Assessment, rules: RuleSet) -> PatientCharts:
    """Every chart of one patient report, in the order the report used to draw them."""
    record = assessment.patient
    follow_up: FollowUp | None = assessment.follow_up
    trend = None
    if follow_up is not None:
        trend = plot_bmd_trend(_series(follow_up), _events(record))
    # The dose scatter's reference cohort and the timeline are about the postpartum DXA:
    # with scans they keep the main input's values (the latest scan is in the trend).
    postpartum = assessment.follow_up.original if assessment.follow_up else record
    exposure = assessment.exposure
    so_far = _exposure_chart(record, rules, exposure) if exposure else None
    # The exposure chart already draws the infusion span, and a follow-up's trend chart marks
    # delivery, weaning and treatment: no second timeline beside either.
    has_trend = follow_up is not None and follow_up.is_follow_up and trend is not None
    timeline = None if so_far or has_trend else charts.plot_timeline(_timeline_events(postpartum))
    if postpartum.get("yam_percent") is None:  # no DXA yet: nothing to place on a YAM axis
        return PatientCharts(trend=trend, so_far=so_far, timeline=timeline)
    osteo, normal = rules.yam_osteoporosis_max_pct, rules.yam_normal_min_pct
    doses, yams, fractures = zip(*reference_cohort(), strict=True)
    yam_zones = charts.plot_yam_zones(
        _float(record["yam_percent"]), osteoporosis_max_pct=osteo, normal_min_pct=normal
    )
    dose_vs_yam = charts.plot_dose_vs_yam(
        doses,
        yams,
        fractures,
        highlight=(_float(record["mgso4_total_g"]), _float(postpartum["yam_percent"])),
        highlight_label=_("This patient"),  # ids may hold characters no chart font has
        dose_threshold_g=_threshold(rules, "mgso4_high_cumulative_dose"),
        osteoporosis_max_pct=osteo,
        normal_min_pct=normal,
        size_cm=PATIENT_SCATTER_CM,
    )
    return PatientCharts(trend, so_far, timeline, yam_zones, dose_vs_yam)


def draw_cohort_charts(
    data: Mapping[str, Any], rules: RuleSet, follow_up: Mapping[str, Any] | None = None
) -> CohortCharts:
    """Figures 1–3 of the cohort summary from its chart data (``cohort._chart_data``), and
    with ``follow_up`` (``followup_summary.summarise_follow_up``) the follow-up outcomes."""
    osteo, normal = rules.yam_osteoporosis_max_pct, rules.yam_normal_min_pct
    dose_vs_yam = charts.plot_dose_vs_yam(
        data["dose"],
        data["yam"],
        data["fracture"],
        dose_threshold_g=_threshold(rules, "mgso4_high_cumulative_dose"),
        osteoporosis_max_pct=osteo,
        normal_min_pct=normal,
    )
    days_vs_yam = charts.plot_days_vs_yam(
        data["days"],
        data["yam"],
        data["fracture"],
        long_term_days=_threshold(rules, "mgso4_long_term"),
        osteoporosis_max_pct=osteo,
        normal_min_pct=normal,
    )
    status = charts.plot_status_counts(data["counts"])
    outcomes = None
    if follow_up is not None:
        sites = follow_up["sites"]
        outcomes = plot_follow_up_outcomes([(site_label(s["site"]), s) for s in sites])
    return CohortCharts(status, dose_vs_yam, days_vs_yam, outcomes)


def _threshold(rules: RuleSet, rule_id: str) -> float:
    """The numeric threshold of a dose or duration rule, as a chart line."""
    return rules.threshold(rule_id)


def _float(value: object) -> float:
    return float(cast("float", value))  # a validated numeric column


def _exposure_chart(record: dict, rules: RuleSet, exposure: dict) -> bytes | None:
    as_of = datetime.fromisoformat(exposure["as_of"])
    series = cumulative_series(stored_infusions(record), as_of)
    projected = None
    if exposure["projected_threshold_date"]:
        hours = (exposure["threshold_g"] - exposure["cumulative_g"]) / exposure[
            "current_rate_g_per_h"
        ]
        projected = (as_of + timedelta(hours=hours), exposure["threshold_g"])
    return charts.plot_cumulative_dose(
        series,
        as_of=as_of,
        threshold_g=exposure["threshold_g"],
        long_term_days=_threshold(rules, "mgso4_long_term"),
        projected=projected,
    )


def _timeline_events(record: dict) -> list[tuple[str, date, date | None]]:
    def day(key: str) -> date | None:
        value = record.get(key)
        return value.date() if isinstance(value, datetime) else value

    events: list[tuple[str, date, date | None]] = []
    for label, start, end in (
        (_("Hospital stay"), day("admission_date"), day("discharge_date")),
        ("MgSO4", day("_mgso4_start"), day("_mgso4_end")),
        (_("Delivery"), day("delivery_date"), None),
        ("DXA", day("dxa_date"), None),
    ):
        if start:
            events.append((label, start, end))
    return events


def _series(follow_up: FollowUp) -> list[SiteSeries]:
    by_site: dict[str, list[Scan]] = {}
    for scan in follow_up.scans:
        by_site.setdefault(scan.site, []).append(scan)
    lsc = {x.site: x.lsc_percent for x in follow_up.lscs}
    return [
        SiteSeries(
            site_label(site),
            tuple((s.scan_date, s.bmd_g_cm2, s.device or "") for s in scans),
            lsc[site],
            # the table's rule: a line across another device or other vertebrae read as a
            # change beyond the LSC that the table refused to claim
            tuple(bool(not_comparable(a, b)) for a, b in pairwise(scans)),
        )
        for site, scans in by_site.items()
    ]


def _events(record: dict) -> list[tuple[str, date]]:
    events = []
    for key, label in _EVENTS:
        value = record.get(key)
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            events.append((_(label), value))
    return events
