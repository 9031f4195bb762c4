"""Risk flags, recommendations and data-quality flags (clinical-rules.md §3–4): thresholds
pinned, *not assessed* distinct from *absent*, explanations with the patient's values, the
seed's flags, and the vectorised cohort path agreeing with the per-patient one."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE_CSV, SEED_TABLE1, base_record, examples
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen.api import load_input
from reportgen.assess import assess_record
from reportgen.frame_assess import assess_frame
from reportgen.frames import records_from_frame
from reportgen.models import BoneStatus, FlagState
from reportgen.risk import evaluate_rule, evaluate_rules, quality_flags
from reportgen.rules import load_rules

PRESENT, ABSENT, NOT_ASSESSED = FlagState.PRESENT, FlagState.ABSENT, FlagState.NOT_ASSESSED
RULES = load_rules()


def _state(rule_id: str, **values: object) -> FlagState:
    return evaluate_rule(RULES.risk_rule(rule_id), base_record(**values)).state


# --- thresholds (clinical-rules.md §3) --------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "column", "value", "expected"),
    [
        ("mgso4_high_cumulative_dose", "mgso4_total_g", 1000, ABSENT),
        ("mgso4_high_cumulative_dose", "mgso4_total_g", 1000.0, ABSENT),
        ("mgso4_high_cumulative_dose", "mgso4_total_g", 1000.5, PRESENT),
        ("mgso4_long_term", "mgso4_days", 8, ABSENT),
        ("mgso4_long_term", "mgso4_days", 9, PRESENT),
        ("low_bmi", "bmi_kg_m2", 18.5, ABSENT),
        ("low_bmi", "bmi_kg_m2", 18.4, PRESENT),
        ("vitamin_d_deficiency", "vitamin_d_ng_ml", 20, ABSENT),
        ("vitamin_d_deficiency", "vitamin_d_ng_ml", 19.9, PRESENT),
        ("prolonged_bed_rest", "bed_rest_days", 14, ABSENT),
        ("prolonged_bed_rest", "bed_rest_days", 15, PRESENT),
        ("smoking", "smoking", "never", ABSENT),
        ("smoking", "smoking", "before_pregnancy", PRESENT),
        ("smoking", "smoking", "during_pregnancy", PRESENT),
        ("family_history", "family_history", False, ABSENT),
        ("family_history", "family_history", True, PRESENT),
        ("lactation", "breastfeeding", True, PRESENT),
        ("lactation", "breastfeeding", False, ABSENT),
        ("glucocorticoid", "glucocorticoid", True, PRESENT),
        ("heparin", "heparin", False, ABSENT),
    ],
)
def test_rule_thresholds(rule_id, column, value, expected):
    assert _state(rule_id, **{column: value}) is expected


@pytest.mark.parametrize("rule_id", sorted(r.rule_id for r in RULES.risk_rules))
def test_missing_input_is_not_assessed_never_absent(rule_id):
    column = RULES.risk_rule(rule_id).input
    record = base_record()
    record.pop(column, None)
    result = evaluate_rule(RULES.risk_rule(rule_id), record)
    assert result.state is NOT_ASSESSED
    assert result.explanation.endswith(": not recorded")
    assert (
        evaluate_rule(RULES.risk_rule(rule_id), base_record(**{column: None})).state is NOT_ASSESSED
    )


def test_assessment_lists_fired_and_not_assessed_separately():
    record = base_record(mgso4_days=9, breastfeeding=None)
    assessment = assess_record(record, RULES)
    assert assessment.present == ["mgso4_long_term"]
    # Not in the record at all: vitamin D, bed rest, glucocorticoid, heparin; None: lactation.
    assert set(assessment.not_assessed) == {
        "vitamin_d_deficiency",
        "prolonged_bed_rest",
        "lactation",
        "glucocorticoid",
        "heparin",
    }
    assert not set(assessment.present) & set(assessment.not_assessed)


# --- explanations carry the patient's own value and the threshold -----------------------------


def test_explanation_index_case_dose():
    result = evaluate_rule(
        RULES.risk_rule("mgso4_high_cumulative_dose"), base_record(mgso4_total_g=3756)
    )
    assert result.explanation == "cumulative MgSO4 3,756 g > 1,000 g"


@pytest.mark.parametrize(
    ("rule_id", "column", "value", "explanation"),
    [
        ("mgso4_long_term", "mgso4_days", 85, "MgSO4 tocolysis 85 days > 8 days"),
        ("mgso4_long_term", "mgso4_days", 8, "MgSO4 tocolysis 8 days ≤ 8 days"),
        ("low_bmi", "bmi_kg_m2", 18.4, "BMI 18.4 kg/m² < 18.5 kg/m²"),
        (
            "mgso4_high_cumulative_dose",
            "mgso4_total_g",
            1000.5,
            "cumulative MgSO4 1,000.5 g > 1,000 g",
        ),
        ("vitamin_d_deficiency", "vitamin_d_ng_ml", 12, "serum 25(OH)D 12 ng/mL < 20 ng/mL"),
        ("smoking", "smoking", "before_pregnancy", "smoking: before pregnancy"),
    ],
)
def test_explanation_wording(rule_id, column, value, explanation):
    assert (
        evaluate_rule(RULES.risk_rule(rule_id), base_record(**{column: value})).explanation
        == explanation
    )


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?", text)]


def test_every_fired_numeric_flag_of_the_seed_names_value_and_threshold():
    for record in records_from_frame(load_input(SAMPLE_CSV).valid_frame):
        for result in evaluate_rules(record, RULES):
            rule = RULES.risk_rule(result.rule_id)
            if result.state is PRESENT and isinstance(rule.threshold, int | float):
                assert _numbers(result.explanation) == [record[rule.input], rule.threshold]


# --- the seed's Table 1 -----------------------------------------------------------------------


def test_seed_mgso4_flags_from_paper_values():
    long_term, high_dose = set(), set()
    for case, (days, grams, _, _) in SEED_TABLE1.items():
        record = base_record(mgso4_days=days, mgso4_total_g=grams)
        if _state("mgso4_long_term", **record) is PRESENT:
            long_term.add(case)
        if _state("mgso4_high_cumulative_dose", **record) is PRESENT:
            high_dose.add(case)
    assert long_term == set(SEED_TABLE1)
    assert high_dose == {"1", "2", "3", "4", "5", "9"}


def test_seed_mgso4_flags_from_sample_file_both_paths():
    frame = load_input(SAMPLE_CSV).valid_frame
    vector = assess_frame(frame, RULES)
    fired = set(frame.loc[vector["flag_mgso4_high_cumulative_dose"] == "present", "patient_id"])
    assert fired == {"1", "2", "3", "4", "5", "9"}
    assert (vector["flag_mgso4_long_term"] == "present").all()
    for record in records_from_frame(frame):
        flags = assess_record(record, RULES).present
        assert "mgso4_long_term" in flags
        assert ("mgso4_high_cumulative_dose" in flags) == (record["patient_id"] in fired)


def test_seed_flags_with_dose_threshold_1500(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[risk.mgso4_high_cumulative_dose]\nthreshold = 1500\n", encoding="utf-8")
    custom = load_rules(path)
    frame = load_input(SAMPLE_CSV).valid_frame
    default = assess_frame(frame, RULES)
    changed = assess_frame(frame, custom)
    flag_columns = [c for c in default.columns if c.startswith("flag_")]
    differs = (default[flag_columns] != changed[flag_columns]).any(axis=0)
    assert differs[differs].index.tolist() == ["flag_mgso4_high_cumulative_dose"]
    lost = frame.loc[
        (default["flag_mgso4_high_cumulative_dose"] == "present")
        & (changed["flag_mgso4_high_cumulative_dose"] == "absent"),
        "patient_id",
    ]
    assert sorted(lost) == ["1", "4", "9"]  # 1,260, 1,464 and 1,488 g
    assert (changed["classification"] == default["classification"]).all()


# --- recommendations (clinical-rules.md §4), written out independently --------------------------


def _expected_recommendations(
    status: BoneStatus, fired: set[str], unknown: set[str], record: dict | None = None
) -> set:
    """clinical-rules.md §4 (v2), written out independently of the rule file."""
    record = record or {}
    expected = set()
    bone_loss = status in (BoneStatus.LOW_BONE_MASS, BoneStatus.OSTEOPOROSIS)
    z = record.get("z_score")
    iscd_below = z is not None and z <= -2.0
    if status is BoneStatus.OSTEOPOROSIS:
        expected |= {"specialist_referral", "bisphosphonate_caution", "secondary_cause_workup"}
        if "lactation" in fired:
            expected.add("consider_weaning")
        if "lactation" in unknown:
            expected.add("ask_about_breastfeeding")
    if record.get("fracture") and record.get("_fragility_site", True):
        expected.add("specialist_referral")
    if iscd_below:
        expected |= {"secondary_cause_workup", "dxa_follow_up"}
    if bone_loss or "vitamin_d_deficiency" in fired:
        expected.add("calcium_vitamin_d")
    if bone_loss:
        expected |= {"dxa_follow_up"}
    if bone_loss or "low_bmi" in fired:
        expected.add("nutrition_guidance")
    if bone_loss or "prolonged_bed_rest" in fired:
        expected.add("rehabilitation")
    if "mgso4_long_term" in fired:
        expected |= {"monitor_calcium_during_tocolysis", "monitor_calcium_in_future_tocolysis"}
    vitamin_d = record.get("vitamin_d_ng_ml")
    if vitamin_d is not None and vitamin_d < 30:  # JES 2017 interval: a low lab value
        expected.add("correct_abnormal_labs")
    return expected


def _recommendations(**values: object) -> set[str]:
    return {r.rec_id for r in assess_record(base_record(**values), RULES).recommendations}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, set()),
        (
            {"yam_percent": 75},
            {"calcium_vitamin_d", "nutrition_guidance", "rehabilitation", "dxa_follow_up"},
        ),
        (
            {"yam_percent": 65, "breastfeeding": True},
            {
                "specialist_referral",
                "consider_weaning",
                "calcium_vitamin_d",
                "nutrition_guidance",
                "rehabilitation",
                "dxa_follow_up",
                "bisphosphonate_caution",
                "secondary_cause_workup",
            },
        ),
        (
            {"yam_percent": 65, "breastfeeding": False},
            {
                "specialist_referral",
                "calcium_vitamin_d",
                "nutrition_guidance",
                "rehabilitation",
                "dxa_follow_up",
                "bisphosphonate_caution",
                "secondary_cause_workup",
            },
        ),
        (
            {"yam_percent": 65},
            {
                "specialist_referral",
                "ask_about_breastfeeding",
                "calcium_vitamin_d",
                "nutrition_guidance",
                "rehabilitation",
                "dxa_follow_up",
                "bisphosphonate_caution",
                "secondary_cause_workup",
            },
        ),  # breastfeeding not recorded
        ({"z_score": -2.0}, {"dxa_follow_up", "secondary_cause_workup"}),
        ({"z_score": -1.9}, set()),
        # 25(OH)D < 30 is also a low lab value (JES 2017): correct_abnormal_labs (§5)
        ({"vitamin_d_ng_ml": 19.9}, {"calcium_vitamin_d", "correct_abnormal_labs"}),
        ({"vitamin_d_ng_ml": 20}, {"correct_abnormal_labs"}),
        ({"vitamin_d_ng_ml": 30}, set()),
        ({"fracture": True, "fracture_sites": "rib", "yam_percent": 85}, {"specialist_referral"}),
        ({"fracture": True, "fracture_sites": "calcaneus", "yam_percent": 85}, set()),
        (
            {"yam_percent": 75, "breastfeeding": True},
            {"calcium_vitamin_d", "nutrition_guidance", "rehabilitation", "dxa_follow_up"},
        ),
        ({"bmi_kg_m2": 18.4}, {"nutrition_guidance"}),
        ({"bed_rest_days": 15}, {"rehabilitation"}),
        ({"bed_rest_days": 14}, set()),
        (
            {"mgso4_days": 9},
            {"monitor_calcium_during_tocolysis", "monitor_calcium_in_future_tocolysis"},
        ),
        (
            {"yam_percent": None, "mgso4_days": 9},
            {
                "plan_postpartum_dxa",
                "monitor_calcium_during_tocolysis",
                "monitor_calcium_in_future_tocolysis",
            },
        ),
        ({"back_pain": True}, {"vertebral_fracture_imaging"}),
        (
            {
                "back_pain": True,
                "fracture": True,
                "fracture_sites": "T12",
                "yam_percent": 95,
                "breastfeeding": False,
            },
            {
                "specialist_referral",
                "calcium_vitamin_d",
                "nutrition_guidance",
                "rehabilitation",
                "dxa_follow_up",
                "bisphosphonate_caution",
                "secondary_cause_workup",
            },
        ),
        ({"mgso4_days": 8}, set()),
    ],
)
def test_recommendations_table(values, expected):
    assert _recommendations(**values) == expected


optional_bool = st.one_of(st.none(), st.booleans())


@settings(max_examples=examples(200), deadline=None)
@given(
    yam=st.sampled_from([62.0, 70.0, 75.0, 80.0, 95.0]),
    fracture=st.booleans(),
    days=st.one_of(st.none(), st.integers(0, 120)),
    bmi=st.one_of(st.none(), st.sampled_from([17.0, 18.4, 18.5, 22.0])),
    bed_rest=st.one_of(st.none(), st.integers(0, 60)),
    breastfeeding=optional_bool,
    z=st.one_of(st.none(), st.sampled_from([-2.5, -2.0, -1.9, 0.0])),
    vitamin_d=st.one_of(st.none(), st.sampled_from([10.0, 19.9, 20.0, 30.0])),
)
def test_recommendations_follow_section_4(
    yam, fracture, days, bmi, bed_rest, breastfeeding, z, vitamin_d
):
    record = base_record(
        yam_percent=yam,
        fracture=fracture,
        mgso4_days=days,
        bmi_kg_m2=bmi,
        bed_rest_days=bed_rest,
        breastfeeding=breastfeeding,
        z_score=z,
        vitamin_d_ng_ml=vitamin_d,
    )
    assessment = assess_record(record, RULES)
    expected = _expected_recommendations(
        assessment.finding.status, set(assessment.present), set(assessment.not_assessed), record
    )
    assert {r.rec_id for r in assessment.recommendations} == expected
    assert all(r.text for r in assessment.recommendations)


# --- properties -------------------------------------------------------------------------------

doses = st.floats(min_value=0, max_value=20000, allow_nan=False)


@settings(max_examples=examples(300), deadline=None)
@given(
    dose=doses,
    more=st.floats(min_value=0, max_value=5000, allow_nan=False),
    days=st.integers(0, 300),
    extra_days=st.integers(0, 100),
)
def test_raising_a_dose_never_removes_a_dose_flag(dose, more, days, extra_days):
    before = {
        r.rule_id
        for r in evaluate_rules(base_record(mgso4_total_g=dose, mgso4_days=days), RULES)
        if r.state is PRESENT
    }
    after = {
        r.rule_id
        for r in evaluate_rules(
            base_record(mgso4_total_g=dose + more, mgso4_days=days + extra_days), RULES
        )
        if r.state is PRESENT
    }
    dose_flags = {"mgso4_long_term", "mgso4_high_cumulative_dose"}
    assert before & dose_flags <= after & dose_flags


_SITES = [None, "T7;T12", "L2", "rib", "pelvis", "hip", "finger"]
_DTYPES = {
    "patient_id": "string",
    "yam_percent": "Float64",
    "fracture": "boolean",
    "fracture_sites": "string",
    "mgso4_days": "Int64",
    "mgso4_total_g": "Float64",
    "bmi_kg_m2": "Float64",
    "smoking": "string",
    "family_history": "boolean",
    "vitamin_d_ng_ml": "Float64",
    "bed_rest_days": "Int64",
    "breastfeeding": "boolean",
    "glucocorticoid": "boolean",
    "heparin": "boolean",
}
_REQUIRED = ("patient_id", "yam_percent", "fracture")


def _maybe(strategy):
    return st.one_of(st.none(), strategy)


rows = st.fixed_dictionaries(
    {
        "yam_percent": st.one_of(
            st.sampled_from([69.9, 70.0, 70.1, 79.9, 80.0]),
            st.floats(20, 150).map(lambda v: round(v, 1)),
        ),
        "fracture": st.booleans(),
        "fracture_sites": st.sampled_from(_SITES),
        "mgso4_days": _maybe(st.one_of(st.sampled_from([8, 9]), st.integers(0, 300))),
        "mgso4_total_g": _maybe(
            st.one_of(
                st.sampled_from([1000.0, 1000.5]), st.floats(0, 20000).map(lambda v: round(v, 1))
            )
        ),
        "bmi_kg_m2": _maybe(st.sampled_from([18.4, 18.5, 25.0])),
        "smoking": _maybe(st.sampled_from(["never", "before_pregnancy", "during_pregnancy"])),
        "family_history": _maybe(st.booleans()),
        "vitamin_d_ng_ml": _maybe(st.sampled_from([19.9, 20.0, 35.0])),
        "bed_rest_days": _maybe(st.sampled_from([14, 15, 0])),
        "breastfeeding": _maybe(st.booleans()),
        "glucocorticoid": _maybe(st.booleans()),
        "heparin": _maybe(st.booleans()),
    }
)


@settings(max_examples=examples(60), deadline=None)
@given(
    data=st.lists(rows, min_size=1, max_size=12),
    dropped=st.sets(st.sampled_from(sorted(set(_DTYPES) - set(_REQUIRED)))),
    version=st.sampled_from(["jos2012", "jos2000"]),
)
def test_scalar_and_vectorised_paths_agree(data, dropped, version):
    rules = RULES if version == "jos2012" else load_rules(criteria="jos2000")
    frame = pd.DataFrame([{"patient_id": f"p{i}", **row} for i, row in enumerate(data)])
    frame = frame.astype({k: v for k, v in _DTYPES.items() if k in frame})
    frame = frame.drop(columns=sorted(dropped))
    vector = assess_frame(frame, rules)
    for i, record in enumerate(records_from_frame(frame)):
        scalar = assess_record(record, rules)
        assert vector["classification"].iloc[i] == scalar.finding.status.value
        for result in scalar.rule_results:
            assert vector[f"flag_{result.rule_id}"].iloc[i] == result.state.value


def test_vectorised_path_on_100000_rows():
    """Every row classified (its time: benchmarks/check_timing.py)."""
    rng = np.random.default_rng(7)
    n = 100_000
    frame = pd.DataFrame(
        {
            "patient_id": pd.array([f"p{i}" for i in range(n)], dtype="string"),
            "yam_percent": pd.array(rng.uniform(40, 120, n).round(1), dtype="Float64"),
            "fracture": pd.array(rng.random(n) < 0.05, dtype="boolean"),
            "fracture_sites": pd.array(rng.choice(["T12", "rib", None], n), dtype="string"),
            "mgso4_days": pd.array(rng.integers(0, 100, n), dtype="Int64"),
            "mgso4_total_g": pd.array(rng.uniform(0, 4000, n), dtype="Float64"),
            "bmi_kg_m2": pd.array(
                np.where(rng.random(n) < 0.1, np.nan, rng.uniform(16, 30, n)), dtype="Float64"
            ),
            "smoking": pd.array(rng.choice(["never", "before_pregnancy"], n), dtype="string"),
            "breastfeeding": pd.array(rng.random(n) < 0.5, dtype="boolean"),
        }
    )
    result = assess_frame(frame, RULES)
    assert len(result) == n
    assert set(result["classification"]) == {"normal", "low_bone_mass", "osteoporosis"}


# --- data-quality flags (shown, never risk) ---------------------------------------------------


def _quality(**values: object) -> dict[str, str]:
    return {q.flag_id: q.message for q in quality_flags(base_record(**values), RULES)}


def test_quality_flags_none_for_a_clean_record():
    assert _quality() == {}


def test_quality_implausible_dose_rate():
    # 48 g/day × 10 days + 6 g loading = 486 g is the most a label-conform infusion gives.
    assert "implausible_dose_rate" not in _quality(mgso4_days=10, mgso4_total_g=486)
    assert "implausible_dose_rate" in _quality(mgso4_days=10, mgso4_total_g=487)


def test_quality_mgso4_days_exceed_hospital_days():
    assert (
        _quality(mgso4_days=30, hospital_days=29)["mgso4_days_exceed_hospital_days"]
        == "MgSO4 days (30) exceed hospital days (29)"
    )
    assert "mgso4_days_exceed_hospital_days" not in _quality(mgso4_days=30, hospital_days=30)


@pytest.mark.parametrize(
    ("sites", "dxa_site", "flagged"),
    [
        ("L2", "L1-L4", True),
        ("L2", None, True),  # the contract's default region is L1–L4
        ("T7;T12", "L1-L4", False),  # the index case: thoracic, outside the region
        ("L1", "L2-L4", False),
        ("L1", "total hip", False),
        ("L3", "femoral neck", False),
        ("l4", "L1–L4", True),
    ],
)
def test_quality_fracture_in_dxa_region(sites, dxa_site, flagged):
    flags = _quality(fracture=True, fracture_sites=sites, dxa_site=dxa_site)
    assert ("fracture_in_dxa_region" in flags) is flagged


def test_quality_scan_timing():
    after = _quality(delivery_date=date(2020, 5, 26), dxa_date=date(2020, 6, 10))
    assert after == {"dxa_days_postpartum": "DXA 15 days after delivery"}
    before = _quality(delivery_date=date(2020, 5, 26), dxa_date=date(2020, 5, 20))
    assert before == {
        "dxa_before_delivery": "DXA 6 days before delivery: a scan in pregnancy, "
        "not a postpartum scan"
    }


def test_quality_fracture_site_outside_jos():
    flags = _quality(fracture=True, fracture_sites="finger")
    assert flags == {
        "fracture_site_not_jos": "fracture at finger: not among the JOS fragility "
        "sites — review (the class follows the BMD)"
    }


@pytest.mark.parametrize(
    ("sites", "dxa_site", "flagged"),
    [
        ("L1-L2", "L1-L4", True),
        ("T12–L1", "L2-L4", False),
        ("T12–L1", "L1-L4", True),
        ("第2腰椎", None, True),
        ("腰椎", "L1-L4", True),
        ("腰椎", "total hip", False),
    ],
)
def test_quality_fracture_in_dxa_region_ranges_and_japanese(sites, dxa_site, flagged):
    flags = _quality(fracture=True, fracture_sites=sites, dxa_site=dxa_site)
    assert ("fracture_in_dxa_region" in flags) is flagged


def test_warnings_that_change_the_reading_are_page1_statements():
    record = base_record(
        fracture=True,
        fracture_sites="L2",
        dxa_date=date(2020, 5, 1),
        delivery_date=date(2020, 5, 26),
        mgso4_days=10,
        mgso4_total_g=900,
    )
    statements = assess_record(record, RULES).statements
    assert [s.statement_id for s in statements] == [
        "fracture",
        "implausible_dose_rate",
        "fracture_in_dxa_region",
        "dxa_before_delivery",
    ]
    assert all(s.severity == "warning" for s in statements)
