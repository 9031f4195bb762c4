"""Bone status by the Japanese criteria (clinical-rules.md §1) and the ISCD statement (§2):
boundaries pinned, fracture arms, criteria versions, monotonicity, the seed's Table 1."""

from __future__ import annotations

import pytest
from conftest import SAMPLE_CSV, SEED_TABLE1, examples
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen.api import load_input
from reportgen.assess import assess_record
from reportgen.classify import ISCD_BELOW, ISCD_WITHIN, classify_bone_status, iscd_statement
from reportgen.fractures import (
    NOT_JOS,
    OTHER_FRAGILITY,
    PROXIMAL_FEMUR,
    VERTEBRAL,
    dxa_region,
    read_fractures,
)
from reportgen.frame_assess import assess_frame
from reportgen.frames import records_from_frame
from reportgen.models import BoneStatus
from reportgen.rules import load_rules

N, LOW, OSTEO = BoneStatus.NORMAL, BoneStatus.LOW_BONE_MASS, BoneStatus.OSTEOPOROSIS
RULES = {"jos2012": load_rules(), "jos2000": load_rules(criteria="jos2000")}


@pytest.mark.parametrize(
    ("yam", "jos2012", "jos2000"),
    [
        (100.0, N, N),
        (80.0, N, N),  # boundary: low bone mass is YAM < 80 %, not <= 80 %
        (79.9, LOW, LOW),
        (75.0, LOW, LOW),
        (70.1, LOW, LOW),
        (70.0, OSTEO, LOW),  # jos2012: YAM <= 70 %; jos2000: YAM < 70 %
        (69.9, OSTEO, OSTEO),
        (62.0, OSTEO, OSTEO),
    ],
)
def test_classify_yam_boundaries(yam, jos2012, jos2000):
    assert classify_bone_status(yam, False, RULES["jos2012"]).status is jos2012
    assert classify_bone_status(yam, False, RULES["jos2000"]).status is jos2000


@pytest.mark.parametrize(
    "sites", [None, "", "T7;T12", "L2", "Th12", "lumbar spine", "proximal femur", "hip", "第12胸椎"]
)
def test_classify_vertebral_or_hip_fracture_is_osteoporosis_at_any_yam(rules, sites):
    finding = classify_bone_status(85.0, True, rules, sites)
    assert finding.status is OSTEO
    assert finding.by_fracture
    assert "whatever the BMD" in finding.reason


@pytest.mark.parametrize(
    "sites", ["rib", "pelvis", "proximal humerus", "distal radius", "lower leg", "wrist", "肋骨"]
)
def test_classify_other_fragility_fracture_needs_yam_below_80(rules, sites):
    assert classify_bone_status(85.0, True, rules, sites).status is N
    assert classify_bone_status(80.0, True, rules, sites).status is N
    at_79 = classify_bone_status(79.0, True, rules, sites)
    assert at_79.status is OSTEO  # without the fracture, 79 % would be low bone mass
    assert at_79.by_fracture
    assert classify_bone_status(79.0, False, rules, sites).status is LOW


@pytest.mark.parametrize(
    "sites",
    [
        "calcaneus",
        "metatarsal",
        "somewhere odd",
        "femur",
        "tibial stress fracture",
        "踵骨",
        "中足骨疲労骨折",
    ],
)
def test_classify_site_outside_jos_follows_the_bmd(rules, sites):
    """v2: an unrecognised or non-JOS site is never vertebral; the class follows the BMD."""
    assert read_fractures(True, sites).kind == NOT_JOS
    assert classify_bone_status(90.0, True, rules, sites).status is N
    assert classify_bone_status(75.0, True, rules, sites).status is LOW
    assert not classify_bone_status(75.0, True, rules, sites).by_fracture


def test_classify_no_site_is_assumed_vertebral_and_says_so(rules):
    finding = classify_bone_status(90.0, True, rules, None)
    assert finding.status is OSTEO
    assert "assumed vertebral" in finding.reason


def test_classify_jos2000_fracture_needs_yam_below_80(rules_jos2000):
    """JOS 2000: a fragility fracture means osteoporosis only with YAM < 80 %; the 2012
    revision made a vertebral/hip fracture sufficient on its own (Soen 2013)."""
    assert classify_bone_status(85.0, True, rules_jos2000, "T12").status is N
    assert classify_bone_status(79.9, True, rules_jos2000, "T12").status is OSTEO


def test_classify_fracture_flag_false_ignores_sites(rules):
    assert classify_bone_status(90.0, False, rules, "T7;T12").status is N


