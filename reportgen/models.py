"""Value types passed between the pipeline stages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from reportgen.fractures import NO_FRACTURE, Fractures
from reportgen.i18n import N_, _


class BoneStatus(enum.Enum):
    """Bone status by the Japanese criteria; order = severity."""

    NORMAL = "normal"
    LOW_BONE_MASS = "low_bone_mass"
    OSTEOPOROSIS = "osteoporosis"
    NOT_MEASURED = "not_measured"  # no DXA yet (contract §5, v2): never a bone status

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def label(self) -> str:
        return _(STATUS_LABELS.get(self.value, _NOT_MEASURED_LABEL))


_SEVERITY = {
    BoneStatus.NOT_MEASURED: -1,
    BoneStatus.NORMAL: 0,
    BoneStatus.LOW_BONE_MASS: 1,
    BoneStatus.OSTEOPOROSIS: 2,
}
# The one table of bone-status labels (reports, tables, chart zones), translated at use:
# _(STATUS_LABELS[value]). Keys in severity order; "not_measured" is no bone status.
STATUS_LABELS: dict[str, str] = {
    BoneStatus.NORMAL.value: N_("Normal"),
    BoneStatus.LOW_BONE_MASS.value: N_("Low bone mass"),
    BoneStatus.OSTEOPOROSIS.value: N_("Osteoporosis"),
}
_NOT_MEASURED_LABEL = N_("Not measured yet (DXA pending)")


class FlagState(enum.Enum):
    """Outcome of one risk rule for a patient: present, absent, or not assessed (the input
    was not recorded). Reports say "present / absent / not recorded" (clinical-rules §3)."""

    PRESENT = "present"
    ABSENT = "absent"
    NOT_ASSESSED = "not_assessed"

    @property
    def label(self) -> str:
        return _(
            {"present": N_("Present"), "absent": N_("Absent"), "not_assessed": N_("Not recorded")}[
                self.value
            ]
        )


@dataclass(frozen=True)
class Finding:
    """The bone status with the reason that decided it."""

    status: BoneStatus
    reason: str
    criteria: str
    by_fracture: bool = False
    decided_by: str = "yam"  # "fracture", "yam", "t_score" or "yam_and_t_score"
    discordance: str = ""  # where YAM and T-score point to different classes, both said


@dataclass(frozen=True)
class RuleResult:
    """One risk rule applied to one patient, with its explanation."""

    rule_id: str
    label: str
    state: FlagState
    explanation: str
    condition: str
    evidence: str
    caveat: str | None = None
    subject: str = ""  # what was measured, e.g. "cumulative MgSO4"
    comparison: str = ""  # value against threshold, e.g. "3,756 g > 1,000 g"


# The words of the choice columns as a report prints them (the input keeps its codes).
CHOICE_WORDS = {
    "vaginal": N_("vaginal"),
    "caesarean": N_("caesarean"),
    "breast": N_("breastfeeding"),
    "formula": N_("formula"),
    "mixed": N_("mixed"),
}


@dataclass(frozen=True)
class QualityFlag:
    """A data-quality observation (shown in reports, never a risk factor)."""

    flag_id: str
    message: str
    severity: str = "warning"  # "warning" or "info"


@dataclass(frozen=True)
class Statement:
    """Something that changes how the result reads: printed on page 1, beside the status."""

    statement_id: str
    text: str
    severity: str = "warning"  # "warning" (read this first) or "info"


@dataclass(frozen=True)
class Recommendation:
    rec_id: str
    text: str


@dataclass(frozen=True)
class Assessment:
    """Everything the rules decided about one patient."""

    patient: dict[str, object]
    finding: Finding
    iscd_statement: str | None
    rule_results: list[RuleResult]
    quality_flags: list[QualityFlag]
    recommendations: list[Recommendation]
    derived: list[str] = field(default_factory=list)
    secondary_causes: list[str] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)  # page 1, in this order
    fractures: Fractures = NO_FRACTURE
    labs: list = field(default_factory=list)  # labs.LabResult, by date
    exposure: dict | None = None  # MgSO4 exposure so far (--as-of with an infusion record)
    follow_up: Any = None  # reportgen.followup.FollowUp when the patient has scans (issue 12)

    @property
    def present(self) -> list[str]:
        return [r.rule_id for r in self.rule_results if r.state is FlagState.PRESENT]

    @property
    def not_assessed(self) -> list[str]:
        return [r.rule_id for r in self.rule_results if r.state is FlagState.NOT_ASSESSED]


def optional_float(value: object) -> float | None:
    """A validated record's number cell as a float; None stays None ("not recorded")."""
    return None if value is None else float(value)  # type: ignore[arg-type]
