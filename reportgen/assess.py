"""One patient's record -> the assessment and its contract JSON (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import cast

from reportgen import formatting as fmt
from reportgen.classify import ISCD_TEXT, classify_bone_status, iscd_statement
from reportgen.exposure import exposure_so_far, stored_infusions
from reportgen.followup import FollowUp, assess_scans, follow_up_json
from reportgen.fractures import read_fractures
from reportgen.i18n import N_, _
from reportgen.labs import Interval, lab_results
from reportgen.models import Assessment, BoneStatus, FlagState, RuleResult, optional_float
from reportgen.risk import (
    evaluate_rules,
    page1_statements,
    patient_facts,
    quality_flags,
    recommend,
    secondary_causes,
)
from reportgen.rules import RuleSet
from reportgen.scans import Scan
from reportgen.settings import DxaSettings

JSON_SCHEMA_VERSION = "2"
PLO_NOTE = N_(
    "Postpartum osteoporosis is reported as pregnancy- and lactation-associated "
    "osteoporosis (PLO); secondary causes (heparin, glucocorticoids, immobilisation, "
    "endocrine disease) must be excluded before it is called primary."
)


def assess_record(
    record: dict[str, object],
    rules: RuleSet,
    dxa: DxaSettings | None = None,
    *,
    lab_intervals: Mapping[str, Interval] | None = None,
) -> Assessment:
    """Classify, flag and recommend for one validated record (with its ``_scans``, if any:
    the status is then the latest scan's, see :mod:`reportgen.followup`)."""
    follow_up = _follow_up(record, rules, dxa)
    if follow_up is not None:
        record = follow_up.record
    fractures = read_fractures(record.get("fracture"), record.get("fracture_sites"))
    yam = record.get("yam_percent")
    finding = classify_bone_status(
        optional_float(yam),
        bool(record["fracture"]),
        rules,
        t_score=optional_float(record.get("t_score")),
        fractures=fractures,
    )
    iscd = iscd_statement(optional_float(record.get("z_score")), rules)
    results = evaluate_rules(record, rules)
    quality = quality_flags(record, rules, fractures) + list(follow_up.quality if follow_up else ())
    secondary = secondary_causes(results, rules)
    labs = lab_results(record, lab_intervals)
    exposure = _exposure(record, rules)
    if exposure and exposure["projected_threshold_date"]:
        results = [
            _so_far(r, exposure) if r.rule_id == "mgso4_high_cumulative_dose" else r
            for r in results
        ]
    if exposure and exposure["current_rate_g_per_h"]:
        results = [
            _days_so_far(r, exposure, rules) if r.rule_id == "mgso4_long_term" else r
            for r in results
        ]
    decrease = follow_up is not None and follow_up.latest_decrease
    facts = patient_facts(record, fractures, iscd, finding.status, labs, exposure, decrease)
    derived = [d for d in str(record.get("_derived") or "").split(",") if d]
    return Assessment(
        patient=record,
        finding=finding,
        iscd_statement=iscd,
        rule_results=results,
        quality_flags=quality,
        recommendations=recommend(finding.status, results, rules, facts),
        derived=derived,
        secondary_causes=secondary,
        statements=page1_statements(
            record, finding, fractures, iscd, secondary, results, quality, rules, labs
        ),
        fractures=fractures,
        labs=labs,
        exposure=exposure,
        follow_up=follow_up,
    )


def _so_far(result: RuleResult, exposure: dict) -> RuleResult:
    """Still infusing: the dose is "so far", and the day it passes the threshold is said."""
    addition = _(" so far; passes {threshold} g on {day} at the current rate").format(
        threshold=fmt.grams(exposure["threshold_g"]),
        day=fmt.date_text(date.fromisoformat(exposure["projected_threshold_date"])),
    )
    return replace(
        result, explanation=result.explanation + addition, comparison=result.comparison + addition
    )


def _days_so_far(result: RuleResult, exposure: dict, rules: RuleSet) -> RuleResult:
    """Still infusing and not yet long-term: "absent" is a snapshot, so the report says when
    it becomes long-term if the infusion goes on (calendar days, as they are counted)."""
    if result.state is not FlagState.ABSENT:
        return result
    threshold = int(rules.threshold("mgso4_long_term"))  # > threshold days is long-term
    as_of = datetime.fromisoformat(exposure["as_of"]).date()
    passes = as_of + timedelta(days=threshold + 1 - int(exposure["days"]))
    addition = _(" so far; more than {threshold} days on {day} if the infusion goes on").format(
        threshold=threshold, day=fmt.date_text(passes)
    )
    return replace(
        result, explanation=result.explanation + addition, comparison=result.comparison + addition
    )


def _exposure(record: Mapping[str, object], rules: RuleSet) -> dict | None:
    """Exposure so far, with ``--as-of`` and an infusion record (contract §5)."""
    infusions, as_of = record.get("_infusions"), record.get("_as_of")
    if not infusions or not as_of:
        return None
    threshold = rules.threshold("mgso4_high_cumulative_dose")
    return exposure_so_far(stored_infusions(record), datetime.fromisoformat(str(as_of)), threshold)


def _follow_up(
    record: dict[str, object], rules: RuleSet, dxa: DxaSettings | None
) -> FollowUp | None:
    scans = cast("list[Scan] | None", record.get("_scans"))
    if not scans:
        return None
    return assess_scans(record, list(scans), rules, dxa or DxaSettings())


def assessment_json(
    assessment: Assessment,
    rules: RuleSet,
    *,
    tool_version: str,
    generated_at: str,
    source_name: str,
) -> dict[str, object]:
    """The per-patient JSON of the contract (§3), plus the explanation of every decision."""
    record = assessment.patient
    finding = assessment.finding
    follow_up = assessment.follow_up
    given = follow_up.original if follow_up is not None else record
    is_plo = finding.status is BoneStatus.OSTEOPOROSIS
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "patient_id": record["patient_id"],
        "classification": finding.status.value,
        "classification_label": finding.status.label,
        "plo": is_plo,
        "classification_reason": finding.reason,
        "classification_decided_by": finding.decided_by,
        "yam_t_score_discordance": finding.discordance or None,
        "criteria": finding.criteria,
        "plo_note": _(PLO_NOTE) if is_plo else None,
        "iscd_statement": assessment.iscd_statement,
        "iscd_text": (
            _(ISCD_TEXT[assessment.iscd_statement])
            if assessment.iscd_statement in ISCD_TEXT
            else None
        ),
        "risk_flags": assessment.present,
        "not_assessed": assessment.not_assessed,
        "secondary_causes": assessment.secondary_causes,
        "page1_statements": [
            {"id": s.statement_id, "text": s.text, "severity": s.severity}
            for s in assessment.statements
        ],
        "recommendations": [r.rec_id for r in assessment.recommendations],
        "rules_name": rules.name,
        "rules_version": rules.version,
        "bmi_kg_m2": record.get("bmi_kg_m2"),
        "mgso4_days": record.get("mgso4_days"),
        "mgso4_total_g": record.get("mgso4_total_g"),
        "yam_percent": record.get("yam_percent"),
        "labs": [lab.as_dict() for lab in assessment.labs],
        "exposure": assessment.exposure,
        "fractures": [
            {"site": f.text, "kind": f.kind, "vertebrae": list(f.vertebrae)}
            for f in assessment.fractures.sites
        ],
        "fracture_site_assumed": assessment.fractures.assumed_vertebral,
        "derived": assessment.derived,
        "rule_results": [
            {
                "id": r.rule_id,
                "label": r.label,
                "state": r.state.value,
                "explanation": r.explanation,
                "condition": r.condition,
                "evidence": r.evidence,
                "caveat": r.caveat,
            }
            for r in assessment.rule_results
        ],
        "recommendation_texts": [
            {"id": r.rec_id, "text": r.text} for r in assessment.recommendations
        ],
        "data_quality": [
            {"id": q.flag_id, "message": q.message, "severity": q.severity}
            for q in assessment.quality_flags
        ],
        "input": {k: _json_value(v) for k, v in given.items() if not k.startswith("_")},
        "infusions": [
            {"start": a, "end": b, "rate_g_per_h": r}
            for a, b, r in cast("Iterable[tuple]", record.get("_infusions") or ())
        ]
        or None,
        "source": {"file": source_name, "row": record.get("_row")},
        "tool_version": tool_version,
        "generated_at": generated_at,
        **(follow_up_json(follow_up) if follow_up is not None else {}),
    }


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
