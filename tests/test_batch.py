"""Batch behaviour of ``reportgen patient`` (issue 4): workers, determinism, no silent
overwrite, --id selection, invalid rows, quiet output when piped."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Reportgen

pytestmark = pytest.mark.slow  # the installed command in fresh processes, pools and terminals
ROOT = Path(__file__).resolve().parent.parent
SEED_CSV = ROOT / "input" / "case_series_2020.csv"
COHORT_SIZE = 24  # batch.py pools only above 8 jobs: 24 makes three chunks for two workers
RESULT_LINE = re.compile(r"^\d+ file\(s\) in .+$")
PROBLEM_LINE = re.compile(r"^.+:\d+:[^:\s]+: .+$")
# Off a terminal, a line every few seconds (issue 17): count, percent, rate, ETA.
PROGRESS_LINE = re.compile(r"^progress: \d+/\d+ reports \(\d+%\)(, [\d.]+/s, ETA \w+)?$")

# The seed's Table 1: age, BMI, smoking, hospital days, MgSO4 days, dose g, YAM %, fracture.
SEED = [
    (20, 18.4, "never", 44, 37, 1260, 62, "no", ""),
    (36, 22.5, "before_pregnancy", 97, 85, 3756, 67, "yes", "T7;T12"),
    (34, 18.1, "never", 71, 58, 2484, 73, "no", ""),
    (27, 20.8, "before_pregnancy", 63, 36, 1464, 75, "no", ""),
    (41, 21.4, "never", 63, 57, 2556, 84, "no", ""),
    (30, 20.9, "never", 28, 13, 336, 87, "no", ""),
    (28, 21.9, "never", 33, 14, 168, 89, "no", ""),
    (27, 25.4, "never", 11, 11, 456, 91, "no", ""),
    (27, 19.9, "before_pregnancy", 71, 31, 1488, 99, "no", ""),
]


def reportgen_on_a_terminal(
    run_reportgen: Reportgen, *args: object, timeout: float = 300
) -> tuple[int, str]:
    """Run ``reportgen`` with stderr on a pseudo-terminal (what ``run_reportgen`` cannot give);
    return (exit status, terminal text)."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        run_reportgen.command(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=run_reportgen.environ(TERM="xterm", COLUMNS="100"),
    )
    os.close(slave)
    seen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        status = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return status, seen.decode("utf-8", "replace")


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def snapshot(directory: Path) -> dict[str, tuple[str, int, int]]:
    """Every file (hidden ones too): sha256, size, mtime in ns."""
    state = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            info = path.stat()
            state[str(path.relative_to(directory))] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                info.st_size,
                info.st_mtime_ns,
            )
    return state


def reports(directory: Path) -> dict[str, bytes]:
    """The run's outputs: every non-hidden file with its bytes."""
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


def manifest(directory: Path) -> dict:
    return json.loads((directory / "manifest.json").read_text("utf-8"))


def assert_quiet_when_piped(result: subprocess.CompletedProcess) -> None:
    """No progress bar without a terminal: only problem lines, progress lines (one every few
    seconds) and the result line."""
    for stream in (result.stdout, result.stderr):
        assert "\r" not in stream
        assert "\x1b" not in stream
        assert "Rendering" not in stream
    lines = result.stderr.splitlines()
    assert lines, "no result line on stderr"
    for line in lines:
        assert PROBLEM_LINE.match(line) or RESULT_LINE.match(line) or PROGRESS_LINE.match(line), (
            f"unexpected: {line!r}"
        )
    assert [line for line in result.stdout.splitlines() if line] == [
        line for line in result.stdout.splitlines() if line.endswith("manifest.json")
    ]


# ---------------------------------------------------------------------------------------------
# A generated cohort, rendered with one and with two workers


