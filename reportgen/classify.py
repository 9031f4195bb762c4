"""Bone status by the Japanese criteria and the ISCD Z-score statement: pure functions."""

from __future__ import annotations

from reportgen import formatting as fmt
from reportgen.fractures import (
    NOT_JOS,
    OTHER_FRAGILITY,
    PROXIMAL_FEMUR,
    VERTEBRAL,
    Fractures,
    read_fractures,
)
from reportgen.i18n import N_, _
from reportgen.models import BoneStatus, Finding
from reportgen.rules import RuleSet

ISCD_BELOW = "below_expected_range_for_age"
ISCD_WITHIN = "within_expected_range_for_age"
ISCD_TEXT = {
    ISCD_BELOW: N_("below the expected range for age"),
    ISCD_WITHIN: N_("within the expected range for age"),
}  # shown as _(ISCD_TEXT[k])
ARM_I1 = (VERTEBRAL, PROXIMAL_FEMUR)


def classify_bone_status(
    yam_pct: float | None,
    fracture: bool,
    rules: RuleSet,
    fracture_sites: str | None = None,
    *,
    t_score: float | None = None,
    fractures: Fractures | None = None,
) -> Finding:
    """The JOS criteria in order (clinical-rules §1): fracture arms, then YAM or T-score.

    Without a YAM (no DXA yet) the status is NOT_MEASURED, whatever else is recorded: a
    bone status is never printed without a measurement (contract §5, v2)."""
    if yam_pct is None:
        return Finding(
            BoneStatus.NOT_MEASURED, _("no DXA result recorded yet"), rules.criteria, decided_by=""
        )
    if fractures is None:
        fractures = read_fractures(bool(fracture), fracture_sites)
    criteria = rules.criteria
    osteo, normal = rules.yam_osteoporosis_max_pct, rules.yam_normal_min_pct
    yam_class = _yam_class(yam_pct, rules)
    t_class = _t_class(t_score, rules)
    yam_text = _yam_comparison(yam_pct, yam_class, rules)
    kind = fractures.kind
    arm = "JOS 2012" if criteria == "jos2012" else "JOS 2000"

    if criteria == "jos2012" and kind in ARM_I1:
        sites = (
            _("no site recorded, assumed vertebral (the seed's convention)")
            if fractures.assumed_vertebral
            else fractures.describe(ARM_I1)
        )
        met = [yam_text] if yam_class is BoneStatus.OSTEOPOROSIS else []
        if criteria == "jos2012" and t_score is not None and t_class is not None:
            met.append(_t_comparison(t_score, rules))
        also = _("; {both} as well (JOS 2012 II)").format(both=_(" and ").join(met)) if met else ""
        return Finding(
            BoneStatus.OSTEOPOROSIS,
            _(
                "fragility fracture, {sites}: osteoporosis whatever the BMD ({arm} I-1){also}"
            ).format(sites=sites, arm=arm, also=also),
            criteria,
            by_fracture=True,
            decided_by="fracture",
        )
    if kind in (*ARM_I1, OTHER_FRAGILITY) and yam_pct < normal:
        sites = fractures.describe((*ARM_I1, OTHER_FRAGILITY))
        label = "I-2" if criteria == "jos2012" else _("fracture arm")
        return Finding(
            BoneStatus.OSTEOPOROSIS,
            _("fragility fracture, {sites}, and {yam} ({arm} {arm_label})").format(
                sites=sites, yam=yam_text, arm=arm, arm_label=label
            ),
            criteria,
            by_fracture=True,
            decided_by="fracture",
        )
    discordance = _discordance(yam_pct, t_score, yam_class, t_class, rules)
    if criteria == "jos2012":
        by_yam = yam_class is BoneStatus.OSTEOPOROSIS
        by_t = t_class is BoneStatus.OSTEOPOROSIS
        if by_yam or by_t:
            t_text = _t_comparison(t_score, rules) if by_t and t_score is not None else ""
            if by_yam and by_t:
                reason, decided = (
                    _("{yam} and {t} ({arm} II)").format(yam=yam_text, t=t_text, arm=arm),
                    "yam_and_t_score",
                )
            elif by_yam:
                reason, decided = f"{yam_text} ({arm} II)", "yam"
            else:
                reason, decided = (
                    _("{t} ({arm} II: YAM ≤ {yam_limit} % or T-score ≤ {t_limit})").format(
                        t=t_text,
                        arm=arm,
                        yam_limit=fmt.trimmed(osteo),
                        t_limit=fmt.score(rules.t_osteoporosis_max),
                    ),
                    "t_score",
                )
            return Finding(
                BoneStatus.OSTEOPOROSIS,
                reason,
                criteria,
                decided_by=decided,
                discordance=discordance,
            )
    elif yam_class is BoneStatus.OSTEOPOROSIS:
        return Finding(BoneStatus.OSTEOPOROSIS, yam_text, criteria, discordance=discordance)
    return Finding(yam_class, yam_text, criteria, discordance=discordance)


