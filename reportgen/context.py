"""The template context of a patient report: every value formatted here, templates only show.

The charts are drawn first (``report_charts.draw_patient_charts``); this module only turns
their PNG bytes into images at print size.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import cast

from reportgen import formatting as fmt
from reportgen import i18n
from reportgen.classify import ISCD_BELOW, ISCD_TEXT
from reportgen.context_types import (
    ChartImage,
    Dxa,
    FlagItem,
    Iscd,
    LabCell,
    LabColumn,
    LabelValue,
    LabRow,
    LabTable,
    PatientChartImages,
    PatientContext,
    PatientInfo,
    ValueRow,
)
from reportgen.followup_context import FOLLOW_UP_HEADING, follow_up_context
from reportgen.fractures import KIND_LABELS, NOT_JOS
from reportgen.i18n import N_, _
from reportgen.labs import LAB_TESTS, THERAPEUTIC_MG_HIGH, interval_text
from reportgen.models import CHOICE_WORDS, Assessment, BoneStatus, FlagState, RuleResult
from reportgen.report_charts import (  # noqa: F401  (re-exported: older import path)
    PATIENT_SCATTER_CM,
    PatientCharts,
    reference_cohort,
)
from reportgen.rules import RuleSet
from reportgen.rules.seed import seed_threshold_caveat
from reportgen.settings import Organisation

REFERENCE_LABEL = N_("the 9 cases of Iio et al. 2022 (J Med Cases 13:47), Table 1")
REFERENCE_CAPTION = N_(
    "Grey points: the nine women of Iio et al. 2022 (J Med Cases 13:47), a "
    "published case series shown for context, not a reference range. This "
    "patient is ringed and labelled."
)
# Flags that describe physiology rather than an alarm: shown neutrally (clinical-rules §3).
_NEUTRAL_FLAGS = frozenset({"lactation"})
_CRITERIA = {
    "jos2012": N_("JOS 2012 (Japanese criteria for primary osteoporosis, 2012 revision)"),
    "jos2000": N_("JOS 2000 (Japanese criteria for primary osteoporosis, 2000 revision)"),
}
CAVEATS = (  # translated at use; the dose threshold's caveat comes from the rules (seed.py)
    N_(
        "The classification applies the Japanese criteria to a postpartum woman; a diagnosis "
        "needs the clinician's judgement and the exclusion of secondary osteoporosis."
    ),
    N_(
        "BMI is as recorded; if weight was measured during pregnancy it overstates the "
        "pre-pregnancy BMI that the risk literature uses."
    ),
)
_CLASSIFICATION_CAVEAT = {  # the second caveat, as it fits this patient
    "not_measured": N_("No bone status: the DXA is not done yet; this page is a plan."),
    "in_pregnancy": N_(
        "The classification applies the Japanese criteria to a scan taken in "
        "pregnancy; a diagnosis needs the clinician's judgement and the exclusion "
        "of secondary osteoporosis, and a postpartum scan."
    ),
}


def data_uri(png: bytes | None) -> str:
    return "" if png is None else "data:image/png;base64," + base64.b64encode(png).decode()


def chart_image(png: bytes | None) -> ChartImage | None:
    """A PNG as a data URI with its physical print width (so chart text keeps its point size)."""
    if png is None:
        return None
    width_px = int.from_bytes(png[16:20], "big")  # IHDR width
    dpi = _png_dpi(png)
    return {"uri": data_uri(png), "width_mm": round(width_px / dpi * 25.4, 1)}


def _png_dpi(png: bytes) -> float:
    at = png.find(b"pHYs")
    if at < 0:
        return 150.0
    per_metre = int.from_bytes(png[at + 4 : at + 8], "big")
    return per_metre * 0.0254 if per_metre else 150.0


def patient_context(
    assessment: Assessment,
    rules: RuleSet,
    org: Organisation,
    *,
    charts: PatientCharts,
    generated_at: str,
    tool_version: str,
    source: str,
    json_name: str,
) -> PatientContext:
    """Everything ``patient.html`` shows, as display strings; ``charts`` are already drawn."""
    record = assessment.patient
    finding = assessment.finding
    pid = str(record["patient_id"])
    plo = finding.status is BoneStatus.OSTEOPOROSIS
    in_pregnancy = any(q.flag_id == "dxa_before_delivery" for q in assessment.quality_flags)
    measured = finding.status is not BoneStatus.NOT_MEASURED
    heading = (
        _("MgSO4 exposure and bone-health plan — DXA pending")
        if not measured
        else _("Bone-health report — DXA in pregnancy")
        if in_pregnancy
        else _("Postpartum bone-health report")
    )
    follow_up = follow_up_context(assessment.follow_up, record, chart_image(charts.trend))
    if follow_up and follow_up.is_follow_up:  # issue 12
        heading = _(FOLLOW_UP_HEADING)
    return PatientContext(
        lang=org.language,
        title=_("{heading} — patient {id}").format(heading=heading, id=pid),
        heading=heading,
        subject=_("Bone status after MgSO4 tocolysis: DXA, fractures, risk factors"),
        keywords=_("postpartum, osteoporosis, PLO, MgSO4, tocolysis, DXA, YAM"),
        organisation=org,
        tool_version=tool_version,
        generated_at=generated_at,
        generated_display=time_text(generated_at),
        footer=_("Patient {id} · generated {time} · reportgen {version} · rules {rules}").format(
            id=pid, time=time_text(generated_at), version=tool_version, rules=rules.version
        ),
        patient=_patient(record, pid),
        measured=measured,
        status=finding.status,
        plo=plo,
        status_reason=finding.reason,
        criteria_label=_(_CRITERIA[finding.criteria]),
        criteria_short=finding.criteria.replace("jos", "JOS "),
        plo_note=_(
            "Reported as PLO: secondary causes (heparin, glucocorticoids, "
            "immobilisation, endocrine disease) must be excluded."
        )
        if plo
        else "",
        iscd=_iscd(assessment),
        statements=[
            {"id": s.statement_id, "text": s.text, "severity": s.severity}
            for s in assessment.statements
        ],
        exposure=_exposure_rows(record, assessment.derived, so_far=assessment.exposure is not None),
        dxa=Dxa(yam=fmt.percent(_num(record, "yam_percent")), rows=_dxa_rows(assessment)),
        labs=_lab_table(assessment.labs),
        so_far=_exposure_so_far(assessment.exposure),
        flags=[_flag(r) for r in assessment.rule_results],
        recommendations=[{"id": r.rec_id, "text": r.text} for r in assessment.recommendations],
        # warnings stand on page 1 (statements); the notes beside the chart are the rest
        data_quality=[
            {"message": q.message, "severity": q.severity}
            for q in assessment.quality_flags
            if q.severity != "warning"
        ],
        caveats=_caveats(measured, in_pregnancy, rules),
        notes=str(record.get("notes") or ""),
        charts=PatientChartImages(
            yam_zones=chart_image(charts.yam_zones),
            dose_vs_yam=chart_image(charts.dose_vs_yam),
            so_far=chart_image(charts.so_far),
            timeline=chart_image(charts.timeline),
        ),
        reference_label=_(REFERENCE_LABEL),
        reference_caption=_(REFERENCE_CAPTION),
        rules_label=rules.label,
        source=_("{source}, row {row}").format(source=source, row=record.get("_row")),
        json_name=json_name,
        pdf_embeds_json=True,
        follow_up=follow_up,
    )


def _num(record: dict[str, object], key: str) -> float | None:
    """A numeric column of a validated record (None when blank)."""
    return cast("float | None", record.get(key))


def _patient(record: dict[str, object], pid: str) -> PatientInfo:
    return {
        "id": pid,
        "name": str(record.get("name") or "—"),
        "age": fmt.age(_num(record, "age_years")),
        "dates": _dates(record),
        "discharge": _discharge(record),
    }


def _iscd(assessment: Assessment) -> Iscd | None:
    if not assessment.iscd_statement:
        return None
    return {
        "z": fmt.score(_num(assessment.patient, "z_score")),
        "text": _(ISCD_TEXT[assessment.iscd_statement]),
        "below": assessment.iscd_statement == ISCD_BELOW,
    }


def _flag(r: RuleResult) -> FlagItem:
    return {
        "id": r.rule_id,
        "label": r.label,
        "state": (
            "neutral"
            if r.state is FlagState.PRESENT and r.rule_id in _NEUTRAL_FLAGS
            else r.state.value
        ),
        "state_label": r.state.label,
        "explanation": r.explanation,
        "subject": r.subject,
        "comparison": r.comparison.replace(" ", "\u00a0"),
        "evidence": r.evidence,
        # a caveat qualifies a finding: said where the factor is present (a "recovers
        # after weaning" note is not for a woman who is not breastfeeding)
        "caveat": r.caveat if r.state is FlagState.PRESENT else None,
    }


def time_text(iso: str) -> str:
    """``2024-01-01T00:00:00Z`` -> ``2024-01-01 00:00 UTC`` (``2024年1月1日 00:00 UTC``)."""
    utc = " UTC" if iso.endswith("Z") else ""
    if i18n.current() != "en":
        return fmt.date_text(datetime.fromisoformat(iso[:16])) + utc
    return iso[:16].replace("T", " ") + utc


def _row(label: str, value: str, derived: bool = False, derived_from: str = "") -> ValueRow:
    return {"label": label, "value": value, "derived": derived, "derived_from": derived_from}


def _exposure_rows(record: dict, derived: list[str], so_far: bool = False) -> list[ValueRow]:
    rows = (
        []
        if so_far
        else [  # with --as-of the totals stand in "exposure so far"
            _row(
                _("Days on MgSO4"),
                fmt.days(record["mgso4_days"]),
                "mgso4_days" in derived,
                _("infusion record"),
            ),
            _row(
                _("Cumulative MgSO4"),
                f"{fmt.grams(record['mgso4_total_g'])} g",
                "mgso4_total_g" in derived,
                _("infusion record"),
            ),
        ]
    )
    if record.get("hospital_days") is not None:
        rows.append(_row(_("Hospital stay"), fmt.days(record["hospital_days"])))
    if record.get("bed_rest_days") is not None:
        rows.append(_row(_("Bed rest"), fmt.days(record["bed_rest_days"])))
    rows.append(
        _row(
            "BMI",
            f"{fmt.bmi(record['bmi_kg_m2'])} kg/m²",
            "bmi_kg_m2" in derived,
            _("height and weight"),
        )
    )
    parity = [
        _(label).format(n=fmt.number(record[key]))
        for key, label in (("gravida", N_("G{n}")), ("para", N_("P{n}")))
        if record.get(key) is not None
    ]
    if parity:
        rows.append(_row(_("Gravida, para"), " ".join(parity)))
    if record.get("antenatal_corticosteroid") is not None:
        given = fmt.yes_no(bool(record["antenatal_corticosteroid"]))
        rows.append(
            _row(
                _("Antenatal corticosteroid (fetal lung maturation)"),
                given + (_(" (not a risk flag)") if record["antenatal_corticosteroid"] else ""),
            )
        )
    return rows


def _feeding_rows(record: dict) -> list[ValueRow]:
    rows = [_row(_("Breastfeeding"), fmt.yes_no(record.get("breastfeeding")))]
    if record.get("back_pain") is not None:
        rows.append(_row(_("New back pain"), fmt.yes_no(record["back_pain"])))
    if record.get("pregnancy_planned") is not None:
        rows.append(_row(_("Another pregnancy planned"), fmt.yes_no(record["pregnancy_planned"])))
    return rows


def _kind_text(kind: str) -> str:
    return _("not a JOS fragility site") if kind == NOT_JOS else _(KIND_LABELS[kind])


def _dxa_rows(assessment: Assessment) -> list[ValueRow]:
    record = assessment.patient
    site = str(record.get("dxa_site") or _("L1–L4 (default)"))
    if record.get("yam_percent") is None:
        site = _("no scan yet")
    rows = [
        _row(_("Site"), site),
        _row(
            _("YAM"),
            f"{fmt.percent(_num(record, 'yam_percent'))} %"
            if record.get("yam_percent") is not None
            else _("not measured yet"),
        ),
    ]
    for key, label, unit, formatter in (
        ("bmd_g_cm2", "BMD", " g/cm²", fmt.bmd),
        ("t_score", _("T-score"), "", fmt.score),
        ("z_score", _("Z-score"), "", fmt.score),
    ):
        if record.get(key) is not None:
            rows.append(_row(label, f"{formatter(_num(record, key))}{unit}"))
    fractures = assessment.fractures
    fracture = _("No")
    if fractures.assumed_vertebral:
        fracture = _("Yes: site not recorded (assumed vertebral)")
    elif record["fracture"]:
        kinds = dict.fromkeys(s.kind for s in fractures.sites)
        fracture = _("Yes: {sites}").format(
            sites=_("; ").join(
                _("{kind} ({sites})").format(
                    kind=_kind_text(kind),
                    sites=_(", ").join(s.label for s in fractures.sites if s.kind == kind),
                )
                for kind in kinds
            )
        )
    rows.append(_row(_("Fracture"), fracture))
    return rows + _feeding_rows(record)


def _dates(record: dict) -> list[LabelValue]:
    labels = (
        ("admission_date", N_("Admitted")),
        ("delivery_date", N_("Delivered")),
        ("discharge_date", N_("Discharged")),
        ("dxa_date", "DXA"),
    )
    return [
        {"label": _(label), "value": fmt.date_text(record[key])}
        for key, label in labels
        if record.get(key) is not None
    ]


def _caveats(measured: bool, in_pregnancy: bool, rules: RuleSet) -> list[str]:
    key = "not_measured" if not measured else "in_pregnancy" if in_pregnancy else None
    general = CAVEATS if key is None else (_CLASSIFICATION_CAVEAT[key], CAVEATS[1])
    dose = seed_threshold_caveat(rules)
    return [*([dose] if dose else []), *(_(c) for c in general)]


def _exposure_so_far(exposure: dict | None) -> list[ValueRow]:
    if not exposure:
        return []
    rate = exposure["current_rate_g_per_h"]
    rows = [
        _row(_("As of"), fmt.date_text(datetime.fromisoformat(exposure["as_of"]))),
        _row(_("Cumulative MgSO4 so far"), f"{fmt.grams(exposure['cumulative_g'])} g"),
        _row(_("Days with MgSO4"), fmt.days(exposure["days"])),
        _row(_("Current rate"), f"{fmt.number(rate)} g/h" if rate else _("not infusing")),
    ]
    projected = exposure["projected_threshold_date"]
    threshold = fmt.grams(exposure["threshold_g"])
    if projected:
        rows.append(
            _row(
                _("Passes {grams} g at this rate").format(grams=threshold),
                fmt.date_text(projected) if i18n.current() != "en" else projected,
            )
        )
    elif exposure["cumulative_g"] > exposure["threshold_g"]:
        rows.append(_row(_("{grams} g threshold").format(grams=threshold), _("already passed")))
    return rows


def _lab_table(labs: list) -> LabTable | None:
    """Draws as rows (by date, main-row values last as "latest"), tests as columns."""
    if not labs:
        return None
    tests = [t for t in LAB_TESTS if any(lab.test == t for lab in labs)]
    columns: list[LabColumn] = []
    infused = any(lab.test == "serum_mg" and lab.high == THERAPEUTIC_MG_HIGH for lab in labs)
    for test in tests:
        spec = LAB_TESTS[test]
        # The reference interval, not the therapeutic range of a draw during the infusion
        # (the head read "1.8 – 8.4", which is no reference interval).
        usual = [lab for lab in labs if lab.test == test and lab.high != THERAPEUTIC_MG_HIGH]
        low, high = (usual[0].low, usual[0].high) if usual else (spec.low, spec.high)
        note = spec.note if spec.note and (test != "serum_mg" or infused) else ""
        columns.append(
            {
                "label": _(spec.label),
                "unit": spec.unit,
                "interval": interval_text(low, high, " – "),
                "note": _(note) if note else "",  # the Mg note only beside an infusion's draw
            }
        )
    rows: list[LabRow] = []
    for day in dict.fromkeys(lab.date for lab in labs):
        cells: list[LabCell] = []
        for test in tests:
            lab = next((x for x in labs if x.test == test and x.date == day), None)
            if lab is None:
                cells.append({"text": "", "flag": "normal"})
                continue
            text = fmt.number(lab.value)
            if lab.corrected_value is not None:
                text += _(" (corr. {value})").format(value=fmt.half_up(lab.corrected_value, 1))
            mark = {"low": " L", "high": " H"}.get(lab.flag, "")
            if (lab.low, lab.high) != (
                LAB_TESTS[test].low,
                LAB_TESTS[test].high,
            ) and lab.test == "serum_mg":
                mark += " †"
            cells.append({"text": text + mark, "flag": lab.flag})
        rows.append({"date": fmt.date_text(day) if day else _("record (latest)"), "cells": cells})
    notes = [f"{c['label']}: {c['note']}" for c in columns if c["note"]]
    if infused:
        notes.insert(
            0,
            _(
                "† drawn during the MgSO4 infusion: a raised magnesium is intended, "
                "high only above the therapeutic range (> {top} mg/dL)"
            ).format(top=fmt.number(THERAPEUTIC_MG_HIGH)),
        )
    return {
        "columns": columns,
        "rows": rows,
        "notes": notes,
        "calcium": any(lab.test == "serum_ca" for lab in labs),
    }


_DISCHARGE = (
    ("ga_mgso4_start", N_("GA at MgSO4 start")),
    ("ga_delivery", N_("GA at delivery")),
    ("delivery_mode", N_("Delivery")),
    ("feeding_plan", N_("Feeding plan")),
    ("follow_up_date", N_("Follow-up")),
    ("follow_up_department", N_("Follow-up clinic")),
    ("physician", N_("Physician")),
)


def _discharge(record: dict) -> list[LabelValue]:
    out: list[LabelValue] = []
    for key, label in _DISCHARGE:
        value = record.get(key)
        if value is None:
            continue
        text = fmt.date_text(value) if key == "follow_up_date" else str(value)
        if key.startswith("ga_"):
            text = fmt.weeks(text)
        if key in ("delivery_mode", "feeding_plan"):
            text = _(CHOICE_WORDS.get(text, text))
        out.append({"label": _(label), "value": text})
    return out