@pytest.fixture(scope="module")
def cohort_csv(tmp_path_factory) -> Path:
    rows = []
    for i in range(COHORT_SIZE):
        age, bmi, smoking, hospital, days, dose, yam, fracture, sites = SEED[i % len(SEED)]
        shift = i // len(SEED)
        rows.append(
            [
                f"G{i + 1:02d}",
                age + shift,
                bmi,
                smoking,
                hospital + shift,
                days + shift,
                dose + 10 * i,
                yam - shift,
                fracture,
                sites,
                ("yes", "no", "")[i % 3],
                f"Generated patient {i + 1}; <i>not markup</i>",
            ]
        )
    header = [
        "patient_id",
        "age_years",
        "bmi_kg_m2",
        "smoking",
        "hospital_days",
        "mgso4_days",
        "mgso4_total_g",
        "yam_percent",
        "fracture",
        "fracture_sites",
        "breastfeeding",
        "notes",
    ]
    return write_csv(tmp_path_factory.mktemp("cohort") / "cohort.csv", header, rows)


@pytest.fixture(scope="module")
def runs(
    run_reportgen, cohort_csv, tmp_path_factory
) -> dict[int, tuple[Path, subprocess.CompletedProcess]]:
    done = {}
    for workers in (1, 2):
        outdir = tmp_path_factory.mktemp(f"workers{workers}") / "out"
        result = run_reportgen.subprocess(
            "patient", cohort_csv, "-o", outdir, "--workers", workers, timeout=900
        )
        assert result.returncode == 0, result.stderr
        done[workers] = (outdir, result)
    return done


@pytest.mark.slow
def test_one_and_two_workers_give_the_same_bytes(runs):
    one, two = reports(runs[1][0]), reports(runs[2][0])
    assert len(one) == 3 * COHORT_SIZE + 1
    assert sorted(one) == sorted(two)
    differing = [name for name in one if one[name] != two[name]]
    assert differing == []
    listed = manifest(runs[1][0])["files"]
    assert len(listed) == 3 * COHORT_SIZE
    for entry in listed:
        assert entry["sha256"] == hashlib.sha256(one[entry["path"]]).hexdigest()


def test_piped_runs_print_no_progress_bar(runs):
    for _, result in runs.values():
        assert_quiet_when_piped(result)
        assert f"{3 * COHORT_SIZE} file(s) in" in result.stderr


def test_terminal_gets_a_progress_bar(run_reportgen, tmp_path):
    status, shown = reportgen_on_a_terminal(
        run_reportgen,
        "patient",
        SEED_CSV,
        "-o",
        tmp_path / "out",
        "--format",
        "json",
        "--workers",
        "1",
    )
    assert "Traceback" not in shown, shown[-2000:]
    assert status == 0, shown[-2000:]
    assert re.search(r"\d{1,3} ?%", shown), shown[-2000:]  # a progress bar was drawn
    assert "9 file(s) in" in shown
    assert len(list((tmp_path / "out").glob("patient-*.json"))) == 9


def test_rerun_into_full_outdir_refuses_and_changes_nothing(
    run_reportgen, runs, cohort_csv, tmp_path
):
    outdir = tmp_path / "full"
    shutil.copytree(runs[1][0], outdir)  # copy2: mtimes preserved
    before = snapshot(outdir)
    result = run_reportgen.subprocess("patient", cohort_csv, "-o", outdir, "--workers", "2")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "already exist" in result.stderr
    assert "patient-G01.html" in result.stderr  # names the files in the way
    assert "--overwrite" in result.stderr
    assert snapshot(outdir) == before


def test_refuses_before_writing_anything_when_one_file_exists(run_reportgen, tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "patient-8.json").write_text("{}\n", "utf-8")
    before = snapshot(outdir)
    result = run_reportgen.subprocess("patient", SEED_CSV, "-o", outdir)
    assert result.returncode == 1
    assert "patient-8.json" in result.stderr
    assert snapshot(outdir) == before  # no manifest, no other report, no temp file


# ---------------------------------------------------------------------------------------------
# --id and --overwrite on the seed


