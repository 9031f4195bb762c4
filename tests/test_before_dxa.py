"""Before the DXA (contract §5, v2): not measured, exposure so far with --as-of, labs with
units, reference intervals and albumin-corrected calcium, discharge details — end to end."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from reportgen.errors import ReportError
from reportgen.exposure import (
    PROJECTION_HORIZON,
    check_as_of,
    cumulative_series,
    exposure_so_far,
    totals,
)
from reportgen.labs import corrected_calcium, flag, lab_results, load_intervals

ROOT = Path(__file__).resolve().parents[1]
INPATIENT = ROOT / "input" / "inpatient_running.json"
DISCHARGE = ROOT / "input" / "discharge_no_dxa.csv"
LABS = ROOT / "input" / "labs_series.csv"
INDEX = ROOT / "input" / "index_case_2.json"
T0 = datetime(2025, 3, 1, 8, 0)


# --- exposure so far ---------------------------------------------------------------------


def test_running_infusion_counts_up_to_as_of():
    infusions = [(T0, T0 + timedelta(hours=24), 1.0), (T0 + timedelta(hours=24), None, 2.0)]
    as_of = T0 + timedelta(hours=48)
    exposure = exposure_so_far(infusions, as_of, 1000.0)
    assert exposure["cumulative_g"] == 24 * 1.0 + 24 * 2.0
    assert exposure["days"] == 3  # 1, 2 and 3 March
    assert exposure["current_rate_g_per_h"] == 2.0
    hours_left = (1000 - 72) / 2.0
    assert (
        exposure["projected_threshold_date"]
        == (as_of + timedelta(hours=hours_left)).date().isoformat()
    )


def test_no_projection_when_not_infusing_or_already_past():
    done = [(T0, T0 + timedelta(hours=10), 2.0)]
    assert exposure_so_far(done, T0 + timedelta(days=3), 1000.0)["projected_threshold_date"] is None
    past = [(T0, None, 20.0)]
    exposure = exposure_so_far(past, T0 + timedelta(hours=60), 1000.0)
    assert exposure["cumulative_g"] == 1200.0
    assert exposure["projected_threshold_date"] is None


def test_infusions_after_as_of_are_not_counted():
    later = [(T0 + timedelta(days=5), None, 2.0)]
    assert totals(later, T0) == (0, 0.0)


@settings(max_examples=examples(200), deadline=None)
@given(
    hours=st.integers(1, 2000),
    more=st.integers(0, 500),
    rate=st.floats(min_value=0.1, max_value=4.0),
)
def test_cumulative_dose_never_falls_as_time_goes_on(hours, more, rate):
    infusions = [(T0, None, rate)]
    a = totals(infusions, T0 + timedelta(hours=hours))[1]
    b = totals(infusions, T0 + timedelta(hours=hours + more))[1]
    assert b >= a
    assert a == pytest.approx(rate * hours)


@pytest.mark.parametrize(
    ("rate", "projected"),
    [
        (1.0, True),  # 1,000 g in 1,000 h: 42 days ahead
        (1000 / (366 * 24), True),  # exactly a year (366 days) ahead
        (1000 / (366 * 24) * 0.999, False),
        (0.00001, False),  # 11,000 years ahead: once an OverflowError
        (1e-300, False),
    ],
)
def test_no_projection_beyond_a_year(rate, projected):
    exposure = exposure_so_far([(T0, None, rate)], T0, 1000.0)
    assert (exposure["projected_threshold_date"] is not None) == projected
    if projected:
        ahead = datetime.fromisoformat(exposure["projected_threshold_date"]) - T0
        assert ahead <= PROJECTION_HORIZON


_INFUSION = st.tuples(
    st.integers(0, 24 * 40).map(lambda h: T0 + timedelta(hours=h)),
    st.one_of(st.none(), st.integers(1, 24 * 10)),
    st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 4.0]),
).map(lambda t: (t[0], None if t[1] is None else t[0] + timedelta(hours=t[1]), t[2]))


@settings(max_examples=examples(300), deadline=None)
@given(infusions=st.lists(_INFUSION, min_size=1, max_size=8), as_of_h=st.integers(0, 24 * 50))
def test_the_chart_series_sweep_equals_the_totals_at_each_moment(infusions, as_of_h):
    """The one-pass series (20,000 infusions once took minutes) against totals() per point."""
    as_of = T0 + timedelta(hours=as_of_h)
    series = cumulative_series(infusions, as_of)
    assert [m for m, _ in series] == sorted({m for m, _ in series})
    for moment, grams in series:
        assert grams == pytest.approx(totals(infusions, min(moment, as_of))[1], abs=1e-6)


@pytest.mark.parametrize(
    ("moment", "ok"),
    [
        (datetime(1899, 12, 31, 23, 59), False),
        (datetime(1900, 1, 1), True),
        (datetime(2026, 12, 1, 23, 59), True),  # today 30 Nov + a day's slack
        (datetime(2026, 12, 2), False),
        (datetime(1, 1, 1), False),  # once 0 g and no dose flags, or a pandas crash
    ],
)
def test_as_of_lies_from_1900_to_today(moment, ok):
    today = datetime(2026, 11, 30).date()
    if ok:
        assert check_as_of(moment, today) == moment
    else:
        with pytest.raises(ReportError, match="not from 1900-01-01 to today"):
            check_as_of(moment, today)


@pytest.mark.parametrize("as_of", ["0001-01-01", "1899-12-31", "9999-12-31"])
def test_an_as_of_outside_the_dates_is_a_usage_error(run_reportgen, as_of):
    for command in ("validate", "patient"):
        result = run_reportgen(command, INPATIENT, "--as-of", as_of)
        assert result.exit_code == 2
        assert "--as-of" in result.stderr
        assert "not from 1900-01-01 to today" in result.stderr


def test_the_api_checks_the_as_of_on_both_input_paths():
    from reportgen.inputs import load_input, load_patient_input

    for load in (load_input, load_patient_input):
        with pytest.raises(ReportError, match="not from 1900-01-01 to today"):
            load(INPATIENT, as_of=datetime(1, 1, 1))


def test_an_as_of_before_every_infusion_is_a_warning(run_reportgen):
    result = run_reportgen("validate", INPATIENT, "--as-of", "2000-01-01")
    assert result.exit_code == 0
    assert (
        "infusions: warning: --as-of 2000-01-01 00:00 is before the first infusion: "
        "no MgSO4 counted" in result.stdout
    )


# --- labs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ca", "albumin", "expected"),
    [
        (8.4, 3.0, 9.2),
        (8.0, 3.99, 8.01),
        (8.0, 4.0, None),
        (8.0, 4.5, None),
        (8.0, None, None),
        (9.0, 2.0, 10.6),
    ],
)
def test_payne_correction_only_below_four(ca, albumin, expected):
    value = corrected_calcium(ca, albumin)
    assert value == (None if expected is None else pytest.approx(expected, abs=0.005))


@pytest.mark.parametrize(
    ("value", "expected"), [(8.7, "low"), (8.8, "normal"), (10.1, "normal"), (10.2, "high")]
)
def test_interval_limits_are_normal(value, expected):
    assert flag(value, 8.8, 10.1) == expected


def test_calcium_is_flagged_on_the_corrected_value():
    results = lab_results({"serum_ca_mg_dl": 8.4, "albumin_g_dl": 3.0})
    calcium = next(r for r in results if r.test == "serum_ca")
    assert calcium.value == 8.4
    assert calcium.corrected_value == pytest.approx(9.2)
    assert calcium.flag == "normal"  # 8.4 alone would read low


def test_settings_override_an_interval(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        '[organisation]\nname = "X"\n\n[labs.serum_ca]\nlow = 8.5\nhigh = 10.4\n', encoding="utf-8"
    )
    intervals = load_intervals(path)
    assert (intervals["serum_ca"].low, intervals["serum_ca"].high) == (8.5, 10.4)
    bad = tmp_path / "bad.toml"
    bad.write_text("[labs.serum_ca]\nlow = 11\nhigh = 10\n", encoding="utf-8")
    with pytest.raises(Exception, match="low .* must be below high"):
        load_intervals(bad)


def test_lab_file_errors_are_located_and_no_unit_is_converted(run_reportgen, tmp_path):
    labs = tmp_path / "labs.csv"
    labs.write_text(
        "patient_id,date,test,value,unit\n"
        "1,2025-01-02,serum_ca,2.2,mmol/L\n"
        "nobody,2025-01-02,serum_ca,9.0,mg/dL\n"
        "1,2025-01-02,calcitonin,9.0,pg/mL\n"
        "1,2025-13-02,albumin,4.0,g/dL\n"
        "2,2025-01-02,serum_ca,9.1,MG/DL\n",
        encoding="utf-8",
    )
    result = run_reportgen("validate", ROOT / "input" / "case_series_2020.csv", "--labs", labs)
    assert result.exit_code == 1
    out = result.stdout
    assert (
        f"{labs}:2:unit: serum_ca is recorded in mg/dL, not 'mmol/L' (no conversion is made)" in out
    )
    assert f"{labs}:3:patient_id: no patient with this id in the main input" in out
    assert f"{labs}:4:test: unknown test 'calcitonin'" in out
    assert f"{labs}:5:date: not a date" in out
    assert f"{labs}:6:" not in out  # MG/DL is the same unit, spelt differently


def test_lab_values_and_dates_are_read_as_the_main_input_reads_them(tmp_path):
    """A ';' lab file's "1,5" mg/dL once became 15 (toxic-high, with a recommendation);
    "1_0", a bare year and a date in 2099 were accepted. Now: the main input's parsers."""
    from reportgen.labs import load_lab_draws

    semi = tmp_path / "semi.csv"
    semi.write_text(
        "patient_id;date;test;value;unit\n"
        "W-301;2025-02-10;serum_mg;1,5;mg/dL\n"
        "W-301;2025-02-12;p1np;1_0;µg/L\n"
        "W-301;2099-01-01;serum_p;4;mg/dL\n"
        "W-301;2025;tracp5b;300;mU/dL\n"
        "W-301;2025-02-13;albumin;3,4;g/dL\n",
        encoding="utf-8",
    )
    draws, problems, bad = load_lab_draws(semi, {"W-301"})
    assert [(p.row, p.column, p.message) for p in problems] == [
        (3, "value", "not a number"),
        (4, "date", "not a date from 1900-01-01 to today (use YYYY-MM-DD, no time zone)"),
        (5, "date", "not a date from 1900-01-01 to today (use YYYY-MM-DD, no time zone)"),
    ]
    assert bad == {"W-301"}
    assert [(d["test"], d["value"]) for d in draws["W-301"]] == [
        ("serum_mg", 1.5),
        ("albumin", 3.4),
    ]
    comma = tmp_path / "comma.csv"
    comma.write_text(
        'patient_id,date,test,value,unit\nW-301,2025-02-10,serum_mg,"1,5",mg/dL\n', "utf-8"
    )
    _, problems, _ = load_lab_draws(comma, {"W-301"})
    assert [(p.row, p.column, p.message) for p in problems] == [(2, "value", "not a number")]


