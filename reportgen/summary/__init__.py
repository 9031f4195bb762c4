"""Cohort statistics: class counts, descriptives, Table 1, dose bands and dose–YAM associations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from reportgen.dose_bands import DEFAULT_DOSE_BAND_EDGES_G
from reportgen.i18n import _
from reportgen.rules import RuleSet
from reportgen.rules.seed import HIGH_DOSE_RULE, shipped_rules
from reportgen.summary.dose import (
    association_cautions,
    compute_associations,
    count_dose_bands,
    sorted_band_edges,
)
from reportgen.summary.table1 import NUMERIC_LABELS, build_table_one
from reportgen.summary.values import CLASSES, SMALL_N, _describe, _numeric, _pct, _text

__all__ = ["CLASSES", "SMALL_N", "summarise_cohort"]


def summarise_cohort(
    df: pd.DataFrame,
    rules: RuleSet | None = None,
    *,
    dose_threshold_g: float | None = None,
    dose_band_edges_g: Sequence[float] = DEFAULT_DOSE_BAND_EDGES_G,
    yam_low_pct: float | None = None,
) -> dict:
    """Summarise a classified cohort as a JSON-ready dict (no NaN: missing results are None).

    Groups: "normal" is ``classification == "normal"``; "low_bone_mass_or_worse" is
    ``low_bone_mass`` or ``osteoporosis``; rows without a known class count in Overall only.

    :param rules: the rule set in force (default: the shipped one): its risk-rule ids, its
        cumulative-dose threshold and its YAM limit of normal.
    :param dose_threshold_g: instead of the rule set's cumulative-dose threshold.
    :param yam_low_pct: instead of the rule set's YAM limit of normal.
    """
    rules = shipped_rules() if rules is None else rules
    thr = float(rules.threshold(HIGH_DOSE_RULE) if dose_threshold_g is None else dose_threshold_g)
    if yam_low_pct is None:
        yam_low_pct = rules.yam_normal_min_pct
    edges = sorted_band_edges(dose_band_edges_g, thr)
    n = len(df)
    cls = _class_codes(df)
    normal, low = cls == 0, (cls == 1) | (cls == 2)
    class_counts = {c: int(np.count_nonzero(cls == i)) for i, c in enumerate(CLASSES)}
    low_count = class_counts["low_bone_mass"] + class_counts["osteoporosis"]
    not_measured = (
        int(df["classification"].astype(str).eq("not_measured").sum())
        if "classification" in df.columns
        else 0
    )
    measured = n - not_measured

    numeric = {c: _numeric(df[c]) for c in NUMERIC_LABELS if c in df.columns}
    overall = {c: _describe(v) for c, v in numeric.items()}
    table1 = build_table_one(df, numeric, overall, normal, low, yam_low_pct)
    associations = compute_associations(numeric, thr, yam_low_pct)
    cautions = list(table1["cautions"]) + association_cautions(n, thr, associations)
    if not_measured:
        cautions.insert(
            0,
            _(
                "{n} patient(s) without a DXA result yet (not measured) are "
                "counted apart: they are in no bone-status count and in no YAM "
                "statistic; percentages of bone status are of the {measured} "
                "measured."
            ).format(n=not_measured, measured=measured),
        )
    return {
        "n": n,
        "classification_counts": class_counts,
        "not_measured": not_measured,
        "measured": measured,
        "unclassified": n - sum(class_counts.values()) - not_measured,
        "low_bone_mass_or_worse": {"count": low_count, "percent": _pct(low_count, measured)},
        "means": {c: d["mean"] for c, d in overall.items()},
        "sd": {c: d["sd"] for c, d in overall.items()},
        "medians": {c: d["median"] for c, d in overall.items()},
        "ranges": {c: {"min": d["min"], "max": d["max"]} for c, d in overall.items()},
        "missing": {c: d["missing"] for c, d in overall.items()},
        "risk_flag_counts": _flag_counts(df, rules.rule_ids),
        "low_yam_group": _low_yam_group(numeric, low),
        "dose_bands": count_dose_bands(numeric.get("mgso4_total_g"), n, cls, edges, thr),
        "associations": associations,
        "table1": table1,
        "cautions": cautions,
        "parameters": {
            "dose_threshold_g": thr,
            "dose_band_edges_g": edges,
            "yam_low_pct": float(yam_low_pct),
        },
    }


def _class_codes(df: pd.DataFrame) -> np.ndarray:
    """0 normal, 1 low bone mass, 2 osteoporosis, -1 missing or unknown."""
    if "classification" not in df.columns:
        return np.full(len(df), -1, dtype=np.int64)
    text = _text(df["classification"])
    text = text.where(text.isin(CLASSES))  # not_measured and unknown values are -1
    codes = pd.Categorical(text, categories=list(CLASSES)).codes
    return np.asarray(codes, dtype=np.int64)


def _flag_counts(df: pd.DataFrame, rule_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per rule: present / absent / not_assessed; a missing column or value is not_assessed."""
    extra = sorted(
        c[5:]
        for c in df.columns
        if isinstance(c, str) and c.startswith("flag_") and c[5:] not in rule_ids
    )
    out = {}
    for rule in (*rule_ids, *extra):
        column = f"flag_{rule}"
        if column not in df.columns:
            out[rule] = {"present": 0, "absent": 0, "not_assessed": len(df)}
            continue
        text = _text(df[column])
        present = int(text.eq("present").sum())
        absent = int(text.eq("absent").sum())
        out[rule] = {
            "present": present,
            "absent": absent,
            "not_assessed": len(df) - present - absent,
        }
    return out


def _low_yam_group(numeric: dict[str, np.ndarray], low: np.ndarray) -> dict[str, Any]:
    described = {c: _describe(v[low]) for c, v in numeric.items()}
    return {
        "definition": "classification is low_bone_mass or osteoporosis",
        "n": int(np.count_nonzero(low)),
        "means": {c: d["mean"] for c, d in described.items()},
        "missing": {c: d["missing"] for c, d in described.items()},
    }
