"""Regenerate the small input files in tests/data (run: .venv/bin/python tests/data/generate.py).

The files are committed; this script documents how each was made. Values come from the seed
paper's Table 1 (Iio et al., J Med Cases 2022;13:47), the same as input/case_series_2020.csv.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import random
from pathlib import Path

import openpyxl

HERE = Path(__file__).parent
SAMPLE = HERE.parent.parent / "input" / "case_series_2020.csv"

# The seed's Table 1 exactly as printed: headers, "1,260", "-"/"+", "Before pregnancy".
PAPER_HEADER = [
    "No.",
    "Age (years)",
    "BMI (kg/m2)",
    "Gravida (times)",
    "Para (times)",
    "Prenatal smoking",
    "Hospitalization (days)",
    "Use days of MgSO4 (days)",
    "Accumulated dose of MgSO4 (g)",
    "YAM (%)",
    "Bone fracture",
]
PAPER_ROWS = [
    ["1", "20", "18.4", "1", "0", "-", "44", "37", "1,260", "62", "-"],
    ["2", "36", "22.5", "2", "1", "Before pregnancy", "97", "85", "3,756", "67", "+"],
    ["3", "34", "18.1", "1", "0", "-", "71", "58", "2,484", "73", "-"],
    ["4", "27", "20.8", "1", "0", "Before pregnancy", "63", "36", "1,464", "75", "-"],
    ["5", "41", "21.4", "3", "0", "-", "63", "57", "2,556", "84", "-"],
    ["6", "30", "20.9", "2", "1", "-", "28", "13", "336", "87", "-"],
    ["7", "28", "21.9", "2", "1", "-", "33", "14", "168", "89", "-"],
    ["8", "27", "25.4", "1", "0", "-", "11", "11", "456", "91", "-"],
    ["9", "27", "19.9", "1", "0", "Before pregnancy", "71", "31", "1,488", "99", "-"],
]
MINIMAL = [
    "patient_id",
    "age_years",
    "bmi_kg_m2",
    "mgso4_days",
    "mgso4_total_g",
    "yam_percent",
    "fracture",
]
GOOD = [
    ["p1", "30", "21.0", "20", "900", "85", "no"],
    ["p2", "31", "20.0", "21", "950", "86", "no"],
    ["p3", "32", "22.0", "22", "990", "87", "no"],
    ["p4", "33", "23.0", "23", "999", "88", "no"],
    ["p5", "34", "24.0", "24", "1000", "89", "no"],
]


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _with(row_index: int, column: str, value: str) -> list[list[str]]:
    rows = [list(r) for r in GOOD]
    rows[row_index][MINIMAL.index(column)] = value
    return rows


def _write(name: str, text: str, encoding: str = "utf-8") -> None:
    (HERE / name).write_bytes(text.encode(encoding))


def _xlsx() -> None:
    with SAMPLE.open(encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Table 1"
    sheet.append(rows[0])
    for row in rows[1:]:
        cells: list[object] = []
        for header, value in zip(rows[0], row, strict=True):
            if header == "fracture":
                cells.append(value == "yes")  # a real boolean cell
            elif header == "bmi_kg_m2":
                cells.append(float(value))
            elif value.isdigit() and header != "patient_id":
                cells.append(int(value))  # numbers as numbers, not text
            else:
                cells.append(value or None)
        sheet.append(cells)
    stamp = datetime.datetime(2022, 2, 13)  # fixed document properties, not "now"
    book.properties.created = book.properties.modified = stamp
    book.save(HERE / "case_series_2020.xlsx")


def main() -> None:
    sample = SAMPLE.read_text("utf-8")
    _xlsx()
    _write("case_series_bom.csv", "\ufeff" + sample)
    _write("paper_table1.csv", _csv(PAPER_HEADER, PAPER_ROWS))
    # Mixed case, spaces around and inside the headers, yes/no in other spellings.
    _write(
        "mixed_headers.csv",
        _csv(
            [
                " Patient ID ",
                "AGE YEARS",
                "Bmi Kg M2",
                " MgSO4 Days",
                "MGSO4_TOTAL_G ",
                "Yam Percent",
                " Fracture",
                "Family History",
                "Smoking",
            ],
            [
                ["a", "30", "18.4", "9", "1,000.5", "79.9", "Yes", "TRUE", "BEFORE PREGNANCY"],
                ["b", "31", "18.5", "8", "1,000", "80.0", "n", "False", "-"],
                ["c", "32", "20", "10", "2,000", "70", "+", "1", "during pregnancy"],
                ["d", "33", "21", "11", "999", "85", "-", "0", ""],
            ],
        ),
    )
    # CP932 (Windows Japanese): 髙 and ① exist in CP932 but not in plain Shift_JIS.
    _write(
        "japanese_cp932.csv",
        _csv(
            [
                "patient_id",
                "name",
                "age_years",
                "bmi_kg_m2",
                "mgso4_days",
                "mgso4_total_g",
                "yam_percent",
                "fracture",
                "fracture_sites",
                "notes",
            ],
            [
                [
                    "J-01",
                    "髙橋 美咲",
                    "29",
                    "19.2",
                    "40",
                    "1,680",
                    "74",
                    "なし",
                    "",
                    "切迫早産でMgSO4持続投与①。授乳中～産後3か月",
                ],
                [
                    "J-02",
                    "山田 花子",
                    "35",
                    "21.0",
                    "12",
                    "430",
                    "88",
                    "no",
                    "",
                    "腰痛なし。喫煙歴なし",
                ],
                [
                    "J-03",
                    "佐藤 愛",
                    "31",
                    "18.0",
                    "60",
                    "2,900",
                    "66",
                    "あり",
                    "T12",
                    "第12胸椎圧迫骨折",
                ],
            ],
        ),
        "cp932",
    )
    _write(
        "height_weight.csv",
        _csv(
            [
                "patient_id",
                "age_years",
                "height_cm",
                "weight_kg",
                "mgso4_days",
                "mgso4_total_g",
                "yam_percent",
                "fracture",
            ],
            [
                ["hw1", "30", "160", "47", "10", "500", "85", "no"],
                ["hw2", "30", "150", "45", "10", "500", "85", "no"],
            ],
        ),
    )
    _write("unknown_column.csv", _csv(MINIMAL + ["Favourite colour"], [r + ["blue"] for r in GOOD]))
    # Broken files: one problem each, in row 4 (the third patient) where a row is involved.
    _write("bad_yam.csv", _csv(MINIMAL, _with(2, "yam_percent", "low")))
    _write("negative_dose.csv", _csv(MINIMAL, _with(2, "mgso4_total_g", "-1,260")))
    _write("duplicate_id.csv", _csv(MINIMAL, _with(2, "patient_id", "p1")))
    _write("unknown_boolean.csv", _csv(MINIMAL, _with(2, "fracture", "maybe")))
    _write("implausible_age.csv", _csv(MINIMAL, _with(2, "age_years", "3")))
    _write(
        "missing_yam_column.csv",
        _csv(
            [c for c in MINIMAL if c != "yam_percent"],
            [[v for c, v in zip(MINIMAL, r, strict=True) if c != "yam_percent"] for r in GOOD],
        ),
    )
    _write("empty.csv", "")
    _write("header_only.csv", ",".join(MINIMAL) + "\n")
    many = [list(r) for r in GOOD]
    many[0][MINIMAL.index("yam_percent")] = "n/a"  # row 2
    many[0][MINIMAL.index("fracture")] = "unknown"  # row 2, second problem
    many[3][MINIMAL.index("age_years")] = "130"  # row 5
    many[4][MINIMAL.index("patient_id")] = ""  # row 6
    _write("many_problems.csv", _csv(MINIMAL, many))
    (HERE / "random_bytes.bin").write_bytes(random.Random(20220213).randbytes(512))
    _write("wrong_shape.json", json.dumps({"patients": "nine women, see Table 1"}) + "\n")
    _write("wrong_shape_list.json", json.dumps([[1, 20, 18.4], [2, 36, 22.5]]) + "\n")
    _write("scalar.json", json.dumps("case_series_2020.csv") + "\n")


if __name__ == "__main__":
    main()