# --- the not-measured path and the inpatient, through the CLI --------------------------------


def test_missing_yam_column_is_still_refused(run_reportgen, tmp_path):
    path = tmp_path / "no_yam.csv"
    path.write_text(
        "patient_id,age_years,bmi_kg_m2,mgso4_days,mgso4_total_g,fracture\na,30,21,10,500,no\n",
        encoding="utf-8",
    )
    result = run_reportgen("validate", path)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{path}:1:yam_percent: ")  # wording: test_validation.py


def test_running_infusion_needs_as_of(run_reportgen):
    result = run_reportgen("validate", INPATIENT)
    assert result.exit_code == 1
    assert "infusions[2].end: still running (null): give --as-of" in result.stdout
    assert run_reportgen("validate", INPATIENT, "--as-of", "2025-03-01").exit_code == 0
    bad = run_reportgen("validate", INPATIENT, "--as-of", "March 1st")
    assert bad.exit_code == 2
    assert "an ISO date or date-time" in bad.stderr


@pytest.fixture(scope="module")
def inpatient(run_reportgen, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("inpatient")
    result = run_reportgen(
        "patient",
        INPATIENT,
        "-o",
        out,
        "--as-of",
        "2025-03-01",
        "--labs",
        LABS,
        "--format",
        "json,pdf",
    )
    assert result.exit_code == 0, result.output
    document = json.loads((out / "patient-W-301.json").read_text("utf-8"))
    reader = PdfReader(out / "patient-W-301.pdf")
    return {"json": document, "pages": [p.extract_text() for p in reader.pages]}


def test_inpatient_exposure_and_plan(inpatient):
    document = inpatient["json"]
    assert document["classification"] == "not_measured"
    assert document["exposure"] == {
        "as_of": "2025-03-01T00:00",
        "cumulative_g": 694.5,
        "days": 25,
        "current_rate_g_per_h": 1.5,
        "projected_threshold_date": "2025-03-09",
        "threshold_g": 1000.0,
    }
    assert {
        "vertebral_fracture_imaging",
        "plan_postpartum_dxa",
        "correct_abnormal_labs",
        "monitor_calcium_during_tocolysis",
    } <= set(document["recommendations"])
    assert "dxa_follow_up" not in document["recommendations"]
    calcium = [lab for lab in document["labs"] if lab["test"] == "serum_ca"]
    assert [c["date"] for c in calcium] == ["2025-02-10", "2025-02-24", None]
    assert calcium[1]["corrected_value"] == pytest.approx(8.2 + 0.8 * 0.8)


def test_inpatient_pdf_never_prints_a_bone_status(inpatient):
    page1 = " ".join(inpatient["pages"][0].split())
    assert "MgSO4 exposure and bone-health plan — DXA pending" in page1
    assert "Not measured yet — DXA pending" in page1
    assert "Passes 1,000 g at this rate 2025-03-09" in page1
    text = " ".join(" ".join(inpatient["pages"]).split())
    for status in ("Osteoporosis ", "Low bone mass ", "Normal "):
        assert f"BONE STATUS (JOS 2012) {status}" not in text
    assert len(inpatient["pages"]) <= 2


@pytest.mark.slow
def test_discharge_without_dxa_shows_the_discharge_details(run_reportgen, tmp_path):
    result = run_reportgen("patient", DISCHARGE, "-o", tmp_path, "--format", "json,pdf")
    assert result.exit_code == 0, result.output
    page1 = " ".join(PdfReader(tmp_path / "patient-D-101.pdf").pages[0].extract_text().split())
    for text in (
        "GA at MgSO4 start 26+1 weeks",
        "GA at delivery 32+0 weeks",
        "caesarean",
        "Feeding plan breast",
        "Follow-up 2025-07-15",
        "Bone health clinic",
        "Physician Dr Sato",
    ):
        assert text in page1, text
    document = json.loads((tmp_path / "patient-D-101.json").read_text("utf-8"))
    assert document["classification"] == "not_measured"
    assert "plan_postpartum_dxa" in document["recommendations"]


def test_cohort_counts_not_measured_apart(run_reportgen, tmp_path):
    rows = (ROOT / "input" / "case_series_2020.csv").read_text("utf-8").splitlines()
    rows.append("X1,30,21,1,0,never,40,30,1500,,no,,L1-L4,no")
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_reportgen("cohort", path, "-o", tmp_path / "out", "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "cohort-summary.json").read_text("utf-8"))
    assert summary["n"] == 10
    assert summary["not_measured"] == 1
    assert summary["classification_counts"] == {"normal": 5, "low_bone_mass": 2, "osteoporosis": 2}
    assert summary["low_bone_mass_or_worse"]["percent"] == pytest.approx(400 / 9)
    assert summary["yam_below_threshold"]["denominator"] == 9
    assert summary["means"]["yam_percent"] == pytest.approx(727 / 9)
    assert "counted apart" in summary["cautions"][0]


def test_magnesium_during_infusion_is_high_only_above_the_therapeutic_range(inpatient):
    """A raised Mg during MgSO4 infusion is intended: not a lab to "correct" (clinician review)."""
    magnesium = [lab for lab in inpatient["json"]["labs"] if lab["test"] == "serum_mg"]
    assert magnesium
    assert all(lab["flag"] == "normal" and lab["high"] == 8.4 for lab in magnesium)
    record = {
        "serum_mg_mg_dl": 9.1,
        "_as_of": "2025-03-01T00:00",
        "_infusions": [["2025-02-20T09:00:00", None, 1.5]],
    }
    assert next(r for r in lab_results(record) if r.test == "serum_mg").flag == "high"
    after = {"serum_mg_mg_dl": 5.2}  # no infusion: the usual interval
    assert next(r for r in lab_results(after) if r.test == "serum_mg").flag == "high"


def test_an_infusion_after_the_delivery_is_warned_on_page_1(tmp_path):
    """Tocolysis ends at delivery: an infusion dated after it (a month or year slip) raised
    both MgSO4 flags silently."""
    from reportgen.assess import assess_record
    from reportgen.frames import records_from_frame
    from reportgen.inputs import load_input
    from reportgen.rules import load_rules

    patient = json.loads(INDEX.read_text("utf-8")) | {"delivery_date": "2020-03-10"}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(patient), "utf-8")
    (record,) = records_from_frame(load_input(path).valid_frame)
    statements = assess_record(record, load_rules()).statements
    (warning,) = [s for s in statements if s.statement_id == "mgso4_after_delivery"]
    assert warning.text.startswith("MgSO4 infusion recorded until 2020-05-25, after the delivery")


@pytest.mark.parametrize(
    ("start", "days", "passes"),
    [
        ("2025-02-26T09:00", 4, "2025-03-06"),
        ("2025-02-22T09:00", 8, "2025-03-02"),  # day 8 of 8: long-term tomorrow
    ],
)
def test_a_running_infusion_says_when_it_becomes_long_term(tmp_path, start, days, passes):
    """ "Absent" at day 3 of a running infusion read as final; the day it passes 8 days is said."""
    from reportgen.assess import assess_record
    from reportgen.frames import records_from_frame
    from reportgen.inputs import load_input
    from reportgen.rules import load_rules

    patient = {
        "patient_id": "I", "age_years": 30, "bmi_kg_m2": 21, "yam_percent": None,
        "fracture": "no", "infusions": [{"start": start, "end": None, "rate_g_per_h": 1}],
    }  # fmt: skip
    path = tmp_path / "p.json"
    path.write_text(json.dumps(patient), "utf-8")
    table = load_input(path, as_of=datetime(2025, 3, 1, 9, 0))
    (record,) = records_from_frame(table.valid_frame)
    results = assess_record(record, load_rules()).rule_results
    (long_term,) = [r for r in results if r.rule_id == "mgso4_long_term"]
    assert long_term.explanation == (
        f"MgSO4 tocolysis {days} days ≤ 8 days so far; more than 8 days on {passes} if the "
        "infusion goes on"
    )


def test_the_magnesium_head_shows_the_reference_interval_and_its_note_only_with_an_infusion():
    """A clinician read "ref. 1.8 – 8.4" (the therapeutic top, no reference interval), and the
    "a high value is intended during infusion" note beside a woman who was not infusing."""
    from reportgen.context import _lab_table

    infusing = {
        "serum_mg_mg_dl": 6.1,
        "_infusions": [["2025-02-20T08:00:00", None, 1.0]],
        "_as_of": "2025-03-01T00:00",
    }
    not_infusing = {"serum_mg_mg_dl": 7.5}
    for record, note in ((infusing, True), (not_infusing, False)):
        table = _lab_table(lab_results(record))
        (column,) = [c for c in table["columns"] if c["unit"] == "mg/dL"]
        assert column["interval"] == "1.8 – 2.4"
        assert bool(column["note"]) is note
        assert any("† drawn during the MgSO4 infusion" in n for n in table["notes"]) is note


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("low = -1e300\nhigh = 10.1\n", "labs.serum_ca.low -1e+300 is outside the plausible"),
        ("high = 1e300\n", "labs.serum_ca.high 1e+300 is outside the plausible"),
        ("source = 5\n", "labs.serum_ca.source must be text"),
    ],
)
def test_settings_lab_intervals_stay_plausible(tmp_path, body, message):
    path = tmp_path / "s.toml"
    path.write_text("[labs.serum_ca]\n" + body, encoding="utf-8")
    with pytest.raises(Exception, match=re.escape(message)):
        load_intervals(path)
