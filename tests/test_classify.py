"""Bone status by the Japanese criteria (clinical-rules.md §1) and the ISCD statement (§2):
boundaries pinned, fracture arms, criteria versions, monotonicity, the seed's Table 1."""

from __future__ import annotations

import pytest
from conftest import SAMPLE_CSV, SEED_TABLE1
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen.api import load_input
from reportgen.assess import assess_frame, assess_record, records_from_frame
from reportgen.classify import (
    ISCD_BELOW,
    ISCD_WITHIN,
    OTHER_SITE,
    UNRECOGNISED,
    VERTEBRAL_OR_HIP,
    classify_bone_status,
    fracture_site_kind,
    iscd_statement,
)
from reportgen.models import BoneStatus
from reportgen.rules import load_rules

N, LOW, OSTEO = BoneStatus.NORMAL, BoneStatus.LOW_BONE_MASS, BoneStatus.OSTEOPOROSIS
RULES = {"jos2012": load_rules(), "jos2000": load_rules(criteria="jos2000")}


@pytest.mark.parametrize(
    ("yam", "jos2012", "jos2000"),
    [
        (100.0, N, N),
        (80.0, N, N),          # boundary: low bone mass is YAM < 80 %, not <= 80 %
        (79.9, LOW, LOW),
        (75.0, LOW, LOW),
        (70.1, LOW, LOW),
        (70.0, OSTEO, LOW),    # jos2012: YAM <= 70 %; jos2000: YAM < 70 %
        (69.9, OSTEO, OSTEO),
        (62.0, OSTEO, OSTEO),
    ],
)
def test_classify_yam_boundaries(yam, jos2012, jos2000):
    assert classify_bone_status(yam, False, RULES["jos2012"]).status is jos2012
    assert classify_bone_status(yam, False, RULES["jos2000"]).status is jos2000


@pytest.mark.parametrize("sites", [None, "", "T7;T12", "L2", "Th12", "lumbar spine",
                                   "proximal femur", "hip", "第12胸椎"])
def test_classify_vertebral_or_hip_fracture_is_osteoporosis_at_any_yam(rules, sites):
    finding = classify_bone_status(85.0, True, rules, sites)
    assert finding.status is OSTEO
    assert finding.by_fracture
    assert "whatever the BMD" in finding.reason


@pytest.mark.parametrize("sites", ["rib", "pelvis", "proximal humerus", "distal radius",
                                   "lower leg", "wrist", "肋骨"])
def test_classify_other_fragility_fracture_needs_yam_below_80(rules, sites):
    assert classify_bone_status(85.0, True, rules, sites).status is N
    assert classify_bone_status(80.0, True, rules, sites).status is N
    at_79 = classify_bone_status(79.0, True, rules, sites)
    assert at_79.status is OSTEO  # without the fracture, 79 % would be low bone mass
    assert at_79.by_fracture
    assert classify_bone_status(79.0, False, rules, sites).status is LOW


def test_classify_unrecognised_site_is_treated_as_vertebral(rules):
    """The contract: fracture = yes means vertebral unless fracture_sites says otherwise."""
    assert fracture_site_kind("somewhere odd") == UNRECOGNISED
    assert classify_bone_status(90.0, True, rules, "somewhere odd").status is OSTEO


def test_classify_jos2000_fracture_needs_yam_below_80(rules_jos2000):
    """JOS 2000: a fragility fracture means osteoporosis only with YAM < 80 %; the 2012
    revision made a vertebral/hip fracture sufficient on its own (Soen 2013)."""
    assert classify_bone_status(85.0, True, rules_jos2000, "T12").status is N
    assert classify_bone_status(79.9, True, rules_jos2000, "T12").status is OSTEO


def test_classify_fracture_flag_false_ignores_sites(rules):
    assert classify_bone_status(90.0, False, rules, "T7;T12").status is N


@pytest.mark.parametrize(
    ("sites", "kind"),
    [(None, VERTEBRAL_OR_HIP), ("T7;T12", VERTEBRAL_OR_HIP), ("rib; T7", VERTEBRAL_OR_HIP),
     ("rib", OTHER_SITE), ("Rib, pelvis", OTHER_SITE), ("tibia", OTHER_SITE),
     ("finger", UNRECOGNISED)],
)
def test_fracture_site_kind(sites, kind):
    assert fracture_site_kind(sites) == kind


def test_classify_reason_carries_the_value(rules):
    assert classify_bone_status(73.0, False, rules).reason == "YAM 73 % < 80 %"
    assert classify_bone_status(70.0, False, rules).reason == "YAM 70 % ≤ 70 %"
    assert classify_bone_status(80.0, False, rules).reason == "YAM 80 % ≥ 80 %"


@pytest.mark.parametrize(
    ("z", "expected"),
    [(-2.0, ISCD_BELOW), (-2.5, ISCD_BELOW), (-1.9, ISCD_WITHIN), (0.0, ISCD_WITHIN),
     (None, None)],
)
def test_iscd_statement(rules, z, expected):
    assert iscd_statement(z, rules) == expected


# --- properties (hypothesis) ----------------------------------------------------------------

yams = st.floats(min_value=20, max_value=150, allow_nan=False).map(lambda v: round(v, 1))
sites = st.sampled_from([None, "T7;T12", "L1", "rib", "pelvis", "distal radius", "hip",
                         "unknown site"])
criteria = st.sampled_from(sorted(RULES))


@settings(max_examples=300, deadline=None)
@given(yam=yams, drop=st.floats(min_value=0, max_value=100), fracture=st.booleans(),
       where=sites, version=criteria)
def test_lowering_yam_never_improves_status(yam, drop, fracture, where, version):
    rules = RULES[version]
    before = classify_bone_status(yam, fracture, rules, where).status
    after = classify_bone_status(yam - drop, fracture, rules, where).status
    assert after.severity >= before.severity


@settings(max_examples=300, deadline=None)
@given(yam=yams, where=sites, version=criteria)
def test_adding_a_fracture_never_improves_status(yam, where, version):
    rules = RULES[version]
    without = classify_bone_status(yam, False, rules, where).status
    with_fracture = classify_bone_status(yam, True, rules, where).status
    assert with_fracture.severity >= without.severity


# --- the seed's Table 1 (clinical-rules.md §5) ------------------------------------------------

SEED_STATUS = {"1": OSTEO, "2": OSTEO, "3": LOW, "4": LOW, "5": N, "6": N, "7": N, "8": N,
               "9": N}


def test_seed_table1_classification_from_paper_values(rules):
    """From the paper's values typed into conftest, independent of the sample file."""
    for case, (_, _, yam, fracture) in SEED_TABLE1.items():
        sites = "T7;T12" if fracture else None
        assert classify_bone_status(yam, fracture, rules, sites).status is SEED_STATUS[case]


def test_seed_table1_classification_from_sample_file(rules):
    frame = load_input(SAMPLE_CSV).valid_frame
    scalar = {r["patient_id"]: assess_record(r, rules).finding.status
              for r in records_from_frame(frame)}
    assert scalar == SEED_STATUS
    vector = dict(zip(frame["patient_id"], assess_frame(frame, rules)["classification"],
                      strict=True))
    assert vector == {k: v.value for k, v in SEED_STATUS.items()}


def test_seed_case_2_is_osteoporosis_by_fracture_and_by_yam(rules):
    assert classify_bone_status(67, True, rules, "T7;T12").by_fracture
    assert classify_bone_status(67, False, rules).status is OSTEO