def _yam_class(yam: float, rules: RuleSet) -> BoneStatus:
    osteo, normal = rules.yam_osteoporosis_max_pct, rules.yam_normal_min_pct
    # 2012 revision: "YAM 70 % 以下" (≤); 2000 revision: "70 % 未満" (<).
    if (yam <= osteo) if rules.criteria == "jos2012" else (yam < osteo):
        return BoneStatus.OSTEOPOROSIS
    return BoneStatus.LOW_BONE_MASS if yam < normal else BoneStatus.NORMAL


def _t_class(t_score: float | None, rules: RuleSet) -> BoneStatus | None:
    """OSTEOPOROSIS when the T-score meets JOS 2012 II (≤ −2.5), else None. The T-score
    never gives any other class: no WHO T-score label for premenopausal women (ISCD)."""
    if t_score is None or t_score > rules.t_osteoporosis_max:
        return None
    return BoneStatus.OSTEOPOROSIS


def _yam_comparison(yam: float, status: BoneStatus, rules: RuleSet) -> str:
    osteo, normal = rules.yam_osteoporosis_max_pct, rules.yam_normal_min_pct
    if status is BoneStatus.OSTEOPOROSIS:
        op, limit = ("≤" if rules.criteria == "jos2012" else "<"), osteo
    elif status is BoneStatus.LOW_BONE_MASS:
        op, limit = "<", normal
    else:
        op, limit = "≥", normal
    shown, threshold = fmt.distinct(yam, limit, fmt.percent)
    return f"YAM {shown} % {op} {threshold} %"


def _t_comparison(t_score: float, rules: RuleSet) -> str:
    limit = rules.t_osteoporosis_max
    shown, threshold = fmt.distinct(t_score, limit, fmt.score)
    op = "≤" if t_score <= limit else ">"
    return _("T-score {value} {op} {limit}").format(value=shown, op=op, limit=threshold)


def _discordance(
    yam: float,
    t_score: float | None,
    yam_class: BoneStatus,
    t_class: BoneStatus | None,
    rules: RuleSet,
) -> str:
    """Both readings, when one of YAM and T-score meets the osteoporosis criterion (JOS 2012
    II) and the other does not."""
    if t_score is None or (yam_class is BoneStatus.OSTEOPOROSIS) == (t_class is not None):
        return ""
    limit = fmt.score(rules.t_osteoporosis_max)
    if t_class is not None:
        return _(
            "YAM {yam} % alone reads {yam_class}; T-score {t} meets the osteoporosis "
            "criterion (≤ {limit})"
        ).format(
            yam=fmt.percent(yam),
            yam_class=yam_class.label.lower(),
            t=fmt.score(t_score),
            limit=limit,
        )
    return _(
        "YAM {yam} % meets the osteoporosis criterion; T-score {t} does not (> {limit})"
    ).format(yam=fmt.percent(yam), t=fmt.score(t_score), limit=limit)


def iscd_statement(z_score: float | None, rules: RuleSet) -> str | None:
    """ISCD wording for premenopausal women from the Z-score; None without one."""
    if z_score is None:
        return None
    return ISCD_BELOW if z_score <= rules.z_below_expected_max else ISCD_WITHIN


__all__ = [
    "ISCD_BELOW",
    "ISCD_TEXT",
    "ISCD_WITHIN",
    "NOT_JOS",
    "classify_bone_status",
    "iscd_statement",
]
