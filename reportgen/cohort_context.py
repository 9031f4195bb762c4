"""The template context of the cohort summary: Table 1, dose analysis, listing, data quality."""

from __future__ import annotations

from reportgen import charts
from reportgen.context import data_uri
from reportgen.rules import RuleSet, format_number
from reportgen.settings import Organisation

LISTING_COLUMNS = (
    ("patient_id", "ID"), ("age_years", "Age"), ("bmi_kg_m2", "BMI"), ("gravida", "G"),
    ("para", "P"), ("smoking", "Smoking"), ("hospital_days", "Hosp. d"),
    ("mgso4_days", "MgSO4 d"), ("mgso4_total_g", "Dose g"), ("yam_percent", "YAM %"),
    ("fracture", "Fracture"), ("classification", "Status"),
)
_STATUS = {"normal": "Normal", "low_bone_mass": "Low bone mass", "osteoporosis": "Osteoporosis"}


def half_up(value: float | None, decimals: int = 1) -> str:
    """Round half up (29.25 -> 29.3), as papers print, not banker's/binary rounding."""
    if value is None:
        return "—"
    from decimal import ROUND_HALF_UP, Decimal

    quantum = Decimal(1).scaleb(-decimals)
    rounded = Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    return f"{rounded:,}"


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.2f}" if value >= 0.01 else f"{value:.3f}"


def cohort_context(stats: dict, listing: list[dict], rules: RuleSet, org: Organisation, *,
                   generated_at: str, tool_version: str, source: str, max_listing: int,
                   excluded: list[dict], quality: list[dict], deidentified: bool,
                   chart_data: dict) -> dict[str, object]:
    """Everything ``cohort.html`` shows, as display strings."""
    n = stats["n"]
    return {
        "lang": org.language,
        "title": f"Postpartum bone health after MgSO4 tocolysis — case-series summary (n = {n})",
        "heading": "Case-series summary: bone mass after MgSO4 tocolysis",
        "subject": "Cohort audit: Table 1, dose–bone-mass analysis, case listing, data quality",
        "keywords": "audit, case series, postpartum, osteoporosis, PLO, MgSO4, DXA, YAM",
        "organisation": org,
        "tool_version": tool_version,
        "generated_at": generated_at,
        "generated_display": generated_at.replace("T", " ").replace("Z", " UTC"),
        "footer": f"Cohort summary · {source} · n = {n} · generated {generated_at[:10]} · "
                  f"reportgen {tool_version} · rules {rules.version}",
        "source": source,
        "rules_label": rules.label,
        "deidentified": deidentified,
        "n": n,
        "status_rows": _status_rows(stats),
        "low_or_worse": f"{stats['low_bone_mass_or_worse']['count']}/{n} = "
                        f"{half_up(stats['low_bone_mass_or_worse']['percent'])} %",
        "table1": _table1(stats["table1"]),
        "flag_rows": _flag_rows(stats["risk_flag_counts"], rules, n),
        "dose_bands": _dose_bands(stats["dose_bands"]),
        "associations": [_association(a) for a in stats["associations"]],
        "cautions": stats["cautions"],
        "listing": [_listing_row(r) for r in listing[:max_listing]],
        "listing_columns": [label for _, label in LISTING_COLUMNS],
        "listing_capped": len(listing) > max_listing,
        "listing_total": len(listing),
        "max_listing": max_listing,
        "excluded": excluded,
        "quality": quality,
        "missing": [{"label": k, "count": v} for k, v in stats["missing"].items() if v],
        "charts": _charts(chart_data, rules),
    }


def _status_rows(stats: dict) -> list[dict]:
    n = stats["n"]
    return [{"label": _STATUS[k], "value": k, "count": c,
             "percent": half_up(100 * c / n if n else None)}
            for k, c in stats["classification_counts"].items()]


def _continuous(stat: dict) -> list[str]:
    if not stat or stat["n"] == 0:
        return ["—", "—", "—"]
    sd = f" ({half_up(stat['sd'])})" if stat["sd"] is not None else ""
    return [f"{half_up(stat['mean'])}{sd}",
            f"{half_up(stat['median'])} [{half_up(stat['q1'])}, {half_up(stat['q3'])}]",
            f"{format_number(stat['min'])}–{format_number(stat['max'])}"]


