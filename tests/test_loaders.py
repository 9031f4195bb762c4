"""Loading: formats and encodings detected (never asked for), headers normalised, and every
whole-file failure an InputError located as ``INPUT:0:-: message``."""

from __future__ import annotations

import csv
import json
import re

import pandas as pd
import pytest
from conftest import DATA, INDEX_JSON, SAMPLE_CSV

from reportgen.errors import InputError
from reportgen.loaders import load_table
from reportgen.schema import normalise_header

SAMPLE_HEADER = SAMPLE_CSV.read_text("utf-8").splitlines()[0].split(",")


def _cells(path) -> list[list[str]]:
    """The sample's cells as the CSV module reads them (the independent reference)."""
    lines = path.read_text("utf-8").splitlines()
    return [line.split(",") for line in lines[1:]]


def test_load_table_csv_keeps_strings_and_spreadsheet_rows():
    table = load_table(SAMPLE_CSV)
    assert list(table.frame.columns) == SAMPLE_HEADER
    assert table.frame.to_numpy().tolist() == _cells(SAMPLE_CSV)
    assert table.rows.tolist() == list(range(2, 11))  # header = row 1
    assert table.encoding == "utf-8"
    assert table.problems == []


def test_load_table_xlsx_copy_matches_csv():
    xlsx = load_table(DATA / "case_series_2020.xlsx")
    csv_table = load_table(SAMPLE_CSV)
    assert list(xlsx.frame.columns) == list(csv_table.frame.columns)
    assert xlsx.rows.tolist() == csv_table.rows.tolist()
    # Same patients; the numbers were stored as numbers and fracture as a boolean cell.
    assert xlsx.frame["patient_id"].tolist() == csv_table.frame["patient_id"].tolist()
    assert xlsx.frame["fracture"].str.lower().tolist() == [
        "true" if v == "yes" else "false" for v in csv_table.frame["fracture"]
    ]
    for column in ("age_years", "bmi_kg_m2", "mgso4_total_g", "yam_percent"):
        assert (
            pd.to_numeric(xlsx.frame[column]).tolist()
            == pd.to_numeric(csv_table.frame[column]).tolist()
        )


def test_load_table_xlsx_unknown_sheet_is_input_error():
    """The message lists the workbook's sheets (issue 17)."""
    with pytest.raises(InputError, match=r":0:-: no sheet named .No such sheet..*Table 1"):
        load_table(DATA / "case_series_2020.xlsx", sheet="No such sheet")


def test_load_table_xlsx_named_sheet():
    assert len(load_table(DATA / "case_series_2020.xlsx", sheet="Table 1").frame) == 9


def test_load_table_utf8_bom_header_is_clean():
    table = load_table(DATA / "case_series_bom.csv")
    assert table.frame.columns[0] == "patient_id"  # not "\ufeffpatient_id"
    assert table.encoding == "utf-8-sig"
    assert table.frame.to_numpy().tolist() == _cells(SAMPLE_CSV)


def test_load_table_cp932_detected_and_decoded():
    table = load_table(DATA / "japanese_cp932.csv")
    assert table.encoding == "cp932"
    # 髙 and ① are CP932 extensions: decoding as plain Shift_JIS would fail on them.
    assert table.frame["name"].tolist() == ["髙橋 美咲", "山田 花子", "佐藤 愛"]
    assert table.frame.loc[0, "notes"] == "切迫早産でMgSO4持続投与①。授乳中～産後3か月"


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon.csv"), ("\t", "tabs.tsv")])
def test_load_table_detects_delimiter(tmp_path, delimiter, name):
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream, delimiter=delimiter).writerows([SAMPLE_HEADER, *_cells(SAMPLE_CSV)])
    assert "T7;T12" in path.read_text("utf-8")  # quoted where it contains the delimiter
    assert load_table(path).frame.to_numpy().tolist() == _cells(SAMPLE_CSV)


def test_load_table_json_object_with_infusions():
    table = load_table(INDEX_JSON)
    document = json.loads(INDEX_JSON.read_text("utf-8"))
    assert table.kind == "json"
    assert table.rows.tolist() == [1]  # JSON: the list position from 1
    assert table.frame.loc[0, "patient_id"] == "2"
    assert table.frame.loc[0, "fracture"] == "true"
    assert table.infusions == {0: document["infusions"]}
    assert "infusions" not in table.frame.columns


@pytest.mark.parametrize("wrap", [lambda p: p, lambda p: {"patients": p}])
def test_load_table_json_list_positions(tmp_path, wrap):
    patients = [{"patient_id": "a", "YAM (%)": 81}, {"patient_id": "b", "yam_percent": None}]
    path = tmp_path / "list.json"
    path.write_text(json.dumps(wrap(patients)), encoding="utf-8")
    table = load_table(path)
    assert table.rows.tolist() == [1, 2]
    assert table.frame["yam_percent"].tolist() == ["81", ""]


def test_load_table_json_non_object_item_is_located(tmp_path):
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([{"patient_id": "a"}, 7]), encoding="utf-8")
    table = load_table(path)
    assert [str(p) for p in table.problems] == [f"{path}:2:-: expected a patient object, got int"]
    assert table.rows.tolist() == [1]


def test_load_table_json_duplicate_key_after_normalising(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"patient_id": "a", "YAM (%)": 70, "yam_percent": 90}', encoding="utf-8")
    problems = [str(p) for p in load_table(path).problems]
    assert problems == [f"{path}:1:yam_percent: duplicate key 'yam_percent'"]


