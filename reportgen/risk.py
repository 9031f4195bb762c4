"""Risk flags, data-quality flags and recommendations: pure functions over one record or a frame."""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from datetime import date, datetime

import numpy as np
import pandas as pd

from reportgen.classify import UNRECOGNISED, fracture_site_kind
from reportgen.models import BoneStatus, FlagState, QualityFlag, Recommendation, RuleResult
from reportgen.rules import RiskRule, RuleSet, format_number

_OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
              "!=": operator.ne}
_NEGATED = {">": "≤", ">=": "<", "<": "≥", "<=": ">", "!=": "="}
_SHOWN = {">=": "≥", "<=": "≤", "!=": "≠"}
_DESCRIPTION = {
    "mgso4_days": "MgSO4 tocolysis", "mgso4_total_g": "cumulative MgSO4", "bmi_kg_m2": "BMI",
    "vitamin_d_ng_ml": "serum 25(OH)D", "bed_rest_days": "bed rest", "smoking": "smoking",
    "family_history": "family history", "breastfeeding": "breastfeeding",
    "glucocorticoid": "glucocorticoid exposure", "heparin": "heparin exposure",
}
_LUMBAR = {"l1", "l2", "l3", "l4"}
_DASH_TO_HYPHEN = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-", "~": "-",
                                 "\uff5e": "-"})


def _fires(rule: RiskRule, value):
    if rule.operator == "is_true":
        return value == True  # noqa: E712 (works for scalars and boolean Series alike)
    return _OPERATORS[rule.operator](value, rule.threshold)


def evaluate_rule(rule: RiskRule, record: Mapping[str, object]) -> RuleResult:
    """Apply one risk rule; a missing input gives NOT_ASSESSED, never 'absent'."""
    value = record.get(rule.input)
    what = _DESCRIPTION.get(rule.input, rule.input)
    unit = f" {rule.unit}" if rule.unit else ""
    if value is None:
        state, comparison = FlagState.NOT_ASSESSED, "not recorded"
        text = f"not assessed: no {what} recorded"
    elif rule.operator == "is_true":
        state = FlagState.FIRED if value else FlagState.NOT_FIRED
        comparison = "yes" if value else "no"
        text = f"{what}: {comparison}"
    else:
        fired = _fires(rule, value)
        state = FlagState.FIRED if fired else FlagState.NOT_FIRED
        op = _SHOWN.get(rule.operator, rule.operator) if fired else _NEGATED[rule.operator]
        if isinstance(value, str):
            comparison = value.replace("_", " ") + (f" ({op} {rule.threshold})" if fired else "")
            text = f"{what}: {comparison}"
        else:
            comparison = (f"{format_number(value)}{unit} {op} "
                          f"{format_number(rule.threshold)}{unit}")
            text = f"{what} {comparison}"
    subject = what if value is not None and not isinstance(value, bool | str) else f"{what}:"
    return RuleResult(rule.rule_id, rule.label, state, text, rule.condition, rule.evidence,
                      rule.caveat, subject, comparison)


def evaluate_rules(record: Mapping[str, object], rules: RuleSet) -> list[RuleResult]:
    return [evaluate_rule(rule, record) for rule in rules.risk_rules]


def evaluate_rules_frame(frame: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """Vectorised :func:`evaluate_rules`: one ``flag_<id>`` column of FlagState values."""
    out = pd.DataFrame(index=frame.index)
    for rule in rules.risk_rules:
        if rule.input not in frame.columns:
            out[f"flag_{rule.rule_id}"] = FlagState.NOT_ASSESSED.value
            continue
        column = frame[rule.input]
        missing = column.isna().to_numpy()
        fired = pd.Series(_fires(rule, column)).fillna(False).to_numpy(dtype=bool)
        out[f"flag_{rule.rule_id}"] = np.where(
            missing, FlagState.NOT_ASSESSED.value,
            np.where(fired, FlagState.FIRED.value, FlagState.NOT_FIRED.value))
    return out


def recommend(status: BoneStatus, results: list[RuleResult],
              rules: RuleSet) -> list[Recommendation]:
    """Recommendations whose status or flag condition holds, in rule-file order."""
    states = {r.rule_id: r.state for r in results}
    chosen = []
    for rec in rules.recommendations:
        applies = status.value in rec.statuses or any(
            states.get(f) is FlagState.FIRED for f in rec.flags)
        if applies and rec.requires_flag:
            applies = states.get(rec.requires_flag) in (FlagState.FIRED, FlagState.NOT_ASSESSED)
        if applies:
            chosen.append(Recommendation(rec.rec_id, rec.text))
    return chosen


def quality_flags(record: Mapping[str, object], rules: RuleSet) -> list[QualityFlag]:
    """Data-quality observations (clinical-rules §3): shown in reports, never risk."""
    flags = []
    days, grams = record.get("mgso4_days"), record.get("mgso4_total_g")
    if days is not None and grams is not None:
        limit = rules.mgso4_max_g_per_day * days + rules.mgso4_loading_allowance_g
        if grams > limit:
            flags.append(QualityFlag(
                "implausible_dose_rate",
                f"cumulative MgSO4 {format_number(grams)} g exceeds {format_number(limit)} g "
                f"({format_number(rules.mgso4_max_g_per_day)} g/day × {days} days + "
                f"{format_number(rules.mgso4_loading_allowance_g)} g loading): check the record"))
    hospital = record.get("hospital_days")
    if days is not None and hospital is not None and days > hospital:
        flags.append(QualityFlag("mgso4_days_exceed_hospital_days",
                                 f"MgSO4 days ({days}) exceed hospital days ({hospital})"))
    sites = record.get("fracture_sites")
    if record.get("fracture") and sites:
        if fracture_site_kind(str(sites)) == UNRECOGNISED:
            flags.append(QualityFlag("fracture_site_unrecognised",
                                     "fracture site not recognised; treated as vertebral "
                                     "(contract default)"))
        fractured = {re.sub(r"\s+", "", s).lower() for s in re.split(r"[;,/、]+", str(sites))}
        if fractured & _dxa_vertebrae(record.get("dxa_site")):
            flags.append(QualityFlag(
                "fracture_in_dxa_region",
                "a fractured lumbar vertebra lies inside the DXA region: fractures raise spine "
                "BMD and should be excluded from the analysis (ISCD)"))
    flags += _scan_timing(record.get("dxa_date"), record.get("delivery_date"))
    return flags


def _dxa_vertebrae(dxa_site: object) -> set[str]:
    """Lumbar vertebrae inside the DXA region: ``L1-L4`` (the default), ``L2–L4``, ``L3``;
    none for a hip or forearm scan."""
    text = re.sub(r"\s+", "", str(dxa_site or "L1-L4")).lower().translate(_DASH_TO_HYPHEN)
    span = re.search(r"l([1-5])(?:-l?([1-5]))?", text)
    if span:
        first, last = int(span[1]), int(span[2] or span[1])
        return {f"l{i}" for i in range(min(first, last), max(first, last) + 1)}
    return set(_LUMBAR) if re.search(r"lumbar|spine|腰椎", text) else set()


def _scan_timing(dxa: object, delivery: object) -> list[QualityFlag]:
    if not isinstance(dxa, date | datetime) or not isinstance(delivery, date | datetime):
        return []
    days = (_day(dxa) - _day(delivery)).days
    if days < 0:
        return [QualityFlag("dxa_before_delivery",
                            f"DXA {-days} days before delivery: not a postpartum scan")]
    return [QualityFlag("dxa_days_postpartum", f"DXA {days} days after delivery", "info")]


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value