@pytest.mark.parametrize(
    ("sites", "kind"),
    [
        (None, VERTEBRAL),
        ("T7;T12", VERTEBRAL),
        ("rib; T7", VERTEBRAL),
        ("L1-L2", VERTEBRAL),
        ("T12–L1", VERTEBRAL),
        ("第2腰椎", VERTEBRAL),
        ("胸椎", VERTEBRAL),
        ("腰椎", VERTEBRAL),
        ("椎体", VERTEBRAL),
        ("vertebra", VERTEBRAL),
        ("Th12", VERTEBRAL),
        ("T7 and T12", VERTEBRAL),
        ("hip", PROXIMAL_FEMUR),
        ("femoral neck", PROXIMAL_FEMUR),
        ("大腿骨近位", PROXIMAL_FEMUR),
        ("大腿骨頸部", PROXIMAL_FEMUR),
        ("calcaneus; hip", PROXIMAL_FEMUR),
        ("rib", OTHER_FRAGILITY),
        ("Rib, pelvis", OTHER_FRAGILITY),
        ("tibia", OTHER_FRAGILITY),
        ("fibula", OTHER_FRAGILITY),
        ("下腿", OTHER_FRAGILITY),
        ("骨盤", OTHER_FRAGILITY),
        ("上腕骨近位", OTHER_FRAGILITY),
        ("橈骨遠位", OTHER_FRAGILITY),
        ("sacrum", OTHER_FRAGILITY),
        ("finger", NOT_JOS),
        ("calcaneus", NOT_JOS),
        ("metatarsal", NOT_JOS),
        ("stress fracture", NOT_JOS),
    ],
)
def test_fracture_site_kind(sites, kind):
    assert read_fractures(True, sites).kind == kind


@pytest.mark.parametrize(
    ("sites", "vertebrae"),
    [
        ("L1-L2", {"L1", "L2"}),
        ("T12–L1", {"T12", "L1"}),
        ("L1-4", {"L1", "L2", "L3", "L4"}),
        ("第2腰椎", {"L2"}),
        ("第十二胸椎", {"T12"}),
        ("T7;T12", {"T7", "T12"}),
        ("Ｌ３", {"L3"}),
        ("L2 vertebra", {"L2"}),
        ("rib", set()),
    ],
)
def test_fracture_levels_are_read_in_every_notation(sites, vertebrae):
    assert set(read_fractures(True, sites).vertebrae) == vertebrae


@pytest.mark.parametrize(
    ("site", "region"),
    [
        (None, {"L1", "L2", "L3", "L4"}),
        ("L2-L4", {"L2", "L3", "L4"}),
        ("L2–L4", {"L2", "L3", "L4"}),
        ("lumbar spine", {"L1", "L2", "L3", "L4"}),
        ("total hip", set()),
        ("femoral neck", set()),
    ],
)
def test_dxa_region(site, region):
    assert set(dxa_region(site)) == region


def test_classify_reason_carries_the_value(rules):
    assert classify_bone_status(73.0, False, rules).reason == "YAM 73 % < 80 %"
    assert classify_bone_status(70.0, False, rules).reason.startswith("YAM 70 % ≤ 70 %")
    assert classify_bone_status(80.0, False, rules).reason == "YAM 80 % ≥ 80 %"
    assert classify_bone_status(79.95, False, rules).reason == "YAM 79.95 % < 80 %"


@pytest.mark.parametrize(
    ("yam", "t", "expected", "decided_by"),
    [
        (74.0, -2.6, OSTEO, "t_score"),
        (75.0, -2.5, OSTEO, "t_score"),
        (75.0, -2.4, LOW, "yam"),
        (90.0, -2.5, OSTEO, "t_score"),
        (68.0, -2.7, OSTEO, "yam_and_t_score"),
        (68.0, -1.0, OSTEO, "yam"),
        (90.0, None, N, "yam"),
    ],
)
def test_jos2012_t_score_arm(rules, yam, t, expected, decided_by):
    """JOS 2012 II: YAM ≤ 70 % or T-score ≤ −2.5; either suffices, the reason says which."""
    finding = classify_bone_status(yam, False, rules, t_score=t)
    assert finding.status is expected
    assert finding.decided_by == decided_by


def test_discordant_yam_and_t_score_are_both_shown(rules):
    finding = classify_bone_status(74.0, False, rules, t_score=-2.6)
    assert finding.discordance == (
        "YAM 74 % alone reads low bone mass; T-score −2.6 meets the osteoporosis criterion (≤ −2.5)"
    )
    assert classify_bone_status(68.0, False, rules, t_score=-2.7).discordance == ""
    assert classify_bone_status(68.0, False, rules, t_score=-2.0).discordance == (
        "YAM 68 % meets the osteoporosis criterion; T-score −2.0 does not (> −2.5)"
    )
    # never a WHO-style T-score label: a T-score of −1.4 reads nothing on its own
    assert classify_bone_status(82.0, False, rules, t_score=-1.4).discordance == ""


def test_jos2000_has_no_t_score_arm(rules_jos2000):
    assert classify_bone_status(74.0, False, rules_jos2000, t_score=-3.0).status is LOW


@pytest.mark.parametrize(
    ("z", "expected"),
    [(-2.0, ISCD_BELOW), (-2.5, ISCD_BELOW), (-1.9, ISCD_WITHIN), (0.0, ISCD_WITHIN), (None, None)],
)
def test_iscd_statement(rules, z, expected):
    assert iscd_statement(z, rules) == expected


