"""The cohort's assessment over a typed frame, vectorised: the same answers as
:func:`reportgen.assess.assess_record` row by row (tested against each other). The only
pandas in the rules; one patient's report never loads it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reportgen.classify import ARM_I1
from reportgen.fractures import OTHER_FRAGILITY, VERTEBRAL, read_fractures
from reportgen.models import FlagState
from reportgen.risk import fires
from reportgen.rules import RuleSet


def assess_frame(frame: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """Vectorised assessment of a cohort: ``classification`` and ``flag_<id>`` columns,
    the same answers as :func:`assess_record` row by row (tested against each other)."""
    out = frame.copy()
    out["classification"] = classify_frame(frame, rules)
    flags = evaluate_rules_frame(frame, rules)
    for column in flags.columns:
        out[column] = flags[column]
    return out


def classify_frame(frame: pd.DataFrame, rules: RuleSet) -> pd.Series:
    """Vectorised :func:`classify_bone_status`; returns the status values as strings."""
    yam = frame["yam_percent"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    t_score = (
        frame["t_score"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        if "t_score" in frame
        else np.full(len(frame), np.nan)
    )
    kinds = fracture_kinds(frame)
    osteo, normal = rules.yam_osteoporosis_max_pct, rules.yam_normal_min_pct
    jos2012 = rules.criteria == "jos2012"
    arm_i1 = np.isin(kinds, ARM_I1)
    fragility = arm_i1 | (kinds == OTHER_FRAGILITY)
    by_yam = yam <= osteo if jos2012 else yam < osteo
    by_t = (t_score <= rules.t_osteoporosis_max) if jos2012 else np.zeros(len(frame), bool)
    conditions = [
        np.isnan(yam),
        arm_i1 & jos2012,
        fragility & (yam < normal),
        by_yam | by_t,
        yam < normal,
    ]
    choices = ["not_measured", "osteoporosis", "osteoporosis", "osteoporosis", "low_bone_mass"]
    return pd.Series(np.select(conditions, choices, default="normal"), index=frame.index)


def fracture_kinds(frame: pd.DataFrame) -> np.ndarray:
    """Per row the decisive fracture kind (``""`` without a fracture), each distinct
    ``fracture_sites`` text read once."""
    fracture = frame["fracture"].fillna(False).astype(bool).to_numpy()
    if "fracture_sites" not in frame:
        return np.where(fracture, VERTEBRAL, "").astype(object)
    sites = frame["fracture_sites"].to_numpy(dtype=object)
    codes, uniques = pd.factorize(sites, use_na_sentinel=True)
    unique_kinds = np.array(
        [read_fractures(True, s if isinstance(s, str) else None).kind for s in uniques]
        + [VERTEBRAL],
        dtype=object,
    )
    kinds = unique_kinds[codes]  # code -1 (no site) takes the last entry: assumed vertebral
    return np.where(fracture, kinds, "").astype(object)


def evaluate_rules_frame(frame: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """Vectorised :func:`evaluate_rules`: one ``flag_<id>`` column of FlagState values."""
    out = pd.DataFrame(index=frame.index)
    for rule in rules.risk_rules:
        if rule.input not in frame.columns:
            out[f"flag_{rule.rule_id}"] = FlagState.NOT_ASSESSED.value
            continue
        column = frame[rule.input]
        missing = column.isna().to_numpy()
        present = pd.Series(fires(rule, column)).fillna(False).to_numpy(dtype=bool)
        out[f"flag_{rule.rule_id}"] = np.where(
            missing,
            FlagState.NOT_ASSESSED.value,
            np.where(present, FlagState.PRESENT.value, FlagState.ABSENT.value),
        )
    return out
