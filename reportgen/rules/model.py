"""The rule set's model: frozen dataclasses for the risk rules, recommendations and thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, overload

from reportgen import formatting as fmt
from reportgen import i18n

CRITERIA = ("jos2012", "jos2000")
TRANSLATED = ("ja",)  # languages whose texts the rule file may give: label_ja, text_ja ...
OPERATORS = (">", ">=", "<", "<=", "!=", "is_true")
# Facts about a patient a recommendation may depend on (computed in risk.patient_facts).
FACTS = {
    "fragility_fracture": "a JOS fragility fracture is recorded (or assumed vertebral)",
    "iscd_below": "Z-score at or below the ISCD limit (below the expected range for age)",
    "breastfeeding": "breastfeeding = yes",
    "breastfeeding_not_recorded": "breastfeeding not recorded",
    "pregnancy_planned": "another pregnancy planned = yes",
    "plans_not_recorded": "breastfeeding or another pregnancy not recorded",
    "follow_up_booked": "a follow-up date is recorded",
    "scan_in_pregnancy": "the DXA is dated before delivery",
    "not_measured": "no DXA result yet (yam_percent blank)",
    "infusing": "MgSO4 still infusing at --as-of",
    "back_pain_no_fracture": "back_pain = yes and no fracture recorded",
    "abnormal_labs": "any lab value outside its reference interval",
    "calcium_high": "the latest serum calcium (corrected where given) is above its interval",
    "fracture_not_measured": "a vertebral or proximal-femur fracture recorded and no DXA yet",
    "weaned": "breastfeeding = yes, but a weaning date on or before the DXA is recorded",
    "significant_decrease": "the latest scan of a site is a decrease beyond the LSC",
    "under_20": "age under 20: peak bone mass may not be reached (ISCD paediatric positions)",
}


@dataclass(frozen=True)
class RiskRule:
    """One risk flag: ``input operator threshold`` with its evidence."""

    rule_id: str
    label: str
    input: str
    operator: str
    threshold: float | str | None
    unit: str
    evidence: str
    caveat: str | None
    # per-language texts of the rule file: (("label_ja", "..."), ("evidence_ja", "..."), ...)
    translations: tuple[tuple[str, str], ...] = ()

    @overload
    def text(self, field: Literal["label", "evidence"]) -> str: ...
    @overload
    def text(self, field: Literal["caveat"]) -> str | None: ...
    def text(self, field: str) -> str | None:
        """``label``, ``evidence`` or ``caveat`` in the report language (English without one)."""
        english = getattr(self, field)
        if english is None:
            return None
        return i18n.pick(
            {
                key.rsplit("_", 1)[1]: value
                for key, value in self.translations
                if key.startswith(field + "_")
            },
            english,
        )

    @property
    def number(self) -> float:
        """The threshold of a numeric rule (``mgso4_high_cumulative_dose``: 1000.0)."""
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
            raise TypeError(f"risk rule {self.rule_id!r} has no numeric threshold")
        return float(self.threshold)

    @property
    def condition(self) -> str:
        """Human-readable condition, e.g. ``mgso4_total_g > 1,000 g``."""
        if self.operator == "is_true":
            return f"{self.input} = {fmt.yes_no(True)}"
        if isinstance(self.threshold, str):
            return f"{self.input} {_op_text(self.operator)} {i18n._(self.threshold)}"
        unit = fmt.unit_suffix(self.unit) if self.unit else " "  # 8 days / 8日
        return f"{self.input} {_op_text(self.operator)} {fmt.number(self.threshold)}{unit}"


@dataclass(frozen=True)
class RecommendationRule:
    """Given when the bone status is one of ``statuses``, or a flag of ``flags`` is present,
    or a fact of ``facts`` holds; and only if every fact of ``requires`` holds. The text is
    the first of ``variants`` whose fact holds, else ``text``."""

    rec_id: str
    text: str
    statuses: tuple[str, ...]
    flags: tuple[str, ...]
    requires_flag: str | None
    facts: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    variants: tuple[tuple[str, str], ...] = ()  # (fact, text)
    texts: tuple[tuple[str, str], ...] = ()  # (("ja", "..."),): ``text`` in other languages
    variant_texts: tuple[tuple[tuple[str, str], ...], ...] = ()  # per variant, like ``texts``

    @property
    def localized_text(self) -> str:
        """``text`` in the report language (English without a translation)."""
        return i18n.pick(dict(self.texts), self.text)

    @property
    def variants_i18n(self) -> tuple[tuple[str, str, dict[str, str]], ...]:
        """(fact, English text, {language: text}) per variant."""
        texts = self.variant_texts or ((),) * len(self.variants)
        return tuple(
            (when, text, dict(other))
            for (when, text), other in zip(self.variants, texts, strict=True)
        )


@dataclass(frozen=True)
class RuleSet:
    """The validated rule set in force; ``data`` is the merged document."""

    name: str
    version: str
    criteria: str
    yam_osteoporosis_max_pct: float
    yam_normal_min_pct: float
    t_osteoporosis_max: float
    z_below_expected_max: float
    bone_evidence: str
    iscd_evidence: str
    mgso4_max_g_per_day: float
    mgso4_loading_allowance_g: float
    risk_rules: tuple[RiskRule, ...]
    recommendations: tuple[RecommendationRule, ...]
    secondary_cause_rules: tuple[str, ...]
    data: dict[str, Any]
    digest: str
    translations_digest: str = ""
    bone_evidence_texts: tuple[tuple[str, str], ...] = ()
    iscd_evidence_texts: tuple[tuple[str, str], ...] = ()

    def bone_evidence_text(self) -> str:
        return i18n.pick(dict(self.bone_evidence_texts), self.bone_evidence)

    def iscd_evidence_text(self) -> str:
        return i18n.pick(dict(self.iscd_evidence_texts), self.iscd_evidence)

    def risk_rule(self, rule_id: str) -> RiskRule:
        return next(r for r in self.risk_rules if r.rule_id == rule_id)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """The risk rules' ids, in the rule file's order (the order of every output)."""
        return tuple(r.rule_id for r in self.risk_rules)

    def threshold(self, rule_id: str) -> float:
        """The numeric threshold of a risk rule (``mgso4_high_cumulative_dose``: 1000.0)."""
        return self.risk_rule(rule_id).number

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} ({self.criteria})"


def _op_text(op: str) -> str:
    return {">=": "≥", "<=": "≤", "!=": "≠"}.get(op, op)
