"""The rule set described as data: what ``reportgen rules`` prints (``--json``: as is)."""

from __future__ import annotations

from reportgen.rules import RuleSet


def _osteoporosis_text(rules: RuleSet) -> str:
    normal, osteo = rules.yam_normal_min_pct, rules.yam_osteoporosis_max_pct
    if rules.criteria == "jos2000":
        return (
            f"any JOS fragility fracture (vertebral included) and YAM < {normal:g} %; "
            f"or YAM < {osteo:g} %"
        )
    return (
        f"vertebral or proximal-femur fragility fracture (whatever the BMD); or other JOS "
        f"fragility fracture (rib, pelvis, proximal humerus, distal radius, lower leg) and "
        f"YAM < {normal:g} %; or YAM ≤ {osteo:g} % or T-score ≤ "
        f"{rules.t_osteoporosis_max:g}"
    )


FRACTURE_VOCABULARY = {
    "vertebral": "any vertebra (T7, Th12, L1-L2, T12–L1, vertebra, 第2腰椎, 胸椎, 腰椎, 椎体)",
    "proximal_femur": "hip, femoral neck, proximal femur, 大腿骨近位, 大腿骨頸部",
    "other_fragility": "rib (肋骨), pelvis incl. sacrum (骨盤), proximal humerus (上腕骨近位), "
    "distal radius (橈骨遠位), lower leg: tibia, fibula (下腿)",
    "not_jos": "anything else (calcaneus, metatarsal, any stress fracture): never vertebral; "
    "the class follows the BMD and page 1 asks for a review",
    "no_site": "fracture = yes without a site: assumed vertebral (the seed's convention), said so",
}


def describe_rules(rules: RuleSet) -> dict:
    """The rule set as data (for ``reportgen rules --json``)."""
    return {
        "name": rules.name,
        "version": rules.version,
        "criteria": rules.criteria,
        "specification": rules.data.get("specification", ""),
        "digest": rules.digest,
        "bone_status": {
            "osteoporosis": _osteoporosis_text(rules),
            "low_bone_mass": f"YAM < {rules.yam_normal_min_pct:g} %",
            "normal": f"YAM ≥ {rules.yam_normal_min_pct:g} %",
            "yam_osteoporosis_max_pct": rules.yam_osteoporosis_max_pct,
            "yam_normal_min_pct": rules.yam_normal_min_pct,
            "t_score_osteoporosis_max": rules.t_osteoporosis_max,
            "fracture_sites": FRACTURE_VOCABULARY,
            "evidence": rules.bone_evidence,
        },
        "iscd": {
            "z_below_expected_max": rules.z_below_expected_max,
            "below": "Z ≤ limit: below the expected range for age; triggers "
            "secondary_cause_workup and dxa_follow_up whatever the JOS class",
            "evidence": rules.iscd_evidence,
        },
        "secondary_causes": list(rules.secondary_cause_rules),
        "risk_rules": [
            {
                "id": r.rule_id,
                "label": r.label,
                "condition": r.condition,
                "input": r.input,
                "operator": r.operator,
                "threshold": r.threshold,
                "unit": r.unit,
                "evidence": r.evidence,
                "caveat": r.caveat,
            }
            for r in rules.risk_rules
        ],
        "data_quality": {
            "mgso4_max_g_per_day": rules.mgso4_max_g_per_day,
            "mgso4_loading_allowance_g": rules.mgso4_loading_allowance_g,
            "checks": [
                f"implausible_dose_rate: mgso4_total_g > {rules.mgso4_max_g_per_day:g} g/day × "
                f"mgso4_days + {rules.mgso4_loading_allowance_g:g} g",
                "mgso4_days_exceed_hospital_days: mgso4_days > hospital_days",
                "fracture_in_dxa_region (warning): a fractured vertebra inside the DXA region "
                "(ranges and Japanese notation read: L1-L2 inside L1-L4)",
                "fracture_site_not_jos (warning): a fracture site outside the JOS fragility "
                "sites (never called vertebral; the class follows the BMD)",
                "fracture_site_assumed: fracture = yes without a site (assumed vertebral)",
                "fracture_sites_without_fracture (warning): sites given with fracture = no",
                "dxa_before_delivery (warning) / dxa_days_postpartum: dxa_date against "
                "delivery_date",
            ],
        },
        "recommendations": [
            {
                "id": r.rec_id,
                "text": r.text,
                "statuses": list(r.statuses),
                "flags": list(r.flags),
                "facts": list(r.facts),
                "requires": list(r.requires),
                "requires_flag": r.requires_flag,
                "variants": [{"when": w, "text": t} for w, t in r.variants],
            }
            for r in rules.recommendations
        ],
    }
