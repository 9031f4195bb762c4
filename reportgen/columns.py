"""The input columns as data: names, kinds, plausible ranges, required ones, aliases and the
input vocabulary (yes/no and smoking words). No pandas: ``reportgen rules`` and the CLI read it
without loading the table machinery of :mod:`reportgen.schema`."""

from __future__ import annotations

from dataclasses import dataclass

from reportgen.labs import LAB_TESTS


@dataclass(frozen=True)
class Column:
    """One contract column: its kind and plausible range (inclusive)."""

    name: str
    kind: str  # text, number, integer, boolean, smoking, date
    low: float | None = None
    high: float | None = None
    required: bool = False
    choices: tuple[str, ...] = ()  # kind "choice": the allowed values (lower case)


# Plausible ranges: wide enough for any real postpartum patient, narrow enough to catch
# unit mistakes (kg for g, cm for m) and typos. Documented in the README.
COLUMNS: dict[str, Column] = {
    c.name: c
    for c in [
        Column("patient_id", "text", required=True),
        Column("name", "text"),
        Column("age_years", "number", 12, 60, required=True),
        Column("bmi_kg_m2", "number", 12, 60),
        Column("height_cm", "number", 120, 210),
        Column("weight_kg", "number", 30, 200),
        Column("gravida", "integer", 1, 20),
        Column("para", "integer", 0, 20),
        Column("smoking", "smoking"),
        Column("family_history", "boolean"),
        Column("hospital_days", "integer", 0, 365),
        Column("mgso4_days", "integer", 0, 300, required=True),
        Column("mgso4_total_g", "number", 0, 20000, required=True),
        Column("yam_percent", "number", 20, 150, required=True),
        Column("fracture", "boolean", required=True),
        Column("fracture_sites", "text"),
        Column("dxa_site", "text"),
        Column("bmd_g_cm2", "number", 0.2, 2.0),
        Column("t_score", "number", -8, 6),
        Column("z_score", "number", -8, 6),
        Column("dxa_date", "date"),
        Column("delivery_date", "date"),
        Column("admission_date", "date"),
        Column("discharge_date", "date"),
        Column("bed_rest_days", "integer", 0, 300),
        Column("breastfeeding", "boolean"),
        Column("vitamin_d_ng_ml", "number", 1, 200),
        Column("glucocorticoid", "boolean"),
        Column("heparin", "boolean"),
        Column("antenatal_corticosteroid", "boolean"),
        Column("pregnancy_planned", "boolean"),
        # contract §5 (v2): symptoms, labs (main row: the latest value), discharge details
        Column("back_pain", "boolean"),
        *(
            Column(t.column, "number", *t.plausible)
            for t in LAB_TESTS.values()
            if t.column != "vitamin_d_ng_ml"
        ),
        Column("ga_mgso4_start", "gestation"),
        Column("ga_delivery", "gestation"),
        Column("delivery_mode", "choice", choices=("vaginal", "caesarean")),
        Column("feeding_plan", "choice", choices=("breast", "formula", "mixed")),
        Column("follow_up_date", "appointment"),  # a booked visit: may lie ahead
        Column("follow_up_department", "text"),
        Column("physician", "text"),
        Column("notes", "text"),
        # Follow-up DXA (issue 12): shown as events on the trend chart.
        Column("weaning_date", "date"),
        Column("treatment", "text"),
        Column("treatment_start", "date"),
    ]
}

NUMERIC_COLUMNS = [c.name for c in COLUMNS.values() if c.kind in ("number", "integer")]
REQUIRED_COLUMNS = tuple(c.name for c in COLUMNS.values() if c.required)
# Free text shown in reports: escaped, never interpreted; removed by --deidentify.
IDENTIFYING_COLUMNS = ("patient_id", "name", "notes")

# Headers as printed in the seed paper's Table 1 and common spellings.
ALIASES = {
    "no": "patient_id",
    "no.": "patient_id",
    "id": "patient_id",
    "patient": "patient_id",
    "age": "age_years",
    "age_(years)": "age_years",
    "bmi": "bmi_kg_m2",
    "bmi_(kg/m2)": "bmi_kg_m2",
    "height": "height_cm",
    "weight": "weight_kg",
    "gravida_(times)": "gravida",
    "para_(times)": "para",
    "prenatal_smoking": "smoking",
    "hospitalization_(days)": "hospital_days",
    "hospitalisation_(days)": "hospital_days",
    "use_days_of_mgso4_(days)": "mgso4_days",
    "mgso4_days_(days)": "mgso4_days",
    "accumulated_dose_of_mgso4_(g)": "mgso4_total_g",
    "cumulative_dose_(g)": "mgso4_total_g",
    "yam": "yam_percent",
    "yam_(%)": "yam_percent",
    "yam_%": "yam_percent",
    "bone_fracture": "fracture",
}

# The yes/no words of the input contract (README), the only list: schema coercion and
# summary's tolerant reading of a frame given directly both use parse_yes_no.
TRUE_WORDS = {"yes", "y", "true", "t", "1", "+", "present", "はい", "有", "あり"}
FALSE_WORDS = {"no", "n", "false", "f", "0", "-", "absent", "none", "いいえ", "無", "なし"}
SMOKING_WORDS = {
    "never": "never",
    "no": "never",
    "-": "never",
    "none": "never",
    "non-smoker": "never",
    "before_pregnancy": "before_pregnancy",
    "before pregnancy": "before_pregnancy",
    "former": "before_pregnancy",
    "past": "before_pregnancy",
    "during_pregnancy": "during_pregnancy",
    "during pregnancy": "during_pregnancy",
    "current": "during_pregnancy",
    "yes": "during_pregnancy",
    "+": "during_pregnancy",
}