def test_load_table_blank_lines_keep_spreadsheet_rows(tmp_path):
    path = tmp_path / "gaps.csv"
    lines = SAMPLE_CSV.read_text("utf-8").splitlines()
    path.write_text("\n".join([lines[0], lines[1], "", ",,,", lines[2]]) + "\n", "utf-8")
    table = load_table(path)
    assert table.rows.tolist() == [2, 5]  # rows 3 and 4 are blank in a spreadsheet too


def test_load_table_duplicate_header_after_normalising(tmp_path):
    path = tmp_path / "dupcol.csv"
    path.write_text("patient_id,YAM (%),yam_percent\n1,70,71\n", encoding="utf-8")
    problems = [str(p) for p in load_table(path).problems]
    assert problems == [f"{path}:1:yam_percent: duplicate column 'yam_percent'"]


def test_load_table_exact_duplicate_header_is_not_renamed(tmp_path):
    """pandas would read the second one as "yam_percent.1" and hide the conflict."""
    path = tmp_path / "dupcol.csv"
    path.write_text("patient_id,yam_percent,yam_percent\n1,85,65\n", encoding="utf-8")
    table = load_table(path)
    assert [str(p) for p in table.problems] == [
        f"{path}:1:yam_percent: duplicate column 'yam_percent'"
    ]
    assert table.frame.columns.tolist() == ["patient_id", "yam_percent"]


def test_load_table_duplicate_unknown_column_is_a_warning(tmp_path):
    path = tmp_path / "dupcol.csv"
    path.write_text("patient_id,comment,Comment\n1,a,b\n", encoding="utf-8")
    assert [p.severity for p in load_table(path).problems] == ["warning"]


def test_load_table_drops_empty_unnamed_columns(tmp_path):
    path = tmp_path / "trailing.csv"
    path.write_text("patient_id,yam_percent,,\n1,85,,\n2,86,,\n", encoding="utf-8")
    table = load_table(path)
    assert table.frame.columns.tolist() == ["patient_id", "yam_percent"]
    assert table.problems == []


def test_load_table_names_unnamed_columns_with_data(tmp_path):
    path = tmp_path / "unnamed.csv"
    path.write_text("patient_id,,yam_percent\n1,x,85\n", encoding="utf-8")
    assert load_table(path).frame.columns.tolist() == ["patient_id", "column_2", "yam_percent"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("patient_id", "patient_id"),
        ("  Patient ID ", "patient_id"),
        ("PATIENT-ID", "patient_id"),
        ("No.", "patient_id"),
        ("Age (years)", "age_years"),
        ("BMI (kg/m2)", "bmi_kg_m2"),
        ("Gravida (times)", "gravida"),
        ("Para (times)", "para"),
        ("Prenatal smoking", "smoking"),
        ("Hospitalization (days)", "hospital_days"),
        ("Use days of MgSO4 (days)", "mgso4_days"),
        ("Accumulated dose of MgSO4 (g)", "mgso4_total_g"),
        ("YAM (%)", "yam_percent"),
        (" yam percent ", "yam_percent"),
        ("Bone fracture", "fracture"),
        ("ＹＡＭ (%)", "yam_percent"),  # full-width letters (NFKC)
    ],
)
def test_normalise_header(header, expected):
    assert normalise_header(header) == expected


# --- whole-file failures: InputError, located at row 0 ("the file"), column "-" -------------


def _file_error(path, message: str) -> str:
    return f"^{re.escape(f'{path}:0:-: {message}')}$"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "the file is empty"),
        ("header_only.csv", "has a header but no patient rows"),
        ("random_bytes.bin", "not a text table (binary data); expected CSV, XLSX or JSON"),
        ("scalar.json", "JSON must be a patient object or a list of them, not str"),
        ("wrong_shape.json", "'patients' must be a list of patient objects, not str"),
        (
            "wrong_shape_list.json",
            "JSON must be a patient object or a list of them, not a list of list",
        ),
        ("does_not_exist.csv", "no such file"),
    ],
)
def test_load_table_whole_file_errors(name, message):
    path = DATA / name
    with pytest.raises(InputError, match=_file_error(path, message)):
        load_table(path)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"   \n\n \r\n", "blank.csv", "the file is empty"),
        (b"[]", "empty.json", "the JSON list has no patients"),
        (b'{"patient_id": 1,', "broken.json", "not valid JSON (line 1: Expecting "),
        (
            bytes(range(128, 256)) * 4,
            "latin.csv",
            "text is neither UTF-8 nor CP932/Shift_JIS; save it as UTF-8",
        ),
        (
            b"PK\x03\x04 not really a zip",
            "fake.xlsx",
            "not a readable XLSX workbook (File is not a zip file)",
        ),
        (
            b"patient_id,yam_percent\n1,70\n2,71,extra,cells\n",
            "ragged.csv",
            "not a readable CSV table (",
        ),
    ],
)
def test_load_table_unreadable_content(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_table(path)
    assert str(caught.value).startswith(f"{path}:0:-: {message}")
    assert "\n" not in str(caught.value)


def test_load_table_directory_is_not_a_file(tmp_path):
    with pytest.raises(InputError, match=_file_error(tmp_path, "not a file")):
        load_table(tmp_path)


def test_load_table_random_bytes_as_xlsx_or_json(tmp_path):
    junk = (DATA / "random_bytes.bin").read_bytes()
    for name in ("junk.xlsx", "junk.json"):
        path = tmp_path / name
        path.write_bytes(junk)
        with pytest.raises(InputError, match=rf"^{re.escape(str(path))}:0:-: not a"):
            load_table(path)
