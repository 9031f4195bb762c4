"""The template context of the cohort summary: Table 1, dose analysis, listing, data quality.

Every number is formatted here, once, the way a paper prints it: thousands separators
(``1,552``), percentages to one decimal (``44.4 %``), rounding half up (``29.25 -> 29.3``),
a true minus sign (``−0.42``) and p-values to two decimals (three below 0.01).
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from typing import Any

from markupsafe import Markup, escape

from reportgen import formatting as fmt
from reportgen import i18n
from reportgen.cohort_tables import (  # noqa: F401  (half_up, p_value: re-exported)
    DECIMALS,
    association,
    count,
    dose_bands,
    fisher_table,
    flag_rows,
    half_up,
    num,
    p_value,
    plain,
    ratio,
    share,
    span,
    table1,
)
from reportgen.context import chart_image, data_uri, time_text
from reportgen.context_types import (
    CohortContext,
    Excluded,
    ExcludedReason,
    ExcludedRow,
    LabelValue,
    ListingColumn,
    Missing,
    MissingCell,
    QualityRow,
    StatusRow,
    WarningRow,
    Warnings,
)
from reportgen.followup_context import cohort_follow_up_context
from reportgen.i18n import N_, _
from reportgen.labs import LAB_TESTS
from reportgen.models import STATUS_LABELS
from reportgen.report_charts import CohortCharts
from reportgen.rules import RuleSet
from reportgen.settings import Organisation
from reportgen.summary import SMALL_N

LISTING_COLUMNS = (  # (key, heading translated at use, numeric: right-aligned)
    ("patient_id", "ID", False),
    ("age_years", N_("Age"), True),
    ("bmi_kg_m2", "BMI", True),
    ("gravida", N_("listing|G"), True),
    ("para", N_("listing|P"), True),
    ("smoking", N_("Smoking"), False),
    ("hospital_days", N_("Hosp. days"), True),
    ("mgso4_days", N_("listing|MgSO4 days"), True),
    ("mgso4_total_g", N_("Dose (g)"), True),
    ("yam_percent", N_("YAM %"), True),
    ("fracture", N_("Fracture"), False),
    ("classification", N_("Status"), False),
)
_STATUS = STATUS_LABELS  # the one table, reportgen.models
_CRITERIA = {"jos2012": "JOS 2012", "jos2000": "JOS 2000"}
_QUALITY_LABELS = {
    "implausible_dose_rate": N_("Cumulative MgSO4 above the plausible rate"),
    "mgso4_days_exceed_hospital_days": N_("More MgSO4 days than hospital days"),
    "fracture_in_dxa_region": N_("Fractured vertebra inside the DXA region"),
    "fracture_site_unrecognised": N_("Fracture site not recognised"),
    "dxa_before_delivery": N_("DXA scan dated before delivery"),
    "dxa_days_postpartum": N_("DXA scan timing after delivery"),
    # no English label: shown as the id with spaces, which is also the message id
    "fracture_site_not_jos": N_("fracture site not jos"),
    "fracture_site_assumed": N_("fracture site assumed"),
    "fracture_sites_without_fracture": N_("fracture sites without fracture"),
}
_MAX_EXCLUDED_SHOWN = 100
_MAX_WARNINGS_SHOWN = 20
_QUOTED = re.compile(r""":\s*(?:'.*'|".*")\s*$""")
# The bundled Liberation Sans has no U+2084 (₄): MgSO4 is typeset with <sub>, so the PDF
# never falls back to a system font. Keys shown outside the page body stay plain text.
_SUBSCRIPT = Markup("MgSO<sub>4</sub>")
_PLAIN_KEYS = frozenset(
    {"title", "subject", "keywords", "footer", "charts", "organisation", "follow_up"}
)


def _pgettext(message: str) -> str:
    """``listing|G`` -> the translation, or the text after ``|`` in English."""
    text = _(message)
    return text.split("|", 1)[1] if text == message and "|" in message else text


# --- the context --------------------------------------------------------------------------


def cohort_context(
    summary: dict,
    listing: list[dict],
    rules: RuleSet,
    org: Organisation,
    *,
    generated_at: str,
    tool_version: str,
    source: str,
    max_listing: int,
    listing_total: int,
    integer_columns: set[str],
    charts: CohortCharts,
) -> CohortContext:
    """Everything ``cohort.html`` shows, as display strings (``summary`` is the cohort JSON,
    with its ``follow_up`` under --scans); ``charts`` are already drawn."""
    n = summary["n"]
    criteria = _CRITERIA.get(rules.criteria, rules.criteria)
    deidentified = bool(summary["deidentified"])
    excluded = summary["excluded"]
    report = CohortContext(
        lang=org.language,
        title=_(
            "Postpartum bone health after MgSO4 tocolysis — case-series summary (n = {n})"
        ).format(n=f"{n:,}"),
        heading=_("Case-series summary: bone mass after MgSO4 tocolysis"),
        subject=_("Cohort audit: Table 1, dose–bone-mass analysis, case listing, data quality"),
        keywords=_("audit, case series, postpartum, osteoporosis, PLO, MgSO4, DXA, YAM"),
        organisation=org,
        tool_version=tool_version,
        generated_at=generated_at,
        generated_display=(
            generated_at.replace("T", " ").replace("Z", " UTC")
            if i18n.current() == "en"
            else time_text(generated_at)
        ),
        footer=_(
            "Cohort summary · {source} · n = {n} · generated {date} · reportgen "
            "{version} · rules {rules}"
        ).format(
            source=source,
            n=f"{n:,}",
            date=fmt.date_text(generated_at[:10]),
            version=tool_version,
            rules=rules.version,
        ),
        source=source,
        rows_read=count(summary["source"]["rows_read"]),
        rows_excluded=len(excluded),
        rules_label=rules.label,
        criteria=criteria,
        deidentified=deidentified,
        n=count(n),
        key_figures=_key_figures(summary, rules),
        key_caveat=_key_caveat(summary),
        status_rows=_status_rows(summary),
        low_or_worse=ratio(summary["low_bone_mass_or_worse"]["count"], summary.get("measured", n)),
        measured=count(summary.get("measured", n)),
        not_measured=count(summary.get("not_measured", 0)),
        yam_below=ratio(
            summary["yam_below_threshold"]["count"], summary["yam_below_threshold"]["denominator"]
        ),
        yam_normal_min=fmt.number(rules.yam_normal_min_pct),
        table1=table1(summary["table1"], integer_columns),
        cautions=summary["cautions"],
        flag_rows=flag_rows(summary["risk_flag_counts"], rules, n),
        lab_rows=[
            {"label": _(LAB_TESTS[t].label), "value": share(e["abnormal"], e["with_value"])}
            for t, e in summary.get("abnormal_labs", {}).items()
        ],
        dose_bands=dose_bands(summary["dose_bands"]),
        associations=[association(a) for a in summary["associations"]],
        fisher_table=fisher_table(summary["associations"]),
        listing=[_listing_row(r) for r in listing],
        listing_columns=[
            ListingColumn(label=_pgettext(label), numeric=numeric)
            for _key, label, numeric in LISTING_COLUMNS
        ],
        listing_shown=count(len(listing)),
        listing_total=count(listing_total),
        listing_capped=listing_total > len(listing),
        max_listing=count(max_listing),
        excluded=_excluded(excluded, deidentified),
        warnings=_warnings(summary["input_warnings"]),
        missing=_missing(summary["missing_by_column"], n),
        quality=_quality(summary["data_quality"]),
        charts={
            "dose_vs_yam": data_uri(charts.dose_vs_yam),
            "days_vs_yam": data_uri(charts.days_vs_yam),
            "status": data_uri(charts.status),
        },
    )
    typeset: dict[str, Any] = {
        f.name: _typeset(getattr(report, f.name))
        for f in fields(report)
        if f.name not in _PLAIN_KEYS
    }
    follow_up = summary.get("follow_up")
    if follow_up is not None:  # plain strings: not typeset
        rows = cohort_follow_up_context(follow_up, chart_image(charts.follow_up))
        return replace(report, **typeset, follow_up=rows)
    return replace(report, **typeset)


def _typeset(value: object) -> object:
    """Strings naming MgSO4 become escaped markup with a subscript 4; the rest is unchanged
    (Jinja escapes it)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return escape(value).replace("MgSO4", _SUBSCRIPT) if "MgSO4" in value else value
    if isinstance(value, dict):
        return {k: _typeset(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_typeset(v) for v in value]
    return value


def _key_caveat(summary: dict) -> str:
    """The small-sample caveat, inside the key-figures box (clinical-rules §6)."""
    n = summary["n"]
    if not n or n >= SMALL_N:
        return ""
    return _(
        "Small sample (n = {n}): these are descriptive figures of a case series, not "
        "estimates for a population; a single patient moves a percentage by {points} "
        "points, and tests have very low power."
    ).format(n=f"{n:,}", points=half_up(100 / n))


def _key_figures(summary: dict, rules: RuleSet) -> list[LabelValue]:
    """The cohort's headline figures, each computed from the data (a paper's abstract)."""
    n = summary["n"]
    counts = summary["classification_counts"]
    out: list[LabelValue] = [
        {
            "label": _("Patients analysed"),
            "value": f"{n:,}"
            + (
                _(" of {rows} rows read ({excluded} excluded)").format(
                    rows=f"{summary['source']['rows_read']:,}",
                    excluded=f"{len(summary['excluded']):,}",
                )
                if summary["excluded"]
                else ""
            ),
        },
        {
            "label": _("Bone status ({criteria})").format(
                criteria=_CRITERIA.get(rules.criteria, rules.criteria)
            ),
            "value": " · ".join(
                _("{n} {status}").format(n=count(counts[k]), status=_(_STATUS[k]).lower())
                for k in _STATUS
            )
            + (
                _(" · {n} not measured yet (counted apart)").format(
                    n=count(summary["not_measured"])
                )
                if summary.get("not_measured")
                else ""
            ),
        },
        {
            "label": _("Low bone mass or worse"),
            "value": ratio(summary["low_bone_mass_or_worse"]["count"], summary.get("measured", n)),
        },
        {
            "label": f"YAM < {fmt.number(rules.yam_normal_min_pct)} %",
            "value": ratio(
                summary["yam_below_threshold"]["count"],
                summary["yam_below_threshold"]["denominator"],
            ),
        },
    ]
    labels = {
        "age_years": (_("Age (years)"), ""),
        "bmi_kg_m2": (_("BMI (kg/m²)"), ""),
        "mgso4_days": (_("MgSO4 tocolysis (days)"), ""),
        "mgso4_total_g": (_("Cumulative MgSO4 dose"), " g"),
    }
    for column, (label, unit) in labels.items():
        mean = summary["means"].get(column)
        if mean is None:
            continue
        decimals = DECIMALS.get(column, 1)
        low, high = summary["ranges"][column]["min"], summary["ranges"][column]["max"]
        out.append(
            {
                "label": label,
                "value": _("mean {mean}{unit} (range {range})").format(
                    mean=num(mean, decimals), unit=unit, range=span(plain(low), plain(high))
                ),
            }
        )
    group = summary["low_yam_group"]
    means = group["means"]
    parts = []
    if means.get("age_years") is not None:
        parts.append(_("mean age {age} years").format(age=num(means["age_years"])))
    if means.get("bmi_kg_m2") is not None:
        parts.append(_("mean BMI {bmi} kg/m²").format(bmi=num(means["bmi_kg_m2"])))
    if group["n"] and parts:
        out.append(
            {
                "label": _("Low bone mass or worse (n = {n})").format(n=f"{group['n']:,}"),
                "value": " · ".join(parts),
            }
        )
    for a in summary["associations"]:
        if a["p_value"] is None:
            value = _("not computable (n = {n})").format(n=f"{a['n']:,}")
        elif a["statistic_name"] == "rho":
            value = (
                f"Spearman ρ = {num(a['statistic'], 2)}, p = {p_value(a['p_value'])}"
                f" (n = {a['n']:,})"
            ).replace("p = <", "p <")
        else:
            value = (
                _("Fisher's exact p = {p} (n = {n})").format(
                    p=p_value(a["p_value"]), n=f"{a['n']:,}"
                )
            ).replace("p = <", "p <")
        out.append({"label": a["label"], "value": value})
    return out


def _status_rows(summary: dict) -> list[StatusRow]:
    n = summary.get("measured", summary["n"])  # not-measured patients are counted apart
    return [
        {
            "label": _(_STATUS[k]),
            "value": k,
            "count": count(c),
            "percent": f"{half_up(100 * c / n)} %" if n else "—",
        }
        for k, c in summary["classification_counts"].items()
    ]


def _listing_row(row: dict) -> list[str]:
    cells = []
    for key, _label, _numeric in LISTING_COLUMNS:
        value = row.get(key)
        if key == "classification":
            cells.append(_(_STATUS[str(value)]) if str(value) in _STATUS else "—")
        elif key == "fracture":
            sites = row.get("fracture_sites")
            cells.append(
                (fmt.yes_no(True) + (f" ({sites})" if sites else ""))
                if value
                else fmt.yes_no(False)
            )
        elif key == "smoking":
            cells.append(_(str(value).replace("_", " ")) if value else fmt.yes_no(None))
        elif key == "patient_id":
            cells.append(str(value))
        elif key == "bmi_kg_m2" and value is not None:
            cells.append(fmt.bmi(value))
        else:
            cells.append(plain(value))
    return cells


def _reason_kind(message: str) -> str:
    """A problem message without the quoted input value, for counting rows by reason."""
    return _QUOTED.sub("", message)


def _excluded(excluded: list[dict], deidentified: bool) -> Excluded:
    shown: list[ExcludedRow] = []
    for entry in excluded[:_MAX_EXCLUDED_SHOWN]:
        reasons = "; ".join(f"{r['column']}: {r['message']}" for r in entry["reasons"])
        shown.append(
            {
                "row": _("file") if entry["row"] <= 1 else count(entry["row"]),
                "id": "" if deidentified else (entry.get("patient_id") or "—"),
                "reasons": reasons,
            }
        )
    by_reason: dict[tuple[str, str], int] = {}
    for entry in excluded:
        for kind in {(r["column"], _reason_kind(r["message"])) for r in entry["reasons"]}:
            by_reason[kind] = by_reason.get(kind, 0) + 1
    summary = [
        ExcludedReason(column=c, message=m, rows=count(k))
        for (c, m), k in sorted(by_reason.items(), key=lambda i: (-i[1], i[0]))
    ]
    problems = sum(len(e["reasons"]) for e in excluded)
    return {
        "rows": shown,
        "total": count(len(excluded)),
        "problems": count(problems),
        "count": len(excluded),
        "capped": len(excluded) > _MAX_EXCLUDED_SHOWN,
        "max_shown": count(_MAX_EXCLUDED_SHOWN),
        "by_reason": summary,
        "show_id": not deidentified,
    }


def _warnings(warnings: list[dict]) -> Warnings:
    shown: list[WarningRow] = [
        {
            "row": _("header") if w["row"] <= 1 else count(w["row"]),
            "column": w["column"],
            "message": w["message"],
        }
        for w in warnings[:_MAX_WARNINGS_SHOWN]
    ]
    return {
        "rows": shown,
        "total": count(len(warnings)),
        "capped": len(warnings) > _MAX_WARNINGS_SHOWN,
    }


def _missing(missing: dict[str, int], n: int) -> Missing:
    """Missing values per column, laid out three columns to a row."""
    cells: list[MissingCell] = [
        {
            "column": c,
            "missing": count(m),
            "percent": f"{half_up(100 * m / n)} %" if n else "—",
            "any": m > 0,
        }
        for c, m in missing.items()
    ]
    rows: list[list[MissingCell | None]] = [list(cells[i : i + 3]) for i in range(0, len(cells), 3)]
    if rows:
        rows[-1] = rows[-1] + [None] * (3 - len(rows[-1]))
    return {"rows": rows, "complete": not any(c["any"] for c in cells)}


def _quality(quality: list[dict]) -> list[QualityRow]:
    out: list[QualityRow] = []
    for q in quality:
        ids = ", ".join(q["patient_ids"])
        more = q["count"] - len(q["patient_ids"])
        if more > 0:
            ids += _(" … and {n} more (see cohort-cases.csv)").format(n=f"{more:,}")
        if q["severity"] == "info":
            ids = _("(information only; see cohort-cases.csv)")
        example = q["example"]
        days = q.get("days")
        if days:
            example = _("DXA a median of {median} days after delivery (range {range})").format(
                median=num(days["median"], 0), range=span(num(days["min"], 0), num(days["max"], 0))
            )
        out.append(
            {
                "label": (
                    _(_QUALITY_LABELS[q["id"]])
                    if q["id"] in _QUALITY_LABELS
                    else q["id"].replace("_", " ")
                ),
                "id": q["id"],
                "count": count(q["count"]),
                "severity": q["severity"],
                "example": example,
                "ids": ids,
            }
        )
    return out
