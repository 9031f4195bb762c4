"""Hostile and broken input through ``validate``, ``patient`` and ``cohort`` (issue 7): clear
messages and exit codes (never a traceback), limits in bounded memory, and no patient data in
messages beyond the offending cell.

Limits: the size limit is tested with a sparse file (no disk used); the row limit with
``MAX_ROWS`` monkeypatched down (measured once by hand with a real 1,000,001-row CSV of 26 MB:
refused in 6 s with a 404 MB peak RSS); the cell limit with a real 10 MB cell.
"""

from __future__ import annotations

import csv
import gc
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Reportgen
from hostile.corpus import KNOWN_BUGS, VALID, Entry, corpus, to_csv
from hostile.loopback import Listener, listening

from reportgen import input_text, loaders

PROBLEM_LINE = re.compile(r"^.+:\d+:[^:\s]+: .+$")
RSS_LIMIT_KB = 1_500_000  # 1.5 GB
SECRET = "ZZSECRET-4711"


@pytest.fixture(autouse=True, scope="module")
def _collect() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    with listening() as found:
        yield found


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, listener: Listener) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("hostile")
    secret = directory / "secret.txt"
    secret.write_text("SECRET-FILE-CONTENT", "utf-8")
    paths = {}
    for entry in corpus(listener.port, secret):
        paths[entry.name] = directory / entry.name
        paths[entry.name].write_bytes(entry.data)
    return paths


def _entries() -> list:
    params = []
    for entry in corpus(1, Path("/nonexistent")):
        marks = (
            [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[entry.name])]
            if (entry.name in KNOWN_BUGS)
            else []
        )
        params.append(pytest.param(entry, id=entry.name, marks=marks))
    return params


def _outside(outdir: Path, root: Path) -> list[Path]:
    return [
        p for p in root.rglob("*") if p.is_file() and outdir not in p.parents and p.parent != root
    ]


# --- the corpus through every command -------------------------------------------------------


@pytest.mark.parametrize("entry", _entries())
def test_corpus_validate(run_reportgen, entry: Entry, files):
    path = files[entry.name]
    result = run_reportgen("validate", path)
    if entry.valid:
        assert result.exit_code == 0, result.output
        assert result.stderr.strip() == f"{path}: OK"
    else:
        assert result.exit_code == 1, result.output
    lines = [line for line in result.stdout.splitlines() if line]
    assert all(PROBLEM_LINE.match(line) for line in lines), lines
    if entry.valid is None:  # the whole file is refused, located at row 0
        assert lines, result.output
        assert lines[0].startswith(f"{path}:0:-: ")
    if entry.valid is False:  # located problems on patient rows
        assert any(not line.startswith(f"{path}:0:") for line in lines), lines


@pytest.mark.slow
@pytest.mark.parametrize("entry", _entries())
def test_corpus_patient(run_reportgen, entry: Entry, files, tmp_path, listener):
    outdir = tmp_path / "out"
    result = run_reportgen(
        "patient", files[entry.name], "-o", outdir, "--format", "json,html", "--workers", "1"
    )
    assert result.exit_code == (0 if entry.valid else 1), result.output
    if entry.valid:
        reports = json.loads((outdir / "manifest.json").read_text("utf-8"))["files"]
        assert reports
        assert len(list(outdir.glob("patient-*"))) == len(reports)
    assert _outside(outdir, tmp_path) == []
    assert listener.settle() == []


@pytest.mark.slow
@pytest.mark.parametrize("entry", _entries())
def test_corpus_cohort(run_reportgen, entry: Entry, files, tmp_path, listener):
    outdir = tmp_path / "out"
    result = run_reportgen(
        "cohort", files[entry.name], "-o", outdir, "--format", "json,html", "--skip-invalid"
    )
    if entry.valid:
        assert result.exit_code == 0, result.output
        assert (outdir / "cohort-summary.json").is_file()
    elif result.exit_code == 0:  # --skip-invalid: the valid rows, the rest listed as excluded
        assert json.loads((outdir / "cohort-summary.json").read_text("utf-8"))["excluded"]
    else:
        assert not (outdir / "cohort-summary.json").exists()
    assert _outside(outdir, tmp_path) == []
    assert listener.settle() == []


# --- known problems elsewhere (strict: a fix turns these red, so the marker goes) ------------


def _json(tmp_path: Path, records: list[dict]) -> Path:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(records), "utf-8")
    return path


