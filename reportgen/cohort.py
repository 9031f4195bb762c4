"""Cohort outputs: assess every valid row at once, summarise, and render JSON/CSV/HTML/PDF."""

from __future__ import annotations

import io
import re

import pandas as pd

from reportgen import __version__
from reportgen.assess import assess_frame, records_from_frame
from reportgen.errors import Problem
from reportgen.output import dump_json
from reportgen.records import PreparedTable
from reportgen.risk import quality_counts
from reportgen.rules import RuleSet
from reportgen.schema import IDENTIFYING_COLUMNS
from reportgen.summary import summarise_cohort

CSV_COLUMNS = ("patient_id", "age_years", "bmi_kg_m2", "gravida", "para", "smoking",
               "hospital_days", "mgso4_days", "mgso4_total_g", "yam_percent", "fracture",
               "fracture_sites", "classification")
_QUOTED_VALUE = re.compile(r": '.*'$|: \".*\"$")


def make_cohort_outputs(table: PreparedTable, rules: RuleSet, *, formats, deidentify: bool,
                        max_listing: int, template_dir, settings_path, generated_at: str,
                        source_name: str) -> dict[str, bytes]:
    """``{file name: bytes}`` for the summary in ``formats`` plus ``cohort-cases.csv``."""
    frame = table.valid_frame
    if deidentify:
        frame = _deidentify(frame)
    assessed = assess_frame(frame, rules)
    dose_rule = rules.risk_rule("mgso4_high_cumulative_dose")
    stats = summarise_cohort(assessed, dose_threshold_g=float(dose_rule.threshold),
                             yam_low_pct=rules.yam_normal_min_pct)
    excluded = [_excluded(p, deidentify) for p in table.errors]
    quality = quality_counts(assessed, rules)
    summary = {
        "schema_version": "1",
        "kind": "cohort",
        "source": {"file": source_name, "rows_read": int(len(table.frame)),
                   "rows_analysed": int(len(frame))},
        "rules_name": rules.name,
        "rules_version": rules.version,
        "criteria": rules.criteria,
        "deidentified": deidentify,
        **stats,
        "excluded": excluded,
        "data_quality": quality,
        "tool_version": __version__,
        "generated_at": generated_at,
    }
    json_bytes = dump_json(summary)
    outputs: dict[str, bytes] = {"cohort-cases.csv": _cases_csv(assessed, rules)}
    if "json" in formats:
        outputs["cohort-summary.json"] = json_bytes
    if {"html", "pdf"} & set(formats):
        from reportgen.cohort_context import cohort_context
        from reportgen.reports import ReportRenderer

        renderer = ReportRenderer(template_dir, settings_path)
        listing = records_from_frame(assessed.head(max_listing))
        report = cohort_context(
            stats, listing, rules, renderer.settings, generated_at=generated_at,
            tool_version=__version__, source=source_name, max_listing=max_listing,
            excluded=excluded, quality=quality, deidentified=deidentify,
            chart_data=_chart_data(assessed, stats))
        report["listing_total"] = len(assessed)
        report["listing_capped"] = len(assessed) > max_listing
        html, pdf = renderer.document("cohort.html", report, json_bytes=json_bytes,
                                      generated_at=generated_at,
                                      identifier=f"cohort:{source_name}:{generated_at}")
        if "html" in formats:
            outputs["cohort-summary.html"] = html.encode("utf-8")
        if "pdf" in formats:
            outputs["cohort-summary.pdf"] = pdf
    return outputs


def _deidentify(frame: pd.DataFrame) -> pd.DataFrame:
    """No names, no notes, ids replaced by sequence numbers (input order)."""
    frame = frame.drop(columns=[c for c in IDENTIFYING_COLUMNS if c in frame.columns])
    frame.insert(0, "patient_id", [str(i) for i in range(1, len(frame) + 1)])
    return frame.drop(columns=[c for c in ("_row",) if c in frame.columns])


def _excluded(problem: Problem, deidentify: bool) -> dict:
    message = _QUOTED_VALUE.sub("", problem.message) if deidentify else problem.message
    return {"row": problem.row, "column": problem.column, "message": message}


def _cases_csv(assessed: pd.DataFrame, rules: RuleSet) -> bytes:
    columns = [c for c in CSV_COLUMNS if c in assessed.columns]
    out = assessed[columns].copy()
    flag_columns = [f"flag_{r.rule_id}" for r in rules.risk_rules]
    fired = assessed[flag_columns].eq("fired")
    out["risk_flags"] = fired.apply(
        lambda row: ";".join(c[5:] for c, v in row.items() if v), axis=1) if len(out) else ""
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


def _chart_data(assessed: pd.DataFrame, stats: dict) -> dict:
    def floats(column: str) -> list[float]:
        if column not in assessed:
            return []
        return assessed[column].astype("float64").tolist()

    return {"dose": floats("mgso4_total_g"), "yam": floats("yam_percent"),
            "days": floats("mgso4_days"),
            "fracture": assessed["fracture"].fillna(False).astype(bool).tolist(),
            "counts": stats["classification_counts"]}
