"""Loading and validating DXA scans: sites, located errors, the patient JSON's scans list."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import ROOT, examples
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen.api import load_input, load_scan_set, validate_input
from reportgen.errors import ReportError
from reportgen.scans import PatientDates, load_scans
from reportgen.settings import load_dxa_settings
from reportgen.sites import SiteError, parse_site, parse_vertebrae

TODAY = date(2026, 11, 30)
PATIENTS = {"2": PatientDates(36, date(2020, 5, 26)), "3": PatientDates(34, None)}
HEADER = "patient_id,scan_date,site,bmd_g_cm2,yam_percent,device,excluded_vertebrae\n"


def write(tmp_path: Path, body: str, name: str = "scans.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, "utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "site"),
    [
        ("L1-L4", "L1-L4"),
        ("l1–l4", "L1-L4"),
        ("L2-L4", "L2-L4"),
        ("L1-4", "L1-L4"),
        ("Total hip", "total_hip"),
        ("femoral neck", "femoral_neck"),
        ("Radius 1/3", "radius_1_3"),
        ("腰椎", "L1-L4"),
        ("大腿骨頸部", "femoral_neck"),
        ("L1ーL4", None),
    ],
)
def test_parse_site(text, site):
    if site is None:
        with pytest.raises(SiteError):
            parse_site(text)
    else:
        assert parse_site(text) == site


@pytest.mark.parametrize("text", ["L3", "L3-L3", "L4-L2", "hip bone", ""])
def test_parse_site_refuses(text):
    with pytest.raises(SiteError):
        parse_site(text)


@pytest.mark.parametrize(
    ("text", "site", "expected"),
    [
        ("L2", "L1-L4", ("L2",)),
        ("L2;L3", "L1-L4", ("L2", "L3")),
        ("L3, L2", "L1-L4", ("L2", "L3")),
        ("L2-L3", "L1-L4", ("L2", "L3")),
    ],
)
def test_parse_vertebrae(text, site, expected):
    assert parse_vertebrae(text, site) == expected


@pytest.mark.parametrize(
    ("text", "site"), [("L1", "L2-L4"), ("L2;L3", "L2-L4"), ("L2", "total_hip"), ("T12", "L1-L4")]
)
def test_parse_vertebrae_refuses(text, site):
    with pytest.raises(SiteError):
        parse_vertebrae(text, site)


def test_valid_scans_are_grouped_and_sorted(tmp_path):
    path = write(
        tmp_path,
        "2,2021-06-14,L1-L4,0.806,76,Hologic,\n"
        "2,2020-06-10,total hip,0.742,84,Hologic,\n"
        "2,2020-06-10,L1-L4,0.712,67,Hologic,L2\n",
    )
    found = load_scans(path, PATIENTS, today=TODAY)
    assert found.problems == []
    scans = found.by_patient["2"]
    assert [(s.scan_date.isoformat(), s.site) for s in scans] == [
        ("2020-06-10", "L1-L4"),
        ("2020-06-10", "total_hip"),
        ("2021-06-14", "L1-L4"),
    ]
    assert scans[0].excluded_vertebrae == ("L2",)
    assert scans[0].label == "L1–L4 (L2 excluded)"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("99,2020-06-10,L1-L4,0.7,,,", "scans.csv:2:patient_id: not in the main input: '99'"),
        ("2,2020-06-10,L3,0.7,,,", "scans.csv:2:site: a lumbar site needs at least two vertebrae"),
        ("2,2020-06-10,shin,0.7,,,", "scans.csv:2:site: unknown site"),
        ("2,2030-01-01,L1-L4,0.7,,,", "scans.csv:2:scan_date: not a date from 1900-01-01 to today"),
        (
            "2,1982-01-01,L1-L4,0.7,,,",
            "scans.csv:2:scan_date: 1982-01-01 is before DXA was in clinical use",
        ),
        # born 1983 at the earliest (36 at delivery in 2020)
        ("2,1990-01-01,L1-L4,0.7,,,", ""),
        ("2,2020-13-01,L1-L4,0.7,,,", "scans.csv:2:scan_date: not a date"),
        ("2,2020-06-10,L1-L4,,,,", "scans.csv:2:bmd_g_cm2: required value missing"),
        ("2,2020-06-10,L1-L4,7.1,,,", "scans.csv:2:bmd_g_cm2: outside the plausible range"),
        (
            "2,2020-06-10,L1-L4,0.7,67,,L1;L2;L3",
            "scans.csv:2:excluded_vertebrae: excluding L1, L2, L3 leaves fewer than two vertebrae",
        ),
    ],
)
def test_located_scan_errors(tmp_path, row, expected):
    found = load_scans(write(tmp_path, row + "\n"), PATIENTS, today=TODAY)
    shown = [str(p).replace(str(tmp_path) + "/", "") for p in found.errors]
    if not expected:
        assert shown == []
    else:
        assert len(shown) == 1, shown
        assert shown[0].startswith(expected)
        assert found.bad_ids == ({"2"} if row.startswith("2,") else set())


def test_scan_before_birth_is_an_error(tmp_path):
    found = load_scans(
        write(tmp_path, "2,1987-06-01,L1-L4,0.7,,,\n"),
        {"2": PatientDates(20, date(2020, 5, 26))},
        today=TODAY,
    )
    assert "before her birth (born 1999 or later" in str(found.errors[0])


def test_duplicate_scan_site_rows(tmp_path):
    found = load_scans(
        write(tmp_path, "2,2020-06-10,L1-L4,0.712,67,,\n2,2020-06-10,L1–L4,0.713,67,,\n"),
        PATIENTS,
        today=TODAY,
    )
    assert [str(p).split("/")[-1] for p in found.errors] == [
        "scans.csv:3:site: duplicate scan: L1-L4 on 2020-06-10 (first in row 2)"
    ]


def test_missing_required_column_makes_every_patient_invalid(tmp_path):
    path = tmp_path / "scans.csv"
    path.write_text("patient_id,scan_date,bmd_g_cm2\n2,2020-06-10,0.7\n", "utf-8")
    found = load_scans(path, PATIENTS, today=TODAY)
    assert found.all_bad
    assert any(p.row == 1 and p.column == "site" for p in found.errors)


def test_patient_json_scans_are_located(tmp_path):
    document = json.loads((ROOT / "input" / "index_case_2.json").read_text("utf-8"))
    document["scans"] = [
        {"scan_date": "2020-06-10", "site": "L1-L4", "bmd_g_cm2": 0.712, "yam_percent": 67},
        {"scan_date": "2021-06-14", "site": "L1-L4", "bmd_g_cm2": "abc"},
    ]
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(document), "utf-8")
    table = load_input(path)
    assert table.errors == []  # the scans list is not a main-input problem
    found = load_scan_set(table, None)
    assert [f"{p.row}:{p.column}" for p in found.errors] == ["1:scans[2].bmd_g_cm2"]
    assert found.bad_ids == {"2"}
    assert validate_input(path)[-1].column == "scans[2].bmd_g_cm2"


def test_sample_scans_validate():
    problems = validate_input(
        ROOT / "input" / "index_case_2.json", scans_path=ROOT / "input" / "follow_up_scans.csv"
    )
    assert [p for p in problems if p.severity == "error"] == []


def test_dxa_settings(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(
        '[dxa]\nreference = "JOS (Hologic)"\n'
        '[dxa.precision_percent]\n"L1-L4" = 1.1\n"Total hip" = 0.9\n',
        "utf-8",
    )
    dxa = load_dxa_settings(path)
    assert dxa.precision("L1-L4") == 1.1
    assert dxa.precision("total_hip") == 0.9
    assert dxa.reference == "JOS (Hologic)"


@pytest.mark.parametrize(
    "body",
    [
        '[dxa.precision_percent]\n"L1-L4" = 0\n',
        '[dxa.precision_percent]\n"L1-L4" = 0.099\n',  # below 0.1 %: a typo
        '[dxa.precision_percent]\n"L1-L4" = 0.01\n',
        '[dxa.precision_percent]\n"L1-L4" = 10.01\n',
        "[dxa.precision_percent]\nshin = 1.0\n",
        "[dxa]\nprecision = 1.0\n",
        '[dxa.precision_percent]\n"L1-L4" = "1.0"\n',
    ],
)
def test_dxa_settings_refused(tmp_path, body):
    path = tmp_path / "settings.toml"
    path.write_text(body, "utf-8")
    with pytest.raises(ReportError):
        load_dxa_settings(path)


@pytest.mark.parametrize("value", [0.1, 10])
def test_dxa_precision_limits_are_accepted(tmp_path, value):
    path = tmp_path / "settings.toml"
    path.write_text(f'[dxa.precision_percent]\n"L1-L4" = {value}\n', "utf-8")
    assert load_dxa_settings(path).precision("L1-L4") == value


def test_scans_file_as_json_xlsx_and_cp932(tmp_path):
    rows = [
        {"patient_id": "2", "scan_date": "2020-06-10", "site": "L1-L4", "bmd_g_cm2": 0.712},
        {"patient_id": "2", "scan_date": "2021-06-14", "site": "L1-L4", "bmd_g_cm2": 0.806},
    ]
    as_json = tmp_path / "scans.json"
    as_json.write_text(json.dumps(rows), "utf-8")
    import pandas as pd

    as_xlsx = tmp_path / "scans.xlsx"
    pd.DataFrame(rows).to_excel(as_xlsx, index=False)
    as_cp932 = tmp_path / "scans_sjis.csv"
    as_cp932.write_bytes(
        "ID,検査日,部位,BMD,若年成人比較%,同年齢比較%\n"
        "2,2020-06-10,腰椎,0.712,67,70\n2,2021-06-14,大腿骨頸部,0.684,87,90\n".replace(
            "検査日", "date"
        )
        .replace("部位", "site")
        .encode("cp932")
    )
    for path in (as_json, as_xlsx):
        found = load_scans(path, PATIENTS, today=TODAY)
        assert found.problems == [], path
        assert [s.bmd_g_cm2 for s in found.by_patient["2"]] == [0.712, 0.806]
    found = load_scans(as_cp932, PATIENTS, today=TODAY)
    assert found.problems == []
    spine, neck = found.by_patient["2"]
    assert (spine.site, spine.yam_percent, spine.age_matched_percent) == ("L1-L4", 67, 70)
    assert neck.site == "femoral_neck"


@given(st.text(max_size=30))
def test_parse_site_never_crashes(text):
    try:
        site = parse_site(text)
    except SiteError:
        return
    assert site in {"femoral_neck", "total_hip", "radius_1_3"} or site.startswith("L")


@settings(max_examples=examples(25), deadline=None)
@given(
    st.lists(
        st.lists(
            st.text(
                alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12,
            ),
            min_size=7,
            max_size=7,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_any_cells_give_problems_not_exceptions(cells):
    """Whatever the cells hold, the loader answers with located problems, never a traceback."""
    import csv
    import io
    import tempfile

    text = io.StringIO()
    csv.writer(text).writerows([HEADER.strip().split(","), *cells])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scans.csv"
        path.write_text(text.getvalue(), "utf-8")
        try:
            found = load_scans(path, PATIENTS, today=TODAY)
        except ReportError:
            return  # a whole-file problem (e.g. only blank rows), located at row 0
        for pid, scans in found.by_patient.items():
            assert pid in PATIENTS
            assert all(0.2 <= s.bmd_g_cm2 <= 2.0 for s in scans)
        assert all(p.row >= 1 for p in found.problems)


def test_a_semicolon_scans_file_reads_decimal_commas_under_any_heading(tmp_path):
    """Decimal commas are read after the scans' own headings are resolved (同年齢比較% too)."""
    path = tmp_path / "scans.csv"
    path.write_text(
        "patient_id;date;region;BMD;若年成人比較%;同年齢比較%\n2;2020-06-10;L1-L4;0,712;67;70,5\n",
        "utf-8",
    )
    found = load_scans(path, PATIENTS, today=TODAY)
    assert found.problems == []
    (scan,) = found.by_patient["2"]
    assert (scan.bmd_g_cm2, scan.yam_percent, scan.age_matched_percent) == (0.712, 67, 70.5)


def test_more_than_two_hundred_scans_of_one_patient_is_one_located_error(tmp_path):
    """9,000 scans of one patient once took a minute to render: 200 is the limit, said once
    at the first scan too many; the other patients are unaffected."""
    from reportgen.scans import MAX_SCANS_PER_PATIENT

    days = [date(1990, 1, 1) + timedelta(days=30 * n) for n in range(MAX_SCANS_PER_PATIENT + 5)]
    body = "".join(f"2,{d.isoformat()},L1-L4,0.7,,,\n" for d in days)
    body += "3,2021-01-01,L1-L4,0.7,,,\n"
    exactly = load_scans(write(tmp_path, body.split("\n", 5)[-1]), PATIENTS, today=TODAY)
    assert exactly.errors == []
    assert len(exactly.by_patient["2"]) == MAX_SCANS_PER_PATIENT
    found = load_scans(write(tmp_path, body), PATIENTS, today=TODAY)
    assert [(p.row, p.column, p.message) for p in found.errors] == [
        (MAX_SCANS_PER_PATIENT + 2, "patient_id", "more than 200 scans for this patient")
    ]
    assert found.bad_ids == {"2"}
    assert len(found.by_patient["3"]) == 1
