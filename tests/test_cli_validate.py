"""``reportgen validate`` (issue 2 acceptance): accepts the sample and its variants; rejects
broken input with exit 1 and exact ``INPUT:ROW:COLUMN: message`` lines; never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, INDEX_JSON, SAMPLE_CSV

from reportgen.cli import cli

REPORTGEN = Path(sys.executable).with_name("reportgen")


def _validate(runner, path):
    result = runner.invoke(cli, ["validate", str(path)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


@pytest.mark.parametrize(
    "path",
    [
        SAMPLE_CSV,
        DATA / "case_series_2020.xlsx",
        DATA / "japanese_cp932.csv",
        DATA / "case_series_bom.csv",
        DATA / "paper_table1.csv",
        DATA / "mixed_headers.csv",
        DATA / "height_weight.csv",
        INDEX_JSON,
    ],
    ids=lambda p: p.name,
)
def test_validate_accepts(runner, path):
    result = _validate(runner, path)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"{path}: OK\n"


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("bad_yam.csv", "4:yam_percent: not a number: 'low'"),
        ("negative_dose.csv", "4:mgso4_total_g: outside the plausible range 0–20000: '-1,260'"),
        ("duplicate_id.csv", "4:patient_id: duplicate patient_id (first in row 2)"),
        (
            "unknown_boolean.csv",
            "4:fracture: not a yes/no value (use yes/no, true/false, 1/0, +/-): 'maybe'",
        ),
        ("implausible_age.csv", "4:age_years: outside the plausible range 12–60: '3'"),
        ("missing_yam_column.csv", "1:yam_percent: required column missing"),
    ],
)
def test_validate_rejects_rows_with_exact_lines(runner, name, line):
    path = DATA / name
    result = _validate(runner, path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"{path}:{line}"]
    assert result.stderr == f"1 problem(s) in 1 row(s) of {path}\n"


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
    ],
)
def test_validate_rejects_files_with_exact_lines(runner, name, message):
    """Whole-file problems: row 0 (the file), column "-", through the CLI's error edge."""
    path = DATA / name
    result = _validate(runner, path)
    assert result.exit_code == 1
    assert result.stdout == f"{path}:0:-: {message}\n"
    assert result.stderr == ""


def test_validate_reports_all_problems_and_only_bad_rows(runner):
    path = DATA / "many_problems.csv"
    result = _validate(runner, path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:2:fracture: not a yes/no value (use yes/no, true/false, 1/0, +/-): 'unknown'",
        f"{path}:2:yam_percent: not a number: 'n/a'",
        f"{path}:5:age_years: outside the plausible range 12–60: '130'",
        f"{path}:6:patient_id: required value missing",
    ]
    assert result.stderr == f"4 problem(s) in 3 row(s) of {path}\n"


def test_validate_one_bad_row_among_good_ones(runner, write_csv):
    good = [[f"p{i}", "30", "21.0", "20", "900", "85", "no"] for i in range(1, 8)]
    good[4][5] = "eighty"  # spreadsheet row 6
    path = write_csv(good)
    result = _validate(runner, path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"{path}:6:yam_percent: not a number: 'eighty'"]


def test_validate_unknown_column_is_a_warning(runner):
    path = DATA / "unknown_column.csv"
    result = _validate(runner, path)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"{path}:1:favourite_colour: warning: unknown column, ignored"
    ]
    assert result.stderr == f"{path}: OK\n"


def test_validate_json_positions(runner, tmp_path):
    path = tmp_path / "two.json"
    path.write_text(
        '[{"patient_id": "a", "age_years": 30, "bmi_kg_m2": 21, "mgso4_days": 9,'
        ' "mgso4_total_g": 900, "yam_percent": 85, "fracture": "no"},'
        ' {"patient_id": "b", "age_years": 30, "bmi_kg_m2": 21, "mgso4_days": 9,'
        ' "mgso4_total_g": 900, "yam_percent": 85, "fracture": "sometimes"}]',
        encoding="utf-8",
    )
    result = _validate(runner, path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:2:fracture: not a yes/no value (use yes/no, true/false, 1/0, +/-): 'sometimes'"
    ]


def test_validate_a_missing_file_is_a_usage_error_on_stderr(runner, tmp_path):
    """Click's convention (issue 17): exit 2, the message on stderr, nothing on stdout."""
    path = tmp_path / "no_such_file.csv"
    result = runner.invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"'{path}' does not exist" in result.stderr


def test_validate_a_directory_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.skipif(not REPORTGEN.exists(), reason="console script not installed")
def test_installed_script_never_prints_a_traceback(tmp_path):
    """The real entry point as a separate process (each start costs about a second, so a few
    representative inputs; CliRunner covers the rest above)."""
    junk = tmp_path / "junk.xlsx"
    shutil.copy(DATA / "random_bytes.bin", junk)
    for path in (junk, DATA / "many_problems.csv"):
        done = subprocess.run(
            [str(REPORTGEN), "validate", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1, path
        assert "Traceback" not in done.stdout + done.stderr, path
        located = [
            line
            for line in (done.stdout + done.stderr).splitlines()
            if line.removeprefix("Error: ").startswith(f"{path}:")
        ]
        assert located, f"no INPUT:ROW:COLUMN line for {path}"