@pytest.mark.parametrize("patient_id", ["山田花子"])
def test_ids_without_glyphs_render_without_warnings(run_reportgen, tmp_path, patient_id):
    source = _json(tmp_path, [{"patient_id": patient_id, **VALID}])
    result = run_reportgen(
        "patient", source, "-o", tmp_path / "out", "--format", "html", "--workers", "1"
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 0


def test_lone_surrogates_are_refused_with_a_located_message(run_reportgen, tmp_path):
    source = tmp_path / "surrogate.json"
    source.write_text(
        '[{"patient_id": "s\\ud800x", "age_years": 30, "bmi_kg_m2": 20, '
        '"mgso4_days": 10, "mgso4_total_g": 300, "yam_percent": 85, '
        '"fracture": false, "notes": "bad \\udfff"}]',
        "utf-8",
    )
    result = run_reportgen(
        "patient", source, "-o", tmp_path / "out", "--format", "html,json", "--workers", "1"
    )
    assert result.exit_code == 1
    assert f"{source}:1:patient_id: text is not valid Unicode" in result.stderr
    assert f"{source}:1:notes: text is not valid Unicode" in result.stderr
    assert not list((tmp_path / "out").glob("patient-*"))


@pytest.mark.slow
def test_control_characters_in_notes_do_not_abort_the_batch(run_reportgen, tmp_path):
    source = _json(
        tmp_path,
        [
            {"patient_id": "c1", **VALID, "notes": "line\x0bbreak\x1b"},
            {"patient_id": "c2", **VALID},
        ],
    )
    outdir = tmp_path / "out"
    result = run_reportgen("patient", source, "-o", outdir, "--format", "pdf", "--workers", "1")
    assert (outdir / "patient-c2.pdf").is_file()
    assert result.exit_code == 0, result.output


# --- limits ------------------------------------------------------------------------------------


def _measured(run_reportgen: Reportgen, *args: object) -> tuple[int, str, int]:
    """Run ``reportgen ARGS`` in a grandchild, through a wrapper that reads its peak RSS
    (what ``run_reportgen.subprocess`` cannot give); (exit status, stdout+stderr, peak RSS in
    KB)."""
    wrapper = (
        "import json, resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stdout.write(json.dumps([done.returncode, done.stdout + done.stderr, peak]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *run_reportgen.command(*args)],
        capture_output=True,
        text=True,
        env=run_reportgen.environ(),
        timeout=600,
        check=True,
    )
    status, output, peak = json.loads(done.stdout)
    return status, output, peak


@pytest.mark.slow
@pytest.mark.parametrize("size", [input_text.MAX_INPUT_BYTES + 1, 1 << 30])
def test_file_over_the_size_limit_is_refused_in_bounded_memory(run_reportgen, tmp_path, size):
    path = tmp_path / "huge.csv"
    with path.open("wb") as stream:
        stream.truncate(size)  # sparse: no disk used
    limit = f"the limit is {input_text.MAX_INPUT_BYTES / 2**20:,.0f} MiB"
    for args in (
        ("validate", path),
        ("patient", path, "-o", tmp_path / "p"),
        ("cohort", path, "-o", tmp_path / "c"),
    ):
        status, output, peak = _measured(run_reportgen, *args)
        assert status == 1, output
        assert f"{path}:0:-: file is" in output
        assert limit in output
        assert "Traceback" not in output
        assert peak < RSS_LIMIT_KB, f"{args[0]}: peak RSS {peak} KB"
    assert not (tmp_path / "p").exists()
    assert not (tmp_path / "c").exists()


def _rows(tmp_path: Path, count: int) -> Path:
    records = [{"patient_id": f"r{i}", **VALID} for i in range(count)]
    path = tmp_path / f"rows-{count}.csv"
    path.write_text(to_csv(records), "utf-8")
    return path


def test_row_limit(run_reportgen, tmp_path, monkeypatch):
    """MAX_ROWS (1,000,000) lowered to 20 here: 21 rows are refused with a clear message."""
    monkeypatch.setattr(loaders, "MAX_ROWS", 20)
    assert run_reportgen("validate", _rows(tmp_path, 20)).exit_code == 0
    over = _rows(tmp_path, 21)
    for args in (
        ("validate", over),
        ("patient", over, "-o", tmp_path / "p", "--format", "json"),
        ("cohort", over, "-o", tmp_path / "c", "--format", "json"),
    ):
        result = run_reportgen(*args)
        assert result.exit_code == 1, result.output
        assert f"{over}:0:-: 21 rows; the limit is 20" in result.output
    assert list(tmp_path.glob("p/patient-*")) == []


def _big_cell(tmp_path: Path, suffix: str) -> Path:
    records = [
        {"patient_id": "big", **VALID, "notes": SECRET * (10 * 2**20 // len(SECRET))},
        {"patient_id": "small", **VALID, "notes": "fine"},
    ]
    path = tmp_path / f"big{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(records), "utf-8")
    else:
        path.write_text(to_csv(records), "utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("suffix", "row"), [(".csv", 2), (".json", 1)])
def test_ten_megabyte_cell_is_located_not_echoed(run_reportgen, tmp_path, suffix, row):
    path = _big_cell(tmp_path, suffix)
    cells = len(SECRET * (10 * 2**20 // len(SECRET)))
    status, output, peak = _measured(run_reportgen, "validate", path)
    assert status == 1
    limit = input_text.MAX_CELL_CHARS
    assert f"{path}:{row}:notes: cell is {cells:,} characters; the limit is {limit:,}" in output
    assert SECRET not in output
    assert "Traceback" not in output
    assert peak < RSS_LIMIT_KB
    # patient: that row gets no report, the other one does (exit 1)
    outdir = tmp_path / "out"
    result = run_reportgen("patient", path, "-o", outdir, "--format", "json", "--workers", "1")
    assert result.exit_code == 1
    assert SECRET not in result.output
    assert sorted(p.name for p in outdir.glob("patient-*")) == ["patient-small.json"]
    manifest = (outdir / "manifest.json").read_text("utf-8")
    assert SECRET not in manifest


def test_cell_at_the_limit_is_accepted(run_reportgen, tmp_path):
    limit = input_text.MAX_CELL_CHARS
    path = _json(tmp_path, [{"patient_id": "edge", **VALID, "notes": "x" * limit}])
    assert run_reportgen("validate", path).exit_code == 0
    path = _json(
        tmp_path, [{"patient_id": "edge", **VALID, "notes": "x" * (input_text.MAX_CELL_CHARS + 1)}]
    )
    assert run_reportgen("validate", path).exit_code == 1


# --- no patient data in messages ---------------------------------------------------------------


def _secret_rows(tmp_path: Path) -> Path:
    records = [
        {
            "patient_id": "m1",
            **VALID,
            "yam_percent": "abc",
            "name": f"Hanako {SECRET}",
            "notes": f"history {SECRET}",
            "fracture_sites": f"T7 {SECRET}",
            "dxa_site": "L1-L4",
        },
        {
            "patient_id": "m2",
            **VALID,
            "age_years": "200",
            "name": f"Yoko {SECRET}",
            "notes": f"{SECRET} " * 3000,
            "fracture_sites": "",
            "dxa_site": "",
        },  # > 10,000
        {
            "patient_id": "m3",
            **VALID,
            "name": f"Aiko {SECRET}",
            "notes": f"ok {SECRET}",
            "fracture_sites": "L1",
            "dxa_site": "L1-L4",
        },
    ]
    path = tmp_path / "secrets.csv"
    path.write_text(to_csv(records), "utf-8")
    return path


@pytest.mark.slow
def test_no_patient_data_beyond_the_offending_cell(run_reportgen, tmp_path, caplog):
    source = _secret_rows(tmp_path)
    runs = {
        "validate": ["validate", source],
        "patient": ["patient", source, "-o", tmp_path / "p", "--workers", "1"],
        "cohort": ["cohort", source, "-o", tmp_path / "c", "--skip-invalid"],
        "cohort-refused": ["cohort", source, "-o", tmp_path / "r"],
    }
    for name, args in runs.items():  # in a child: printed warnings would show on stderr
        done = run_reportgen.subprocess(*args)
        assert done.returncode == (0 if name == "cohort" else 1), (name, done.stderr)
        assert SECRET not in done.stdout + done.stderr, name
        assert "Traceback" not in done.stderr
        if name != "cohort":  # the offending cells are located (the row and column)
            assert f"{source}:2:yam_percent: not a number: 'abc'" in done.stdout + done.stderr
            assert f"{source}:3:notes: cell is " in done.stdout + done.stderr
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text("utf-8"))
    assert SECRET not in json.dumps(manifest["errors"])
    assert [f["patient_id"] for f in manifest["files"] if f["format"] == "json"] == ["m3"]
    # and in this process, through logging
    with caplog.at_level("DEBUG"):
        run_reportgen("validate", source)
        run_reportgen("patient", source, "-o", tmp_path / "again", "--format", "json")
    assert not [r for r in caplog.records if SECRET in r.getMessage()]


def test_cohort_csv_neutralises_spreadsheet_formulas(run_reportgen, files, tmp_path):
    """Ids and sites starting with = + - @ would run as formulas when cohort-cases.csv is
    opened in a spreadsheet: they are written with a leading apostrophe."""
    outdir = tmp_path / "out"
    result = run_reportgen(
        "cohort", files["formula_injection.csv"], "-o", outdir, "--format", "json"
    )
    assert result.exit_code == 0, result.output
    with (outdir / "cohort-cases.csv").open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 1
    for column in ("patient_id", "fracture_sites"):
        assert not rows[0][column].startswith(("=", "+", "-", "@")), rows[0][column]
    assert rows[0]["patient_id"].lstrip("'") == '=HYPERLINK("http://127.0.0.1:1/","x")'
