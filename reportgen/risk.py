"""Risk flags, data-quality flags, page-1 statements and recommendations: pure functions."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, cast

from reportgen import formatting as fmt
from reportgen import i18n
from reportgen.cells import day_of
from reportgen.classify import ISCD_BELOW
from reportgen.fractures import Fractures, dxa_region, read_fractures
from reportgen.i18n import N_, _
from reportgen.models import (
    CHOICE_WORDS,
    BoneStatus,
    Finding,
    FlagState,
    QualityFlag,
    Recommendation,
    RuleResult,
    Statement,
    optional_float,
)
from reportgen.rules import RiskRule, RuleSet

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "!=": operator.ne,
}
_NEGATED = {">": "≤", ">=": "<", "<": "≥", "<=": ">", "!=": "="}
_SHOWN = {">=": "≥", "<=": "≤", "!=": "≠"}
_DESCRIPTION = {  # translated at use: _(_DESCRIPTION[input])
    "mgso4_days": N_("MgSO4 tocolysis"),
    "mgso4_total_g": N_("cumulative MgSO4"),
    "bmi_kg_m2": "BMI",
    "vitamin_d_ng_ml": N_("serum 25(OH)D"),
    "bed_rest_days": N_("bed rest"),
    "smoking": N_("smoking"),
    "family_history": N_("family history"),
    "breastfeeding": N_("breastfeeding"),
    "glucocorticoid": N_("systemic glucocorticoid therapy"),
    "heparin": N_("heparin"),
}
_SMOKING = (N_("never"), N_("before pregnancy"), N_("during pregnancy"))  # values, as shown
_LAB_FLAGS = (N_("low"), N_("high"))
# How each input's value is printed (clinical-rules §6): one formatter per kind of value.
_FORMAT: dict[str, Callable[[float], str]] = {
    "bmi_kg_m2": fmt.bmi,
    "mgso4_total_g": fmt.grams,
    "vitamin_d_ng_ml": fmt.trimmed,
}
_SECONDARY_WORDS = {
    "heparin": N_("heparin"),
    "glucocorticoid": N_("systemic glucocorticoid therapy"),
    "prolonged_bed_rest": N_("prolonged bed rest"),
}


def fires(rule: RiskRule, value):
    if rule.operator == "is_true":
        return value == True  # noqa: E712 (works for scalars and boolean Series alike)
    return _OPERATORS[rule.operator](value, rule.threshold)


def evaluate_rule(rule: RiskRule, record: Mapping[str, object]) -> RuleResult:
    """Apply one risk rule; a missing input is NOT_ASSESSED ("not recorded"), never absent."""
    value = record.get(rule.input)
    what = _(_DESCRIPTION[rule.input]) if rule.input in _DESCRIPTION else rule.input
    unit = fmt.unit_suffix(rule.unit)
    if value is None:
        state, comparison = FlagState.NOT_ASSESSED, fmt.yes_no(None)
        text = _("{what}: {value}").format(what=what, value=comparison)
    elif rule.operator == "is_true":
        state = FlagState.PRESENT if value else FlagState.ABSENT
        comparison = fmt.yes_no(value)
        text = _("{what}: {value}").format(what=what, value=comparison)
    else:
        present = fires(rule, value)
        state = FlagState.PRESENT if present else FlagState.ABSENT
        op = _SHOWN.get(rule.operator, rule.operator) if present else _NEGATED[rule.operator]
        if isinstance(value, str):
            comparison = _(value.replace("_", " "))
            text = _("{what}: {value}").format(what=what, value=comparison)
        else:
            shown, limit = fmt.distinct(
                cast(float, value), rule.number, _FORMAT.get(rule.input, fmt.number)
            )
            comparison = f"{shown}{unit} {op} {limit}{unit}"
            text = f"{what} {comparison}"
    subject = (
        what
        if value is not None and not isinstance(value, bool | str)
        else _("{what}:").format(what=what)
    )
    return RuleResult(
        rule.rule_id,
        rule.text("label"),
        state,
        text,
        rule.condition,
        rule.text("evidence"),
        rule.text("caveat"),
        subject,
        comparison,
    )


def evaluate_rules(record: Mapping[str, object], rules: RuleSet) -> list[RuleResult]:
    return [evaluate_rule(rule, record) for rule in rules.risk_rules]


def secondary_causes(results: list[RuleResult], rules: RuleSet) -> list[str]:
    """The rule ids among ``secondary_causes.rules`` that are present, in rule-file order."""
    present = {r.rule_id for r in results if r.state is FlagState.PRESENT}
    return [rule_id for rule_id in rules.secondary_cause_rules if rule_id in present]


def patient_facts(
    record: Mapping[str, object],
    fractures: Fractures,
    iscd: str | None,
    status: BoneStatus | None = None,
    labs: list | None = None,
    exposure: Mapping | None = None,
    significant_decrease: bool = False,
) -> frozenset[str]:
    """The facts recommendations may depend on (``rules.FACTS``)."""
    facts = set()
    if status is BoneStatus.NOT_MEASURED:
        facts.add("not_measured")
        if fractures.kind in ("vertebral", "proximal_femur"):  # JOS 2012 I-1: no BMD needed
            facts.add("fracture_not_measured")
    latest = latest_labs(labs or [])
    if "serum_ca" in latest and latest["serum_ca"].flag == "high":
        facts.add("calcium_high")
    if significant_decrease:
        facts.add("significant_decrease")
    if under_20(record):
        facts.add("under_20")
    if exposure and exposure.get("current_rate_g_per_h"):
        facts.add("infusing")
    if record.get("back_pain") is True and record.get("fracture") is not True:
        facts.add("back_pain_no_fracture")
    if any(result.flag != "normal" for result in labs or ()):
        facts.add("abnormal_labs")
    if fractures.fragility:
        facts.add("fragility_fracture")
    if iscd == ISCD_BELOW:
        facts.add("iscd_below")
    feeding = record.get("breastfeeding")
    if feeding is True:
        facts.add("breastfeeding")  # (the rule file's conditions stay the specification's)
        if weaned_before_scan(record):
            facts.add("weaned")  # ... and its variants say she has stopped
    elif feeding is None:
        facts.add("breastfeeding_not_recorded")
    if record.get("pregnancy_planned") is True:
        facts.add("pregnancy_planned")
    if feeding is None or record.get("pregnancy_planned") is None:
        facts.add("plans_not_recorded")
    if record.get("follow_up_date") is not None and not follow_up_before_delivery(record):
        facts.add("follow_up_booked")
    dxa, delivery = record.get("dxa_date"), record.get("delivery_date")
    if (
        isinstance(dxa, date | datetime)
        and isinstance(delivery, date | datetime)
        and day_of(dxa) < day_of(delivery)
    ):
        facts.add("scan_in_pregnancy")
    return frozenset(facts)


ADULT_AGE_YEARS = 20  # ISCD paediatric positions: ages 5–19 (T-scores not used)


def under_20(record: Mapping[str, object]) -> bool:
    age = record.get("age_years")
    return isinstance(age, int | float) and age < ADULT_AGE_YEARS


def latest_labs(labs: list) -> dict[str, Any]:
    """The latest result of each test (``labs`` is sorted by date, main-row values last)."""
    return {result.test: result for result in labs}


def weaned_before_scan(record: Mapping[str, object]) -> bool:
    """A weaning date on or before the DXA (the latest scan in a follow-up): she is no longer
    breastfeeding, so no weaning advice (a report a year after weaning once advised it)."""
    weaned, scanned = record.get("weaning_date"), record.get("dxa_date")
    if not isinstance(weaned, date | datetime) or not isinstance(scanned, date | datetime):
        return False
    return day_of(weaned) <= day_of(scanned)


def recommend(
    status: BoneStatus,
    results: list[RuleResult],
    rules: RuleSet,
    facts: frozenset[str] = frozenset(),
) -> list[Recommendation]:
    """Recommendations whose condition holds for this patient, in rule-file order."""
    present = {r.rule_id for r in results if r.state is FlagState.PRESENT}
    chosen = []
    for rec in rules.recommendations:
        applies = (
            status.value in rec.statuses
            or any(f in present for f in rec.flags)
            or any(f in facts for f in rec.facts)
        )
        if rec.requires_flag and rec.requires_flag not in present:
            applies = False
        if not all(f in facts for f in rec.requires):
            applies = False
        if applies:
            text = next(
                (i18n.pick(texts, t) for when, t, texts in rec.variants_i18n if when in facts),
                rec.localized_text,
            )
            chosen.append(Recommendation(rec.rec_id, text))
    return chosen


def quality_flags(
    record: Mapping[str, object], rules: RuleSet, fractures: Fractures | None = None
) -> list[QualityFlag]:
    """Data-quality observations (clinical-rules §3); ``warning`` ones change how the result
    reads and stand on page 1."""
    if fractures is None:
        fractures = read_fractures(record.get("fracture"), record.get("fracture_sites"))
    flags = []
    days, grams, hospital = (
        cast("float | None", record.get(k))
        for k in ("mgso4_days", "mgso4_total_g", "hospital_days")
    )
    if days is not None and grams is not None:
        limit = rules.mgso4_max_g_per_day * days + rules.mgso4_loading_allowance_g
        if grams > limit:
            flags.append(
                QualityFlag(
                    "implausible_dose_rate",
                    _(
                        "cumulative MgSO4 {grams} g exceeds {limit} g ({per_day} g/day × "
                        "{days} days + {loading} g loading): check the record"
                    ).format(
                        grams=fmt.grams(grams),
                        limit=fmt.grams(limit),
                        per_day=fmt.number(rules.mgso4_max_g_per_day),
                        days=days,
                        loading=fmt.number(rules.mgso4_loading_allowance_g),
                    ),
                )
            )
    if days is not None and hospital is not None and days > hospital:
        flags.append(
            QualityFlag(
                "mgso4_days_exceed_hospital_days",
                _("MgSO4 days ({days}) exceed hospital days ({hospital})").format(
                    days=days, hospital=hospital
                ),
                "info",
            )
        )
    flags += _fracture_flags(record, fractures)
    flags += _scan_timing(record.get("dxa_date"), record.get("delivery_date"))
    flags += _date_order_flags(record)
    flags += _feeding_flags(record)
    return flags


_BREAST = {"breast": True, "mixed": True, "formula": False}


def _feeding_flags(record: Mapping[str, object]) -> list[QualityFlag]:
    """Breastfeeding drives the weaning and bisphosphonate advice: a feeding plan that says
    otherwise is a warning (a clinical read found "breast" beside breastfeeding = no)."""
    plan, feeding = record.get("feeding_plan"), record.get("breastfeeding")
    if not isinstance(plan, str) or plan not in _BREAST or feeding is None:
        return []
    if _BREAST[plan] == feeding:
        return []
    return [
        QualityFlag(
            "feeding_disagrees",
            _(
                "feeding plan ({plan}) and breastfeeding ({feeding}) disagree: check which is "
                "current (it decides the weaning and bisphosphonate advice)"
            ).format(plan=_(CHOICE_WORDS[plan]), feeding=fmt.yes_no(bool(feeding))),
        )
    ]


def _date_order_flags(record: Mapping[str, object]) -> list[QualityFlag]:
    """Dates that contradict the delivery (a helper found each accepted silently): tocolysis
    recorded after it raised both MgSO4 flags, and a follow-up "booked" before it was the
    only DXA plan."""
    delivery = record.get("delivery_date")
    flags = []
    if isinstance(delivery, date | datetime):
        end = record.get("_mgso4_end")
        if isinstance(end, date | datetime) and day_of(end) > day_of(delivery):
            flags.append(
                QualityFlag(
                    "mgso4_after_delivery",
                    _(
                        "MgSO4 infusion recorded until {end}, after the delivery ({delivery}): "
                        "tocolysis ends at delivery — check the infusion dates"
                    ).format(
                        end=fmt.date_text(day_of(end)), delivery=fmt.date_text(day_of(delivery))
                    ),
                )
            )
        if follow_up_before_delivery(record):
            flags.append(
                QualityFlag(
                    "follow_up_before_delivery",
                    _(
                        "follow-up visit {visit} is before the delivery ({delivery}): check the "
                        "date; no postpartum visit is booked"
                    ).format(
                        visit=fmt.date_text(day_of(cast(date, record["follow_up_date"]))),
                        delivery=fmt.date_text(day_of(delivery)),
                    ),
                )
            )
    start, birth = _weeks(record.get("ga_mgso4_start")), _weeks(record.get("ga_delivery"))
    if start is not None and birth is not None and start > birth:
        flags.append(
            QualityFlag(
                "ga_mgso4_after_delivery",
                _(
                    "gestational age at MgSO4 start ({start}) is after the gestational age at "
                    "delivery ({birth}): check both"
                ).format(start=record["ga_mgso4_start"], birth=record["ga_delivery"]),
            )
        )
    return flags


def follow_up_before_delivery(record: Mapping[str, object]) -> bool:
    visit, delivery = record.get("follow_up_date"), record.get("delivery_date")
    return (
        isinstance(visit, date | datetime)
        and isinstance(delivery, date | datetime)
        and day_of(visit) < day_of(delivery)
    )


def _weeks(text: object) -> int | None:
    """``23+4`` (as validated) in days, else None."""
    if not isinstance(text, str) or "+" not in text:
        return None
    weeks, days = text.split("+", 1)
    return int(weeks) * 7 + int(days)


def _fracture_flags(record: Mapping[str, object], fractures: Fractures) -> list[QualityFlag]:
    flags = []
    sites = record.get("fracture_sites")
    if record.get("fracture") is False and sites:
        flags.append(
            QualityFlag(
                "fracture_sites_without_fracture",
                _(
                    "fracture sites recorded ({sites}) but fracture = no: check "
                    "the record (the class assumes no fracture)"
                ).format(sites=sites),
            )
        )
    for site in fractures.not_jos:
        where = re.sub(
            r"\s*stress fracture\s*$", " (stress fracture)", site.text, flags=re.IGNORECASE
        )
        flags.append(
            QualityFlag(
                "fracture_site_not_jos",
                _(
                    "fracture at {site}: not among the JOS fragility sites — "
                    "review (the class follows the BMD)"
                ).format(site=where),
            )
        )
    if fractures.assumed_vertebral:
        flags.append(
            QualityFlag(
                "fracture_site_assumed",
                _(
                    "fracture recorded without a site: assumed vertebral (the "
                    "seed's convention) — record the site"
                ),
                "info",
            )
        )
    # no DXA yet: no scan region for a fracture to lie in
    region = (
        dxa_region(record.get("dxa_site")) if record.get("yam_percent") is not None else frozenset()
    )
    inside = sorted(fractures.vertebrae & region, key=lambda v: int(v[1:]))
    region_text = f"{min(region, key=_level)}–{max(region, key=_level)}" if region else ""
    if inside:
        flags.append(
            QualityFlag(
                "fracture_in_dxa_region",
                _(
                    "fractured vertebra {vertebrae} inside the DXA region ({region}): fractures "
                    "raise spine BMD, so the YAM may overstate bone mass; exclude the vertebra and "
                    "re-analyse (ISCD)"
                ).format(vertebrae=fmt.listing(inside), region=region_text),
            )
        )
    elif fractures.lumbar_level_unknown and region:
        flags.append(
            QualityFlag(
                "fracture_in_dxa_region",
                _(
                    "lumbar fracture at an unrecorded level may lie inside the DXA region "
                    "({region}): fractures raise spine BMD; record the level (ISCD)"
                ).format(region=region_text),
            )
        )
    return flags


def _level(vertebra: str) -> int:
    return int(vertebra[1:])


def _scan_timing(dxa: object, delivery: object) -> list[QualityFlag]:
    if not isinstance(dxa, date | datetime) or not isinstance(delivery, date | datetime):
        return []
    days = (day_of(dxa) - day_of(delivery)).days
    if days < 0:
        return [
            QualityFlag(
                "dxa_before_delivery",
                _(
                    "DXA {days} days before delivery: a scan in pregnancy, not a postpartum scan"
                ).format(days=-days),
            )
        ]
    return [
        QualityFlag(
            "dxa_days_postpartum", _("DXA {days} days after delivery").format(days=days), "info"
        )
    ]


def page1_statements(
    record: Mapping[str, object],
    finding: Finding,
    fractures: Fractures,
    iscd: str | None,
    secondary: list[str],
    results: list[RuleResult],
    quality: list[QualityFlag],
    rules: RuleSet,
    labs: list | None = None,
) -> list[Statement]:
    """What changes how the result reads, in reading order: fractures first, then back pain,
    the ISCD verdict, secondary contributors, discordant readings, abnormal labs and the
    data-quality warnings."""
    out = []
    if fractures.fragility:
        sites = fractures.describe(("vertebral", "proximal_femur", "other_fragility"))
        text = _("Fragility fracture recorded: {sites}").format(sites=sites)
        if fractures.assumed_vertebral:
            text = _(
                "Fragility fracture recorded without a site: assumed vertebral (the "
                "seed's convention)"
            )
        if finding.status is BoneStatus.NOT_MEASURED:
            if fractures.kind in ("vertebral", "proximal_femur"):
                text += _(
                    "; by JOS 2012 such a fracture alone meets the criteria for "
                    "osteoporosis — refer now, and measure the BMD"
                )
            else:
                text += _("; refer to a bone specialist, and measure the BMD")
        elif not finding.by_fracture:
            text += _(
                "; by {criteria} it does not decide the class ({status} by BMD), but it "
                "needs a bone specialist's review"
            ).format(criteria=_criteria_name(finding.criteria), status=finding.status.label.lower())
        out.append(Statement("fracture", text + fmt.full_stop()))
    if record.get("back_pain") is True and record.get("fracture") is not True:
        out.append(
            Statement(
                "back_pain",
                _(
                    "New back pain recorded and no fracture: image the spine (MRI, or radiographs "
                    "after delivery) before calling it a strained back — after long MgSO4 "
                    "tocolysis this is how PLO presents."
                ),
            )
        )
    if under_20(record) and finding.status is not BoneStatus.NOT_MEASURED:
        out.append(
            Statement(
                "under_20",
                _(
                    "Under 20: she may not have reached peak bone mass, and %YAM and the "
                    "T-score compare her with young adults. The ISCD paediatric positions use "
                    "the Z-score and call no one osteoporotic on densitometry alone without a "
                    "fracture: read the class with care and decide weaning and treatment with a "
                    "bone specialist."
                ),
            )
        )
    if iscd == ISCD_BELOW:
        z = fmt.score(cast("float | None", record.get("z_score")))
        out.append(
            Statement(
                "iscd_below",
                _(
                    "Z-score {z}: below the expected range for age (ISCD) — work up secondary "
                    "causes and repeat the DXA, whatever the JOS class."
                ).format(z=z),
            )
        )
    if secondary:
        words = [_secondary_text(rule_id, results) for rule_id in secondary]
        text = _("Possible secondary contributors recorded: {causes}.").format(
            causes=fmt.listing(words)
        )
        if "glucocorticoid" in secondary and finding.status is not BoneStatus.NORMAL:
            text += " " + _(
                "With systemic glucocorticoid therapy consider glucocorticoid-induced "
                "osteoporosis first (JSBMR 2014 guideline: prednisolone ≥ 7.5 mg/day scores "
                "for treatment whatever the BMD); PLO only once it is excluded."
            )  # a clinical read found a patient on prednisolone 15 mg/day headed plain PLO
        out.append(
            Statement(
                "secondary_causes",
                text,
                "warning" if finding.status is not BoneStatus.NORMAL else "info",
            )
        )
    if finding.discordance:
        text = finding.discordance[0].upper() + finding.discordance[1:]
        yam = optional_float(record.get("yam_percent"))
        if yam is not None and yam >= rules.yam_normal_min_pct:  # normal by YAM, T ≤ −2.5
            text += _(
                " — two classes apart, more than one reference database allows: check that "
                "both come from the same reference before the diagnosis"
            )  # (a transcription slip or a second reference; a clinical read found it unsaid)
            out.append(Statement("yam_t_discordance", text + fmt.full_stop()))
        else:
            out.append(Statement("yam_t_discordance", text + fmt.full_stop(), "info"))
    abnormal = _abnormal_labs(labs or [], rules.threshold("vitamin_d_deficiency"))
    if abnormal:
        out.append(
            Statement(
                "abnormal_labs",
                _("Lab values outside the reference interval: {labs}.").format(labs=abnormal),
            )
        )
    calcium = latest_labs(labs or []).get("serum_ca")
    if calcium is not None and calcium.flag == "high":
        out.append(
            Statement(
                "calcium_high",
                _(
                    "Serum calcium is high: do not start calcium supplements; check intact PTH "
                    "and renal function first (primary hyperparathyroidism is a secondary cause "
                    "of bone loss)."
                ),
            )
        )
    out += [
        Statement(q.flag_id, q.message[0].upper() + q.message[1:] + fmt.full_stop(), q.severity)
        for q in quality
        if q.severity == "warning"
    ]
    return out


def _abnormal_labs(labs: list, deficiency_ng_ml: float) -> str:
    """The latest abnormal value of each test: ``corrected calcium 8.2 mg/dL (low; 8.8–10.1)``.
    A 25(OH)D below its interval but not below the deficiency threshold reads "insufficient"
    (JES 2017: 20–29 ng/mL), so page 1 never calls "low" what the risk table calls absent."""
    from reportgen.labs import LAB_TESTS, interval_text

    latest = latest_labs(labs)
    parts = []
    for result in latest.values():
        if result.flag == "normal" or result.test == "albumin":  # albumin: read through the
            continue  # corrected calcium
        test = LAB_TESTS[result.test]
        label = _(test.label)
        label = label if label[1:2].isupper() else label[0].lower() + label[1:]
        name = _("corrected calcium") if result.corrected_value is not None else label
        value = result.corrected_value if result.corrected_value is not None else result.value
        interval = interval_text(result.low, result.high)
        parts.append(
            _("{name} {value} {unit} ({flag}; {interval})").format(
                name=name,
                value=fmt.number(value),
                unit=test.unit,
                flag=_("insufficient")
                if result.test == "vitamin_d" and result.flag == "low" and value >= deficiency_ng_ml
                else _(result.flag),
                interval=interval,
            )
        )
    return _("; ").join(parts)


def _secondary_text(rule_id: str, results: list[RuleResult]) -> str:
    word = (
        _(_SECONDARY_WORDS[rule_id]) if rule_id in _SECONDARY_WORDS else rule_id.replace("_", " ")
    )
    result = next((r for r in results if r.rule_id == rule_id), None)
    if rule_id == "prolonged_bed_rest" and result is not None:
        return _("{cause} ({days} days)").format(cause=word, days=result.comparison.split(" ")[0])
    return word


def _criteria_name(criteria: str) -> str:
    return {"jos2012": "JOS 2012", "jos2000": "JOS 2000"}.get(criteria, criteria)


__all__ = [
    "evaluate_rule",
    "evaluate_rules",
    "page1_statements",
    "patient_facts",
    "quality_flags",
    "recommend",
    "secondary_causes",
]