# --- properties (hypothesis) ----------------------------------------------------------------

yams = st.floats(min_value=20, max_value=150, allow_nan=False).map(lambda v: round(v, 1))
sites = st.sampled_from(
    [None, "T7;T12", "L1", "rib", "pelvis", "distal radius", "hip", "unknown site"]
)
criteria = st.sampled_from(sorted(RULES))


@settings(max_examples=examples(300), deadline=None)
@given(
    yam=yams,
    drop=st.floats(min_value=0, max_value=100),
    fracture=st.booleans(),
    where=sites,
    version=criteria,
)
def test_lowering_yam_never_improves_status(yam, drop, fracture, where, version):
    rules = RULES[version]
    before = classify_bone_status(yam, fracture, rules, where).status
    after = classify_bone_status(yam - drop, fracture, rules, where).status
    assert after.severity >= before.severity


t_scores = st.one_of(st.none(), st.floats(min_value=-8, max_value=6).map(lambda v: round(v, 1)))


@settings(max_examples=examples(300), deadline=None)
@given(yam=yams, t=t_scores, drop=st.floats(min_value=0, max_value=5), version=criteria)
def test_lowering_the_t_score_never_improves_status(yam, t, drop, version):
    rules = RULES[version]
    before = classify_bone_status(yam, False, rules, t_score=t).status
    after = classify_bone_status(yam, False, rules, t_score=None if t is None else t - drop).status
    assert after.severity >= before.severity


@settings(max_examples=examples(200), deadline=None)
@given(t=st.floats(min_value=-8, max_value=6, allow_nan=False))
def test_t_score_arm_boundary(t):
    """≤ −2.5 is osteoporosis, > −2.5 is not (with a normal YAM)."""
    status = classify_bone_status(95.0, False, RULES["jos2012"], t_score=t).status
    assert (status is OSTEO) == (t <= -2.5)


@settings(max_examples=examples(300), deadline=None)
@given(
    word=st.text(
        alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Lo", "Zs")),
        min_size=1,
        max_size=20,
    )
)
def test_a_word_without_a_vertebra_is_never_vertebral(word):
    """No unknown site is ever called vertebral: only a vertebra level or a spine word is."""
    fractures = read_fractures(True, word)
    if fractures.kind == VERTEBRAL:
        import re

        norm = word.lower()
        assert (
            re.search(
                r"[ctl]h?\s*\d|vertebra|spin|lumbar|thoracic|cervical|compression|"
                r"椎|圧迫",
                norm,
            )
            or fractures.assumed_vertebral
        ), word


@settings(max_examples=examples(300), deadline=None)
@given(yam=yams, where=sites, version=criteria)
def test_adding_a_fracture_never_improves_status(yam, where, version):
    rules = RULES[version]
    without = classify_bone_status(yam, False, rules, where).status
    with_fracture = classify_bone_status(yam, True, rules, where).status
    assert with_fracture.severity >= without.severity


# --- the seed's Table 1 (clinical-rules.md §5) ------------------------------------------------

SEED_STATUS = {"1": OSTEO, "2": OSTEO, "3": LOW, "4": LOW, "5": N, "6": N, "7": N, "8": N, "9": N}


def test_seed_table1_classification_from_paper_values(rules):
    """From the paper's values typed into conftest, independent of the sample file."""
    for case, (_, _, yam, fracture) in SEED_TABLE1.items():
        sites = "T7;T12" if fracture else None
        assert classify_bone_status(yam, fracture, rules, sites).status is SEED_STATUS[case]


def test_seed_table1_classification_from_sample_file(rules):
    frame = load_input(SAMPLE_CSV).valid_frame
    scalar = {
        r["patient_id"]: assess_record(r, rules).finding.status for r in records_from_frame(frame)
    }
    assert scalar == SEED_STATUS
    vector = dict(
        zip(frame["patient_id"], assess_frame(frame, rules)["classification"], strict=True)
    )
    assert vector == {k: v.value for k, v in SEED_STATUS.items()}


def test_seed_case_2_is_osteoporosis_by_fracture_and_by_yam(rules):
    assert classify_bone_status(67, True, rules, "T7;T12").by_fracture
    assert classify_bone_status(67, False, rules).status is OSTEO


def test_status_label_comes_from_the_one_table(monkeypatch):
    """BoneStatus.label, the cohort tables and the chart zones share models.STATUS_LABELS."""
    from reportgen.models import STATUS_LABELS

    assert [s.label for s in (N, LOW, OSTEO)] == list(STATUS_LABELS.values())
    monkeypatch.setitem(STATUS_LABELS, "osteoporosis", "Brittle bones")
    assert OSTEO.label == "Brittle bones"
    assert BoneStatus.NOT_MEASURED.label == "Not measured yet (DXA pending)"
