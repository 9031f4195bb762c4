"""Change against the LSC, verdicts, device changes, statuses per scan (reportgen.followup)."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import base_record
from hypothesis import example, given
from hypothesis import strategies as st

from reportgen.assess import assess_record, assessment_json
from reportgen.followup import (
    LSC_FACTOR,
    PrecisionSource,
    Verdict,
    assess_scans,
    classify_change,
    compare_scans,
    site_changes,
    site_lsc,
    status_at,
)
from reportgen.models import BoneStatus
from reportgen.scans import Scan
from reportgen.settings import DxaSettings

D0, D1, D2 = date(2020, 6, 10), date(2020, 12, 14), date(2021, 6, 14)
ISCD = DxaSettings()


def scan(
    day: date,
    bmd: float,
    site: str = "L1-L4",
    *,
    yam: float | None = None,
    device: str | None = "Hologic A",
    excluded: tuple[str, ...] = (),
    t: float | None = None,
) -> Scan:
    return Scan(
        day, site, bmd, yam_percent=yam, t_score=t, device=device, excluded_vertebrae=excluded
    )


@pytest.mark.parametrize(
    ("change_pct", "lsc_pct", "expected"),
    [
        (5.3, 5.3, Verdict.INCREASE),  # equal to the LSC is significant (ISCD)
        (-5.3, 5.3, Verdict.DECREASE),
        (5.29, 5.3, Verdict.NO_SIGNIFICANT_CHANGE),
        (-5.29, 5.3, Verdict.NO_SIGNIFICANT_CHANGE),
        (5.31, 5.3, Verdict.INCREASE),
        (0.0, 5.3, Verdict.NO_SIGNIFICANT_CHANGE),
        (5.0, 5.0, Verdict.INCREASE),  # total hip
        (-6.9, 6.9, Verdict.DECREASE),  # femoral neck
        (6.89, 6.9, Verdict.NO_SIGNIFICANT_CHANGE),
        (0.0, 0.0, Verdict.NO_SIGNIFICANT_CHANGE),  # once a "significant decrease"
        (-0.0, 0.0, Verdict.NO_SIGNIFICANT_CHANGE),
    ],
)
def test_classify_change_at_the_lsc_boundary(change_pct, lsc_pct, expected):
    assert classify_change(change_pct, lsc_pct) is expected


@pytest.mark.parametrize(
    ("before", "after", "site", "change_pct", "verdict"),
    [
        # (after − before) / before × 100; 1.000 → 1.053 is 5.2999… in binary: still "equal".
        (1.000, 1.053, "L1-L4", 5.3, Verdict.INCREASE),
        (1.000, 0.947, "L1-L4", -5.3, Verdict.DECREASE),
        (0.717, 0.755, "L1-L4", 5.2999, Verdict.NO_SIGNIFICANT_CHANGE),  # just under 5.3
        (0.800, 0.840, "total_hip", 5.0, Verdict.INCREASE),
        (0.800, 0.761, "total_hip", -4.875, Verdict.NO_SIGNIFICANT_CHANGE),
        (0.650, 0.6949, "femoral_neck", 6.9077, Verdict.INCREASE),
        (0.650, 0.6948, "femoral_neck", 6.8923, Verdict.NO_SIGNIFICANT_CHANGE),
        (0.712, 0.768, "L1-L4", 7.8652, Verdict.INCREASE),
        (0.600, 0.633, "radius_1_3", 5.5, Verdict.INCREASE),  # 2.77 × 2.0 = 5.54 → 5.5
    ],
)
def test_compare_scans_change_and_verdict(before, after, site, change_pct, verdict):
    change = compare_scans(
        scan(D0, before, site), scan(D1, after, site), "previous", site_lsc(site, ISCD)
    )
    assert change.change_percent == pytest.approx(change_pct, abs=1e-3)
    assert change.change_g_cm2 == pytest.approx(after - before)
    assert change.verdict is verdict


@pytest.mark.parametrize(
    ("site", "precision", "lsc", "source"),
    [
        ("L1-L4", 1.9, 5.3, PrecisionSource.ISCD_DEFAULT),
        ("total_hip", 1.8, 5.0, PrecisionSource.ISCD_DEFAULT),
        ("femoral_neck", 2.5, 6.9, PrecisionSource.ISCD_DEFAULT),
        ("radius_1_3", 2.0, 5.5, PrecisionSource.REPORTGEN_DEFAULT),
        ("L2-L4", 1.9, 5.3, PrecisionSource.ISCD_DEFAULT),  # the L1–L4 value, with a note
    ],
)
def test_site_lsc_defaults(site, precision, lsc, source):
    found = site_lsc(site, ISCD)
    assert (found.precision_percent, found.lsc_percent, found.source) == (precision, lsc, source)
    assert bool(found.note) == (site == "L2-L4")


def test_site_lsc_uses_the_facility_precision():
    dxa = DxaSettings((("L1-L4", 1.0), ("total_hip", 1.2)), "JOS (Hologic)")
    assert site_lsc("L1-L4", dxa).lsc_percent == 2.8  # 2.77 × 1.0
    assert site_lsc("L1-L4", dxa).source is PrecisionSource.FACILITY
    assert site_lsc("total_hip", dxa).lsc_percent == 3.3  # 3.324
    assert site_lsc("femoral_neck", dxa).source is PrecisionSource.ISCD_DEFAULT
    # A facility LSC of 2.8 % makes a 3 % gain significant that the ISCD default would not.
    change = compare_scans(scan(D0, 1.0), scan(D1, 1.03), "previous", site_lsc("L1-L4", dxa))
    assert change.verdict is Verdict.INCREASE


@pytest.mark.parametrize(
    ("device_a", "device_b", "comparable"),
    [
        ("Hologic Horizon A", "Hologic Horizon A", True),
        ("Hologic Horizon A", "hologic  horizon a", True),  # case and spacing are not a device
        ("Hologic Horizon A", "GE Lunar Prodigy", False),
        (None, "GE Lunar Prodigy", True),  # not recorded: assumed the same (said in the notes)
        (None, None, True),
    ],
)
def test_no_verdict_across_devices(device_a, device_b, comparable):
    change = compare_scans(
        scan(D0, 0.7, device=device_a),
        scan(D1, 0.9, device=device_b),
        "previous",
        site_lsc("L1-L4", ISCD),
    )
    assert (change.verdict is not None) == comparable
    if not comparable:
        assert "different device" in change.reason


def test_no_verdict_across_different_excluded_vertebrae():
    change = compare_scans(
        scan(D0, 0.7), scan(D1, 0.9, excluded=("L2",)), "previous", site_lsc("L1-L4", ISCD)
    )
    assert change.verdict is None
    assert "different vertebrae" in change.reason


def test_site_changes_previous_and_baseline():
    scans = [scan(D0, 0.712), scan(D1, 0.768), scan(D2, 0.806)]
    changes = site_changes(scans, ISCD)
    got = [
        (c.basis, c.earlier.scan_date, c.later.scan_date, round(c.change_percent, 1), c.verdict)
        for c in changes
    ]
    assert got == [
        ("previous", D0, D1, 7.9, Verdict.INCREASE),
        ("baseline", D0, D1, 7.9, Verdict.INCREASE),
        ("previous", D1, D2, 4.9, Verdict.NO_SIGNIFICANT_CHANGE),
        ("baseline", D0, D2, 13.2, Verdict.INCREASE),
    ]


def test_device_change_then_same_device():
    """A → B → B: the B → B pair gets a verdict, neither pair with A does."""
    scans = [scan(D0, 0.70, device="A"), scan(D1, 0.80, device="B"), scan(D2, 0.85, device="B")]
    by_pair = {(c.basis, c.later.scan_date): c.verdict for c in site_changes(scans, ISCD)}
    assert by_pair == {
        ("previous", D1): None,
        ("baseline", D1): None,
        ("previous", D2): Verdict.INCREASE,
        ("baseline", D2): None,
    }


def test_several_sites_each_against_its_own_lsc():
    scans = [
        scan(D0, 0.712),
        scan(D0, 0.742, "total_hip"),
        scan(D0, 0.650, "femoral_neck"),
        scan(D1, 0.752),
        scan(D1, 0.782, "total_hip"),
        scan(D1, 0.690, "femoral_neck"),
    ]
    verdicts = {
        c.site: (round(c.change_percent, 2), c.lsc.lsc_percent, c.verdict)
        for c in site_changes(scans, ISCD)
        if c.basis == "previous"
    }
    assert verdicts == {
        "L1-L4": (5.62, 5.3, Verdict.INCREASE),
        "total_hip": (5.39, 5.0, Verdict.INCREASE),
        "femoral_neck": (6.15, 6.9, Verdict.NO_SIGNIFICANT_CHANGE),
    }


def test_missing_baseline_site_has_no_change(rules):
    """Total hip first measured at the follow-up: nothing to compare, said in the report."""
    scans = [scan(D0, 0.712, yam=67), scan(D1, 0.768, yam=72), scan(D1, 0.742, "total_hip", yam=84)]
    follow_up = assess_scans(base_record(), scans, rules, ISCD)
    assert {c.site for c in follow_up.changes} == {"L1-L4"}
    assert follow_up.single_sites == ("total_hip",)


@pytest.mark.parametrize(
    ("scans", "status", "site", "yam"),
    [
        # the lowest %YAM among lumbar spine and proximal femur decides (JOS)
        (
            [scan(D0, 0.8, yam=82), scan(D0, 0.7, "total_hip", yam=76)],
            BoneStatus.LOW_BONE_MASS,
            "total_hip",
            76,
        ),
        (
            [scan(D0, 0.8, yam=69), scan(D0, 0.7, "femoral_neck", yam=76)],
            BoneStatus.OSTEOPOROSIS,
            "L1-L4",
            69,
        ),
        # the radius never decides while the spine or hip has a %YAM
        (
            [scan(D0, 0.8, yam=85), scan(D0, 0.5, "radius_1_3", yam=60)],
            BoneStatus.NORMAL,
            "L1-L4",
            85,
        ),
        # a T-score ≤ −2.5 at a site with a higher %YAM still makes it osteoporosis (JOS 2012)
        (
            [scan(D0, 0.8, yam=75), scan(D0, 0.6, "femoral_neck", yam=78, t=-2.6)],
            BoneStatus.OSTEOPOROSIS,
            "femoral_neck",
            78,
        ),
    ],
)
def test_status_at_one_visit(scans, status, site, yam, rules):
    found = status_at(scans, False, None, rules)
    assert found is not None
    assert (found.finding.status, found.deciding.site, found.deciding.yam_percent) == (
        status,
        site,
        yam,
    )


def test_status_without_a_spine_or_hip_yam(rules):
    assert (
        status_at([scan(D0, 0.5, "radius_1_3", yam=60), scan(D0, 0.8)], False, None, rules) is None
    )


def test_assessment_reads_the_latest_scan(rules):
    record = base_record(
        yam_percent=67.0,
        _scans=[scan(D0, 0.712, yam=67, t=-2.9), scan(D1, 0.768, yam=72), scan(D2, 0.860, yam=81)],
    )
    assessment = assess_record(record, rules)
    assert assessment.finding.status is BoneStatus.NORMAL
    document = assessment_json(
        assessment, rules, tool_version="t", generated_at="g", source_name="s"
    )
    assert document["classification"] == "normal"
    assert document["first_scan_classification"] == "osteoporosis"
    assert document["scan_status"]["latest"]["scan_date"] == "2021-06-14"
    assert document["yam_percent"] == 81
    assert document["input"]["yam_percent"] == 67.0  # the input as given
    assert document["report_kind"] == "follow_up"
    entry = document["follow_up"][-1]
    assert set(entry) >= {
        "site",
        "from",
        "to",
        "basis",
        "change_g_cm2",
        "change_percent",
        "lsc_percent",
        "verdict",
    }
    assert (entry["basis"], entry["from"], entry["to"], entry["verdict"]) == (
        "baseline",
        "2020-06-10",
        "2021-06-14",
        "increase",
    )


def test_fracture_keeps_osteoporosis_at_every_scan(rules):
    record = base_record(
        fracture=True,
        fracture_sites="T7;T12",
        _scans=[scan(D0, 0.712, yam=67), scan(D2, 0.860, yam=81)],
    )
    follow_up = assess_record(record, rules).follow_up
    assert follow_up.first.finding.status is BoneStatus.OSTEOPOROSIS
    assert follow_up.latest.finding.status is BoneStatus.OSTEOPOROSIS
    assert follow_up.latest.finding.by_fracture


def test_device_change_is_a_page1_warning(rules):
    record = base_record(
        _scans=[scan(D0, 0.7, yam=70, device="A"), scan(D1, 0.8, yam=80, device="B")]
    )
    assessment = assess_record(record, rules)
    warning = [q for q in assessment.quality_flags if q.flag_id == "dxa_not_comparable"]
    assert warning
    assert warning[0].severity == "warning"
    assert any(s.statement_id == "dxa_not_comparable" for s in assessment.statements)
    assert all(c.verdict is None for c in assessment.follow_up.changes)


def test_record_without_scans_is_unchanged(rules):
    document = assessment_json(
        assess_record(base_record(), rules),
        rules,
        tool_version="t",
        generated_at="g",
        source_name="s",
    )
    assert "follow_up" not in document
    assert "scan_status" not in document


bmds = st.floats(min_value=0.2, max_value=2.0, allow_nan=False)
precisions = st.floats(min_value=0.1, max_value=10.0, allow_nan=False)


@given(bmds, bmds, precisions)
@example(1.0, 1.0, 5.0)  # 2.77 x 5 = 13.85: half up, 13.9
def test_verdict_agrees_with_the_percent_change(before, after, precision):
    dxa = DxaSettings((("L1-L4", precision),))
    change = compare_scans(scan(D0, before), scan(D1, after), "previous", site_lsc("L1-L4", dxa))
    pct = (after - before) / before * 100
    assert change.change_percent == pytest.approx(pct)
    lsc = change.lsc.lsc_percent
    # the LSC to 0.1 %: within half a step of 2.77 x precision (not Python's round(), whose
    # binary halves go either way: round(13.85, 1) == 13.8)
    assert abs(lsc - LSC_FACTOR * precision) <= 0.05 + 1e-9
    assert lsc == round(lsc, 1)
    if abs(pct) >= lsc + 1e-6:
        assert change.verdict is (Verdict.INCREASE if pct > 0 else Verdict.DECREASE)
    elif abs(pct) < lsc - 1e-6:
        assert change.verdict is Verdict.NO_SIGNIFICANT_CHANGE


@given(
    st.lists(
        st.tuples(
            st.dates(date(2000, 1, 1), date(2025, 1, 1)), bmds, st.sampled_from(["A", "B", None])
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda t: t[0],
    )
)
def test_no_verdict_is_ever_given_across_two_devices(points):
    scans = [scan(d, b, device=dev) for d, b, dev in points]
    for change in site_changes(scans, ISCD):
        a, b = change.earlier.device, change.later.device
        if a and b and a != b:
            assert change.verdict is None
        else:
            assert change.verdict is not None


@pytest.mark.parametrize(("excluded", "flagged"), [((), True), (("L2",), False)])
def test_fracture_at_an_excluded_vertebra_is_not_in_the_region(rules, excluded, flagged):
    """ISCD: a fractured vertebra is excluded; once it is, the YAM no longer overstates."""
    record = base_record(
        fracture=True, fracture_sites="L2", _scans=[scan(D0, 0.8, yam=75, excluded=excluded)]
    )
    assessment = assess_record(record, rules)
    ids = [q.flag_id for q in assessment.quality_flags]
    assert ("fracture_in_dxa_region" in ids) is flagged
    if excluded:
        assert assessment.patient["dxa_site"] == "L1, L3, L4"


def test_lsc_is_rounded_half_up_at_the_boundary():
    """2.77 x 5.0 % = 13.85 % exactly in decimal: the LSC is 13.9 %, not round()'s 13.8 %."""
    assert site_lsc("L1-L4", DxaSettings((("L1-L4", 5.0),))).lsc_percent == 13.9
