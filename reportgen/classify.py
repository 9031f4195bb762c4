"""Bone status by the Japanese criteria and the ISCD Z-score statement: pure functions."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from reportgen.models import BoneStatus, Finding
from reportgen.rules import RuleSet, format_number

VERTEBRAL_OR_HIP = "vertebral_or_hip"
OTHER_SITE = "other"
UNRECOGNISED = "unrecognised"

# JOS 2012 arm I-1 sites (vertebra, proximal femur) and arm I-2 sites (Soen 2013).
_VERTEBRA = re.compile(r"^(c|t|th|l|s)\s*\d{1,2}$|vertebra|spine|spinal|lumbar|thoracic|"
                       r"\bhip\b|femoral neck|proximal femur|femur|椎|大腿骨")
_OTHER = re.compile(r"rib|pelvi|pubi|ischi|sacr|humer|radius|radial|wrist|tibia|fibula|"
                    r"lower leg|ankle|肋骨|骨盤|上腕|橈骨|下腿")
ISCD_BELOW = "below_expected_range_for_age"
ISCD_WITHIN = "within_expected_range_for_age"
ISCD_TEXT = {ISCD_BELOW: "below the expected range for age",
             ISCD_WITHIN: "within the expected range for age"}


def fracture_site_kind(sites: str | None) -> str:
    """Which JOS fracture arm the listed sites belong to; none listed means vertebral."""
    if sites is None or not str(sites).strip():
        return VERTEBRAL_OR_HIP  # contract: fracture = yes means vertebral unless sites say else
    parts = [p.strip().lower() for p in re.split(r"[;,/、]+", str(sites)) if p.strip()]
    if any(_VERTEBRA.search(p) for p in parts):
        return VERTEBRAL_OR_HIP
    if any(_OTHER.search(p) for p in parts):
        return OTHER_SITE
    return UNRECOGNISED


def classify_bone_status(yam_pct: float, fracture: bool, rules: RuleSet,
                         fracture_sites: str | None = None) -> Finding:
    """JOS criteria in order: fracture arms first, then the YAM bands (``rules.criteria``)."""
    osteo, normal = rules.yam_osteoporosis_max_pct, rules.yam_normal_min_pct
    criteria = rules.criteria
    kind = fracture_site_kind(fracture_sites) if fracture else None
    yam = format_number(yam_pct)
    if fracture and criteria == "jos2012" and kind in (VERTEBRAL_OR_HIP, UNRECOGNISED):
        where = fracture_sites or "vertebral"
        also = (f"; YAM {yam} % is also ≤ {format_number(osteo)} %"
                if _osteoporotic_yam(yam_pct, osteo, criteria) else "")
        return Finding(BoneStatus.OSTEOPOROSIS,
                       f"vertebral/hip fragility fracture ({where}): osteoporosis whatever the "
                       f"BMD{also}", criteria, by_fracture=True)
    if fracture and yam_pct < normal:
        return Finding(BoneStatus.OSTEOPOROSIS,
                       f"fragility fracture ({fracture_sites or 'site not given'}) and "
                       f"YAM {yam} % < {format_number(normal)} %", criteria, by_fracture=True)
    if _osteoporotic_yam(yam_pct, osteo, criteria):
        op = "≤" if criteria == "jos2012" else "<"
        return Finding(BoneStatus.OSTEOPOROSIS, f"YAM {yam} % {op} {format_number(osteo)} %",
                       criteria)
    if yam_pct < normal:
        return Finding(BoneStatus.LOW_BONE_MASS, f"YAM {yam} % < {format_number(normal)} %",
                       criteria)
    return Finding(BoneStatus.NORMAL, f"YAM {yam} % ≥ {format_number(normal)} %", criteria)


def _osteoporotic_yam(yam, osteo: float, criteria: str):
    # 2012 revision: "YAM 70 % 以下" (≤); 2000 revision: "70 % 未満" (<).
    return yam <= osteo if criteria == "jos2012" else yam < osteo


def classify_frame(frame: pd.DataFrame, rules: RuleSet) -> pd.Series:
    """Vectorised :func:`classify_bone_status`; returns the status values as strings."""
    yam = frame["yam_percent"].astype(float).to_numpy()
    fracture = frame["fracture"].fillna(False).astype(bool).to_numpy()
    sites = frame["fracture_sites"] if "fracture_sites" in frame else None
    if sites is None:
        kinds = np.full(len(frame), VERTEBRAL_OR_HIP, dtype=object)
    else:
        kinds = np.array([fracture_site_kind(s if isinstance(s, str) else None)
                          if f else "" for s, f in zip(sites, fracture, strict=True)],
                         dtype=object)
    osteo, normal = rules.yam_osteoporosis_max_pct, rules.yam_normal_min_pct
    by_site = fracture & (rules.criteria == "jos2012") & (kinds != OTHER_SITE)
    conditions = [by_site, fracture & (yam < normal), _osteoporotic_yam(yam, osteo, rules.criteria),
                  yam < normal]
    choices = ["osteoporosis", "osteoporosis", "osteoporosis", "low_bone_mass"]
    return pd.Series(np.select(conditions, choices, default="normal"), index=frame.index)


def iscd_statement(z_score: float | None, rules: RuleSet) -> str | None:
    """ISCD wording for premenopausal women from the Z-score; None without one."""
    if z_score is None:
        return None
    return ISCD_BELOW if z_score <= rules.z_below_expected_max else ISCD_WITHIN
