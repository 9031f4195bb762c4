"""The follow-up part of a patient report's context (``templates/followup.html``): strings only."""

from __future__ import annotations

from datetime import date
from typing import Any

from reportgen import formatting as fmt
from reportgen.context_types import (
    ChangeCells,
    ChangeRow,
    ChartImage,
    CohortFollowUpContext,
    CohortFollowUpRow,
    FollowUpContext,
    FollowUpTexts,
    ScanRow,
    ScanStatusItem,
)
from reportgen.followup import Change, FollowUp, PrecisionSource, ScanStatus
from reportgen.i18n import N_, _
from reportgen.scans import Scan
from reportgen.sites import site_label

FOLLOW_UP_HEADING = N_("Follow-up bone-health report")


def follow_up_context(
    follow_up: FollowUp | None, record: dict, chart: ChartImage | None
) -> FollowUpContext | None:
    """Results table, statuses, changes against the LSC and the trend ``chart`` (drawn by
    ``report_charts.draw_patient_charts``); None without scans."""
    if follow_up is None:
        return None
    scans = follow_up.scans
    reference = follow_up.reference or _("not stated (set [dxa] reference in --settings)")
    latest, first = follow_up.latest, follow_up.first
    all_changes = _changes(follow_up.changes)
    texts: FollowUpTexts = {  # sentences with a "%": Jinja's gettext %-formats its strings
        "latest": _latest_text(latest) if latest else "",
        "no_latest": _(
            "no scan gives a %YAM at the lumbar spine or proximal femur; the status "
            "above is from the main input."
        ),
        "first": (
            _fracture_text(first)
            if first.finding.by_fracture
            else _("decided by {site} (YAM {yam} %).").format(**_status_values(first))
        )
        if first is not None
        else "",
        "method": _(
            "Change = (later BMD − earlier BMD) / earlier BMD; significant when |change| "
            "≥ LSC (ISCD, 95 % confidence), LSC = 2.77 × precision error; scans on "
            "different devices or of different vertebrae are not compared."
        ),
        "reference": _("%YAM reference: {reference}.").format(reference=reference),
    }
    single_sites = set(follow_up.single_sites)  # a property: once, not once per scan
    return FollowUpContext(
        texts=texts,
        is_follow_up=follow_up.is_follow_up,
        results=_results(_shown_visits(scans)),
        results_note=_results_note(scans),
        show_age_matched=any(s.age_matched_percent is not None for s in scans),
        show_device=len({s.device for s in scans}) > 1,  # one device: said once, below
        device=next((s.device for s in scans if s.device), None),
        latest=_status(follow_up.latest),
        first=(
            _status(first)
            if first is not None and latest is not None and first.scan_date != latest.scan_date
            else None
        ),
        changes=_latest_rows(all_changes),
        changes_trimmed=len(all_changes) > MAX_CHANGE_ROWS,
        single_sites=[
            f"{site_label(s.site)}: scanned once ({fmt.date_text(s.scan_date)}), nothing to compare"
            for s in scans
            if s.site in single_sites
        ],
        lsc="; ".join(
            f"{site_label(x.site)} {_one_decimal(x.lsc_percent)} % (2.77 × "
            f"{fmt.number(x.precision_percent)} %, {x.source.label}"
            + (f"; {x.note}" if x.note else "")
            + ")"
            for x in follow_up.lscs
        ),
        precision_is_default=any(x.source is not PrecisionSource.FACILITY for x in follow_up.lscs),
        reference=follow_up.reference or "not stated (set [dxa] reference in --settings)",
        treatment=str(record.get("treatment") or ""),
        chart=chart,
    )


MAX_RESULT_VISITS = 6  # beyond: the first visit and the latest five (9,000 scans took 65 s)


def _visit_dates(scans: tuple[Scan, ...]) -> list[date]:
    return sorted({s.scan_date for s in scans})


def _shown_visits(scans: tuple[Scan, ...]) -> tuple[Scan, ...]:
    """Every scan when there are few visits, else those of the first and the latest visits."""
    dates = _visit_dates(scans)
    if len(dates) <= MAX_RESULT_VISITS:
        return scans
    kept = {dates[0], *dates[1 - MAX_RESULT_VISITS :]}
    return tuple(s for s in scans if s.scan_date in kept)


def _results_note(scans: tuple[Scan, ...]) -> str:
    visits = len(_visit_dates(scans))
    if visits <= MAX_RESULT_VISITS:
        return ""
    return _(
        "The first visit and the latest {latest} of {visits} are shown; every scan is in the "
        "JSON (scans) and on the trend chart."
    ).format(latest=MAX_RESULT_VISITS - 1, visits=visits)