def _table1(table: dict) -> dict:
    keys = [c["key"] for c in table["columns"]]
    rows = []
    for row in table["rows"]:
        test = row["test"] or {}
        test_text = f"{test.get('name')}, p = {_p(test.get('p_value'))}" if test.get("name") \
            else (test.get("reason") or "")
        if row["kind"] == "continuous":
            cells = {k: _continuous(row["stats"].get(k)) for k in keys}
            missing = row["stats"][keys[0]]["missing"]
            rows.append({"label": row["label"], "kind": "continuous", "test": test_text,
                         "missing": missing,
                         "lines": [{"what": what, "cells": [cells[k][i] for k in keys]}
                                   for i, what in enumerate(("mean (SD)", "median [IQR]",
                                                             "range"))]})
        else:
            lines = []
            for level in row["levels"]:
                cells = []
                for k in keys:
                    c = level["counts"][k]
                    cells.append(f"{c['count']} ({half_up(c['percent'], 0)} %)"
                                 if c["percent"] is not None else f"{c['count']}")
                lines.append({"what": level["label"], "cells": cells})
            rows.append({"label": row["label"], "kind": "categorical", "test": test_text,
                         "missing": row["missing"][keys[0]], "lines": lines})
    return {"columns": [f"{c['label']} (n = {c['n']})" for c in table["columns"]],
            "rows": rows}


def _flag_rows(counts: dict, rules: RuleSet, n: int) -> list[dict]:
    rows = []
    for rule in rules.risk_rules:
        c = counts.get(rule.rule_id, {"fired": 0, "not_fired": 0, "not_assessed": n})
        assessed = c["fired"] + c["not_fired"]
        rows.append({"id": rule.rule_id, "label": rule.label, "condition": rule.condition,
                     "fired": c["fired"], "not_fired": c["not_fired"],
                     "not_assessed": c["not_assessed"],
                     "percent": f"{half_up(100 * c['fired'] / assessed)} %" if assessed else "—"})
    return rows


def _dose_bands(bands: dict) -> list[dict]:
    return [{"label": b["label"], "n": b["n"],
             "normal": b["classification_counts"]["normal"],
             "low": b["classification_counts"]["low_bone_mass"],
             "osteo": b["classification_counts"]["osteoporosis"],
             "low_or_worse": f"{b['low_bone_mass_or_worse']['count']} "
                             f"({half_up(b['low_bone_mass_or_worse']['percent'], 0)} %)"
             if b["low_bone_mass_or_worse"]["percent"] is not None else "—"}
            for b in bands["bands"]]


def _association(a: dict) -> dict:
    statistic = "—" if a["statistic"] is None else f"{a['statistic']:.2f}"
    return {"label": a["label"], "test": a["test"], "statistic_name": a["statistic_name"],
            "statistic": statistic, "p": _p(a["p_value"]), "n": a["n"],
            "sentence": a["sentence"], "table": a.get("table")}


def _listing_row(row: dict) -> list[str]:
    cells = []
    for key, _ in LISTING_COLUMNS:
        value = row.get(key)
        if key == "classification":
            cells.append(_STATUS.get(str(value), "—"))
        elif key == "fracture":
            cells.append("yes" if value else "no")
        elif key == "smoking":
            cells.append(str(value).replace("_", " ") if value else "—")
        elif key == "patient_id":
            cells.append(str(value))
        else:
            cells.append(format_number(value))
    return cells


def _charts(data: dict, rules: RuleSet) -> dict[str, str]:
    osteo, normal = rules.yam_osteoporosis_max_pct, rules.yam_normal_min_pct
    dose_rule = rules.risk_rule("mgso4_high_cumulative_dose")
    days_rule = rules.risk_rule("mgso4_long_term")
    return {
        "dose_vs_yam": data_uri(charts.plot_dose_vs_yam(
            data["dose"], data["yam"], data["fracture"], dose_threshold_g=float(
                dose_rule.threshold), osteoporosis_max_pct=osteo, normal_min_pct=normal)),
        "days_vs_yam": data_uri(charts.plot_days_vs_yam(
            data["days"], data["yam"], data["fracture"],
            long_term_days=float(days_rule.threshold), osteoporosis_max_pct=osteo,
            normal_min_pct=normal)),
        "status": data_uri(charts.plot_status_counts(data["counts"])),
    }
