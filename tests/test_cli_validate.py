"""``reportgen validate`` (issue 2 acceptance): accepts the sample and its variants; rejects
broken input with exit 1, one ``INPUT:ROW:COLUMN: message`` line a problem on stdout and a count
on stderr; never a traceback.

The CLI layer owns the wiring (exit status, stdout/stderr, locations, the count line); the exact
wording of each message is pinned once, where it is made: row problems in test_validation.py,
whole-file problems in test_loaders.py. Here each printed line must equal the library's."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from conftest import DATA, INDEX_JSON, SAMPLE_CSV

from reportgen.api import load_input
from reportgen.errors import InputError
from reportgen.loaders import load_table

REPORTGEN = Path(sys.executable).with_name("reportgen")


def _problem_lines(path: Path) -> list[str]:
    """What the library finds in ``path``, one ``INPUT:ROW:COLUMN: message`` a problem."""
    return [str(p) for p in load_input(path).problems]


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
def test_validate_accepts(run_reportgen, path):
    result = run_reportgen("validate", path)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"{path}: OK\n"


@pytest.mark.parametrize(
    ("name", "location"),
    [
        ("bad_yam.csv", "4:yam_percent"),
        ("negative_dose.csv", "4:mgso4_total_g"),
        ("duplicate_id.csv", "4:patient_id"),
        ("unknown_boolean.csv", "4:fracture"),
        ("implausible_age.csv", "4:age_years"),
        ("missing_yam_column.csv", "1:yam_percent"),
    ],
)
def test_validate_rejects_rows_with_located_lines(run_reportgen, name, location):
    path = DATA / name
    result = run_reportgen("validate", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == _problem_lines(path)
    assert result.stdout.startswith(f"{path}:{location}: ")
    assert result.stderr == f"1 problem(s) in 1 row(s) of {path}\n"


@pytest.mark.parametrize(
    "name",
    [
        "empty.csv",
        "header_only.csv",
        "random_bytes.bin",
        "scalar.json",
        "wrong_shape.json",
        "wrong_shape_list.json",
    ],
)
def test_validate_rejects_files_with_one_line(run_reportgen, name):
    """Whole-file problems: row 0 (the file), column "-", through the CLI's error edge."""
    path = DATA / name
    with pytest.raises(InputError) as refused:
        load_table(path)
    result = run_reportgen("validate", path)
    assert result.exit_code == 1
    assert result.stdout == f"{refused.value}\n"
    assert result.stdout.startswith(f"{path}:0:-: ")
    assert result.stderr == ""


def test_validate_reports_all_problems_and_only_bad_rows(run_reportgen):
    path = DATA / "many_problems.csv"
    result = run_reportgen("validate", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == _problem_lines(path)
    located = [line.split(": ", 1)[0] for line in result.stdout.splitlines()]
    assert located == [
        f"{path}:2:fracture",
        f"{path}:2:yam_percent",
        f"{path}:5:age_years",
        f"{path}:6:patient_id",
    ]
    assert result.stderr == f"4 problem(s) in 3 row(s) of {path}\n"


def test_validate_one_bad_row_among_good_ones(run_reportgen, write_csv):
    good = [[f"p{i}", "30", "21.0", "20", "900", "85", "no"] for i in range(1, 8)]
    good[4][5] = "eighty"  # spreadsheet row 6
    path = write_csv(good)
    result = run_reportgen("validate", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == _problem_lines(path)
    assert result.stdout.startswith(f"{path}:6:yam_percent: ")


def test_validate_unknown_column_is_a_warning(run_reportgen):
    path = DATA / "unknown_column.csv"
    result = run_reportgen("validate", path)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == _problem_lines(path)
    assert result.stdout.startswith(f"{path}:1:favourite_colour: warning: ")
    assert result.stderr == f"{path}: OK\n"


def test_validate_json_positions(run_reportgen, tmp_path):
    path = tmp_path / "two.json"
    path.write_text(
        '[{"patient_id": "a", "age_years": 30, "bmi_kg_m2": 21, "mgso4_days": 9,'
        ' "mgso4_total_g": 900, "yam_percent": 85, "fracture": "no"},'
        ' {"patient_id": "b", "age_years": 30, "bmi_kg_m2": 21, "mgso4_days": 9,'
        ' "mgso4_total_g": 900, "yam_percent": 85, "fracture": "sometimes"}]',
        encoding="utf-8",
    )
    result = run_reportgen("validate", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == _problem_lines(path)
    assert result.stdout.startswith(f"{path}:2:fracture: ")  # the second object


def test_validate_a_missing_file_is_a_usage_error_on_stderr(run_reportgen, tmp_path):
    """Click's convention (issue 17): exit 2, the message on stderr, nothing on stdout."""
    path = tmp_path / "no_such_file.csv"
    result = run_reportgen("validate", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"'{path}' does not exist" in result.stderr


def test_validate_a_directory_is_a_usage_error(run_reportgen, tmp_path):
    assert run_reportgen("validate", tmp_path).exit_code == 2


@pytest.mark.slow
@pytest.mark.skipif(not REPORTGEN.exists(), reason="console script not installed")
def test_installed_script_never_prints_a_traceback(run_reportgen, tmp_path):
    """The real entry point as a separate process (each start costs about a second, so a few
    representative inputs; the in-process runs cover the rest above)."""
    junk = tmp_path / "junk.xlsx"
    shutil.copy(DATA / "random_bytes.bin", junk)
    for path in (junk, DATA / "many_problems.csv"):
        done = run_reportgen.subprocess("validate", path, timeout=60)
        assert done.returncode == 1, path
        assert "Traceback" not in done.stdout + done.stderr, path
        located = [
            line
            for line in (done.stdout + done.stderr).splitlines()
            if line.removeprefix("Error: ").startswith(f"{path}:")
        ]
        assert located, f"no INPUT:ROW:COLUMN line for {path}"


def test_the_count_line_names_each_file_with_problems(run_reportgen, tmp_path):
    """Errors only in the scans file were once counted against the main input."""
    scans = tmp_path / "scans.csv"
    scans.write_text(
        "patient_id,scan_date,site,bmd_g_cm2\n2,2020-06-10,L1-L4,9\n2,2020-06-11,L1-L4,x\n",
        "utf-8",
    )
    result = run_reportgen("validate", INDEX_JSON, "--scans", scans)
    assert result.exit_code == 1
    assert result.stderr == f"2 problem(s) in 2 row(s) of {scans}\n"