def _results(scans: tuple[Scan, ...]) -> list[ScanRow]:
    rows: list[ScanRow] = []
    previous = None
    for scan in sorted(scans, key=lambda s: s.scan_date, reverse=True):  # latest first
        rows.append(
            {
                "date": fmt.date_text(scan.scan_date) if scan.scan_date != previous else "",
                "site": site_label(scan.site),
                "bmd": fmt.bmd(scan.bmd_g_cm2),
                "yam": fmt.percent(scan.yam_percent),
                "age_matched": fmt.percent(scan.age_matched_percent),
                "t": fmt.score(scan.t_score),
                "z": fmt.score(scan.z_score),
                "excluded": ", ".join(scan.excluded_vertebrae) or fmt.DASH,
                "device": scan.device or fmt.DASH,
                "new_date": scan.scan_date != previous,
            }
        )
        previous = scan.scan_date
    return rows


def _latest_text(latest: ScanStatus) -> str:
    """Why the latest status: the fracture when it decided (YAM 76 % alone is low bone mass,
    so "decided by L1–L4 (YAM 76 %)" beside "osteoporosis" read wrong), else the lowest %YAM."""
    if latest.finding.by_fracture:
        return _fracture_text(latest)
    return _(
        "decided by {site} (YAM {yam} %; JOS: the lowest %YAM among lumbar spine "
        "and proximal femur)."
    ).format(**_status_values(latest))


def _fracture_text(status: ScanStatus) -> str:
    return _(
        "decided by the recorded fragility fracture, whatever the BMD; the lowest %YAM: "
        "{site} {yam} %."
    ).format(**_status_values(status))


def _status_values(status: ScanStatus) -> dict[str, str]:
    scan = status.deciding
    return {"site": scan.label, "yam": fmt.percent(scan.yam_percent)}


def _status(status: ScanStatus | None) -> ScanStatusItem | None:
    if status is None:
        return None
    scan = status.deciding
    return {
        "date": fmt.date_text(status.scan_date),
        "status": status.finding.status,
        "site": scan.label,
        "yam": fmt.percent(scan.yam_percent),
        "reason": status.finding.reason,
    }


MAX_CHANGE_ROWS = 8  # beyond: each site's latest scan only (the trend shows the history)


def _latest_rows(rows: list[ChangeRow]) -> list[ChangeRow]:
    """All rows when few; else each site's latest scan against the previous and the baseline,
    so a long follow-up stays on three pages (every interval stays in the JSON)."""
    if len(rows) <= MAX_CHANGE_ROWS:
        return rows
    latest: dict[str, ChangeRow] = {}
    for row in rows:  # rows come in scan order within a site
        latest[row["site"]] = row
    return list(latest.values())


def _changes(changes: tuple[Change, ...]) -> list[ChangeRow]:
    """One row per later scan of a site: the change against the previous scan and against
    the site's first scan (the same comparison for the second scan: said once)."""
    rows: dict[tuple[str, object], ChangeRow] = {}
    for change in changes:
        row = rows.setdefault(
            (change.later.label, change.later.scan_date),
            {
                "site": change.later.label,
                "date": fmt.date_text(change.later.scan_date),
                "lsc": _one_decimal(change.lsc.lsc_percent),
                "previous": None,
                "baseline": None,
            },
        )
        if change.basis == "previous":
            row["previous"] = _change_cells(change)
        else:
            row["baseline"] = _change_cells(change)
    for row in rows.values():
        previous, baseline = row["previous"], row["baseline"]
        if previous and baseline and previous.get("since") == baseline.get("since"):
            row["baseline"] = {"same": True}
    return list(rows.values())


def _change_cells(change: Change) -> ChangeCells:
    shown, _limit = fmt.distinct(
        abs(change.change_percent), change.lsc.lsc_percent, formatter=_one_decimal
    )
    sign = "+" if change.change_percent > 0 else (fmt.MINUS if change.change_percent < 0 else "")
    return {
        "since": fmt.date_text(change.earlier.scan_date),
        "change": f"{_signed(change.change_g_cm2)} g/cm² ({sign}{shown} %)",
        "verdict": change.verdict.label
        if change.verdict
        else (
            _("not compared: device changed")
            if change.reason.startswith("different device")
            else _("not compared: vertebrae differ")
        ),  # the page-1 warning gives the details
        "verdict_class": change.verdict.value if change.verdict else "not_compared",
        "same": False,
    }


def _signed(value: float) -> str:
    text = fmt.bmd(value)
    return text if text.startswith(fmt.MINUS) or text == fmt.bmd(0) else f"+{text}"


def _one_decimal(value: float) -> str:
    """A change or an LSC in %: always one decimal (5.0 %, +12.9 %)."""
    return fmt.half_up(value, 1)


def cohort_follow_up_context(
    summary: dict[str, Any], chart: ChartImage | None
) -> CohortFollowUpContext:
    """The cohort report's follow-up section (``followup_summary.summarise_follow_up``) as
    display strings, with its outcomes ``chart`` (drawn by ``report_charts``)."""
    interval = summary["median_interval_days"]
    rows: list[CohortFollowUpRow] = []
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
    return CohortFollowUpContext(
        chart=chart,
        with_scans=fmt.count(summary["patients_with_scans"]),
        with_follow_up=fmt.count(summary["patients_with_follow_up"]),
        interval="—" if interval is None else f"{fmt.number(interval)} days",
        rows=rows,
    )