@pytest.fixture(scope="module")
def two_ids(run_reportgen, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    outdir = tmp_path_factory.mktemp("ids") / "out"
    result = run_reportgen.subprocess("patient", SEED_CSV, "-o", outdir, "--id", "2", "--id", "8")
    return outdir, result


def test_ids_render_only_those_patients(two_ids):
    outdir, result = two_ids
    assert result.returncode == 0, result.stderr
    assert sorted(reports(outdir)) == sorted(
        [f"patient-{i}.{fmt}" for i in (2, 8) for fmt in ("html", "json", "pdf")]
        + ["manifest.json"]
    )
    assert {entry["patient_id"] for entry in manifest(outdir)["files"]} == {"2", "8"}
    assert_quiet_when_piped(result)


def test_overwrite_replaces_existing_reports(run_reportgen, two_ids, tmp_path):
    outdir = tmp_path / "again"
    shutil.copytree(two_ids[0], outdir)
    original = reports(outdir)
    (outdir / "patient-8.pdf").write_bytes(b"damaged")
    refused = run_reportgen.subprocess("patient", SEED_CSV, "-o", outdir, "--id", "2", "--id", "8")
    assert refused.returncode == 1
    assert (outdir / "patient-8.pdf").read_bytes() == b"damaged"
    result = run_reportgen.subprocess(
        "patient", SEED_CSV, "-o", outdir, "--id", "2", "--id", "8", "--overwrite"
    )
    assert result.returncode == 0, result.stderr
    assert reports(outdir) == original  # same input, same SOURCE_DATE_EPOCH: same bytes
    assert not list(outdir.glob(".tmp-*"))


def test_unknown_id_is_an_error_naming_it(run_reportgen, tmp_path):
    result = run_reportgen.subprocess(
        "patient",
        SEED_CSV,
        "-o",
        tmp_path / "out",
        "--id",
        "2",
        "--id",
        "no-such-patient",
        "--format",
        "json",
    )
    assert result.returncode == 1
    assert "no-such-patient" in result.stderr
    assert "Traceback" not in result.stderr
    assert_quiet_when_piped(result)
    errors = manifest(tmp_path / "out")["errors"]
    assert any("no-such-patient" in error["message"] for error in errors)


# ---------------------------------------------------------------------------------------------
# Invalid rows: reported and skipped, every valid row still reported


def test_invalid_rows_are_skipped_and_reported(run_reportgen, tmp_path):
    header = [
        "patient_id",
        "age_years",
        "bmi_kg_m2",
        "mgso4_days",
        "mgso4_total_g",
        "yam_percent",
        "fracture",
    ]
    source = write_csv(
        tmp_path / "mixed.csv",
        header,
        [
            ["ok1", "30", "21.0", "20", "900", "78", "no"],
            ["bad-age", "thirty", "21.0", "20", "900", "78", "no"],  # row 3
            ["ok2", "31", "20.0", "40", "1500", "69", "no"],
            ["bad-yam", "30", "21.0", "20", "900", "n/a", "no"],  # row 5 (blank = not measured)
            ["bad-fracture", "30", "21.0", "20", "900", "85", "maybe"],  # row 6
        ],
    )
    outdir = tmp_path / "out"
    result = run_reportgen.subprocess("patient", source, "-o", outdir)
    assert result.returncode == 1
    assert sorted(reports(outdir)) == sorted(
        [f"patient-{pid}.{fmt}" for pid in ("ok1", "ok2") for fmt in ("html", "json", "pdf")]
        + ["manifest.json"]
    )
    expected = {(3, "age_years"), (5, "yam_percent"), (6, "fracture")}
    for row, column in expected:
        assert f"{source}:{row}:{column}: " in result.stderr
    errors = manifest(outdir)["errors"]
    assert {(e["row"], e["column"]) for e in errors} == expected
    assert all(Path(e["input"]).name == "mixed.csv" for e in errors)
    assert all(e["message"] for e in errors)
    assert {e["patient_id"] for e in manifest(outdir)["files"]} == {"ok1", "ok2"}
    assert_quiet_when_piped(result)
