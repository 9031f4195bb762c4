"""``reportgen cohort`` as a user runs it (issue 5): invalid rows refused or excluded with
their reasons, --deidentify leaves no identifier in any output file, reproducible bytes, no
silent overwrite, --format json alone, --max-listing."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pikepdf
import pypdf
import pytest
from conftest import Reportgen, words_in_order

from reportgen.output import LOCK

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "input" / "case_series_2020.csv"
# Distinctive identifiers (a '-' never occurs in base64, so a hit is never chance).
IDS = [
    "MRN-8842-XYZ",
    "MRN-1177-QWE",
    "MRN-3301-RTY",
    "MRN-4410-UIO",
    "MRN-5522-PAS",
    "MRN-6633-DFG",
    "MRN-7744-HJK",
    "MRN-8855-LZX",
    "MRN-9966-CVB",
]
BAD_IDS = ["MRN-BAD1-AAA", "MRN-BAD2-BBB"]
NAMES = [f"Hanako NAME-MARK-{i}" for i in range(11)]
NOTES = [f"NOTE-MARK-{i}: back pain <b>since</b> week 2" for i in range(11)]
MARKERS = [*IDS, *BAD_IDS, "NAME-MARK", "NOTE-MARK", "Hanako"]


def start(run_reportgen: Reportgen, *args: object, hash_seed: str = "0") -> subprocess.Popen:
    """``reportgen cohort ARGS`` in a fresh interpreter; ``finish`` waits for it.
    Independent runs go side by side to keep the suite short."""
    return run_reportgen.popen(
        "cohort",
        *args,
        env={"PYTHONHASHSEED": hash_seed},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext"):
        return subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
    pages = pypdf.PdfReader(path).pages  # pragma: no cover - poppler-utils is installed
    return "\n".join(page.extract_text() for page in pages)


def every_readable_text(outdir: Path) -> dict[str, bytes]:
    """Each output file's bytes, plus, for PDFs, every decompressed stream, the extracted
    text and each embedded file (read while the Pdf is open)."""
    found: dict[str, bytes] = {}
    for path in sorted(outdir.iterdir()):
        if path.name == LOCK:  # empty: flock bookkeeping (issue 17)
            continue
        found[path.name] = path.read_bytes()
        if path.suffix != ".pdf":
            continue
        found[f"{path.name}:text"] = pdf_text(path).encode("utf-8")
        with pikepdf.open(path) as pdf:
            streams = [obj.read_bytes() for obj in pdf.objects if isinstance(obj, pikepdf.Stream)]
            found[f"{path.name}:streams"] = b"\n".join(streams)
            found[f"{path.name}:info"] = repr(dict(pdf.docinfo)).encode("utf-8")
            for name, spec in pdf.attachments.items():
                found[f"{path.name}:attachment:{name}"] = spec.get_file().read_bytes()
    return found


def leaks(outdir: Path) -> list[str]:
    hits = []
    for where, data in every_readable_text(outdir).items():
        for marker in MARKERS:
            for encoded in (marker.encode("utf-8"), marker.encode("utf-16-be")):
                if encoded in data:
                    hits.append(f"{marker!r} in {where}")
    return hits


@pytest.fixture(scope="module")
def marked_csv(tmp_path_factory) -> Path:
    """The seed's nine patients with identifying ids, names and notes, plus two invalid rows
    (spreadsheet rows 4 and 9: age 'abc', YAM missing)."""
    with SEED.open(newline="", encoding="utf-8") as stream:
        seed = list(csv.DictReader(stream))
    bad = [dict(seed[0], age_years="abc"), dict(seed[1], yam_percent="n/a")]  # blank = no DXA
    rows = seed[:2] + [bad[0]] + seed[2:6] + [bad[1]] + seed[6:]
    ids = IDS[:2] + [BAD_IDS[0]] + IDS[2:6] + [BAD_IDS[1]] + IDS[6:]
    path = tmp_path_factory.mktemp("marked") / "ward7-export.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=["name", "notes", *seed[0]])
        writer.writeheader()
        for i, (row, pid) in enumerate(zip(rows, ids, strict=True)):
            writer.writerow({**row, "patient_id": pid, "name": NAMES[i], "notes": NOTES[i]})
    return path


@pytest.fixture(scope="module")
def marked_runs(run_reportgen, marked_csv, tmp_path_factory) -> dict:
    """--skip-invalid, with and without --deidentify, rendered side by side."""
    plain = tmp_path_factory.mktemp("skipped") / "out"
    deid = tmp_path_factory.mktemp("deid") / "out"
    processes = [
        start(run_reportgen, str(marked_csv), "-o", str(plain), "--skip-invalid"),
        start(run_reportgen, str(marked_csv), "-o", str(deid), "--skip-invalid", "--deidentify"),
    ]
    (code, stderr), (deid_code, deid_stderr) = (finish(p) for p in processes)
    return {"plain": (code, stderr, plain), "deid": (deid_code, deid_stderr, deid)}


@pytest.fixture(scope="module")
def skipped_run(marked_runs) -> dict:
    code, stderr, outdir = marked_runs["plain"]
    assert code == 0, stderr
    return {
        "code": code,
        "stderr": stderr,
        "dir": outdir,
        "json": json.loads((outdir / "cohort-summary.json").read_text("utf-8")),
        "text": pdf_text(outdir / "cohort-summary.pdf"),
    }


@pytest.fixture(scope="module")
def deidentified_run(marked_runs) -> Path:
    code, stderr, outdir = marked_runs["deid"]
    assert code == 0, stderr
    return outdir


def test_invalid_rows_refused_and_nothing_written(run_reportgen, marked_csv, tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    result = run_reportgen("cohort", str(marked_csv), "-o", str(outdir))
    assert result.exit_code == 1
    assert list(outdir.iterdir()) == []  # no summary, no CSV, no manifest, no temp file
    assert re.search(r":4:age_years: ", result.stderr)
    assert re.search(r":9:yam_percent: ", result.stderr)


@pytest.mark.slow
def test_skip_invalid_excludes_rows_with_reasons(skipped_run):
    assert skipped_run["code"] == 0, skipped_run["stderr"]
    summary = skipped_run["json"]
    assert summary["n"] == 9
    assert summary["source"]["rows_read"] == 11
    assert summary["means"]["age_years"] == pytest.approx(30.0)  # the bad rows are not in it
    excluded = {e["row"]: e for e in summary["excluded"]}
    assert set(excluded) == {4, 9}
    assert excluded[4]["patient_id"] == BAD_IDS[0]
    assert [r["column"] for r in excluded[4]["reasons"]] == ["age_years"]
    assert "not a number" in excluded[4]["reasons"][0]["message"]
    assert excluded[9]["patient_id"] == BAD_IDS[1]
    assert [r["column"] for r in excluded[9]["reasons"]] == ["yam_percent"]

    text = skipped_run["text"]
    assert "2 excluded" in text
    assert "2 row(s) were left out of every figure above" in text
    for row, entry in excluded.items():  # a listing row: row, id, column: message
        reason = entry["reasons"][0]
        assert words_in_order(
            text, str(row), entry["patient_id"], f"{reason['column']}:", reason["message"]
        ), row
    # positive control for the de-identification test: ids are found where they are shown
    assert IDS[0] in text
    assert IDS[0] in (skipped_run["dir"] / "cohort-cases.csv").read_text("utf-8")


@pytest.mark.slow
def test_deidentify_leaves_no_identifier_in_any_output(deidentified_run):
    names = sorted(p.name for p in deidentified_run.iterdir() if p.name != LOCK)
    assert names == [
        "cohort-cases.csv",
        "cohort-summary.html",
        "cohort-summary.json",
        "cohort-summary.pdf",
        "manifest.json",
    ]
    assert leaks(deidentified_run) == []
    summary = json.loads((deidentified_run / "cohort-summary.json").read_text("utf-8"))
    assert summary["deidentified"] is True
    # a file is often named after its patient: the summary withholds the name
    assert summary["source"]["file"] == "(file name withheld: --deidentify)"
    for where, data in every_readable_text(deidentified_run).items():
        assert b"ward7-export" not in data, where
    assert summary["n"] == 9
    assert all("patient_id" not in e for e in summary["excluded"])
    assert [e["row"] for e in summary["excluded"]] == [4, 9]  # still says which rows
    cases = list(
        csv.DictReader(io.StringIO((deidentified_run / "cohort-cases.csv").read_text("utf-8")))
    )
    assert [c["patient_id"] for c in cases] == [str(i) for i in range(1, 10)]


def test_deidentify_redacts_values_quoted_in_problems(run_reportgen, marked_csv, tmp_path):
    """An identifier typed into the wrong column is quoted by the validator, and the file may
    be named after a patient."""
    text = marked_csv.read_text("utf-8").replace(",abc,", f",{NAMES[0]},")
    source = tmp_path / f"export-{IDS[0]}.csv"
    source.write_text(text, "utf-8")
    result = run_reportgen(
        "cohort",
        str(source),
        "-o",
        str(tmp_path / "out"),
        "--skip-invalid",
        "--deidentify",
        "--format",
        "json",
    )
    assert result.exit_code == 0
    assert leaks(tmp_path / "out") == []


@pytest.mark.slow
def test_same_input_same_bytes_and_no_silent_overwrite(run_reportgen, tmp_path):
    """Two runs in fresh interpreters (different hash seeds) give byte-identical files;
    a third run into the full directory without --overwrite refuses and changes nothing."""
    first, second = tmp_path / "a", tmp_path / "b"
    processes = [
        start(run_reportgen, str(SEED), "-o", str(first), hash_seed="1"),
        start(run_reportgen, str(SEED), "-o", str(second), hash_seed="2"),
    ]
    assert [finish(p)[0] for p in processes] == [0, 0]
    files = sorted(p.name for p in first.iterdir() if p.name != LOCK)
    assert files == sorted(p.name for p in second.iterdir() if p.name != LOCK)
    assert len(files) == 5
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name

    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in first.iterdir()}
    code, stderr = finish(start(run_reportgen, str(SEED), "-o", str(first), hash_seed="3"))
    assert code == 1
    assert "already exist" in stderr
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in first.iterdir()}
    assert after == before


def test_format_json_alone(run_reportgen, tmp_path):
    result = run_reportgen("cohort", str(SEED), "-o", str(tmp_path / "out"), "--format", "json")
    assert result.exit_code == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir() if p.name != LOCK)
    assert written == ["cohort-cases.csv", "cohort-summary.json", "manifest.json"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text("utf-8"))
    assert sorted(f["format"] for f in manifest["files"]) == ["csv", "json"]


def test_max_listing_caps_the_html_not_the_csv(run_reportgen, tmp_path):
    result = run_reportgen(
        "cohort", str(SEED), "-o", str(tmp_path / "out"), "--format", "html", "--max-listing", "3"
    )
    assert result.exit_code == 0, result.stderr
    html = (tmp_path / "out" / "cohort-summary.html").read_text("utf-8")
    assert "Showing the first 3 of 9 patients" in html
    listing = html[html.index('<table class="data listing">') :]
    listing = listing[: listing.index("</table>")]
    assert listing.count("<tr") == 1 + 3  # header + 3 patients
    cases = (tmp_path / "out" / "cohort-cases.csv").read_text("utf-8").splitlines()
    assert len(cases) == 1 + 9


def test_bad_dxa_settings_refuse_the_cohort_before_outdir_exists(run_reportgen, tmp_path):
    """The settings file is read once, up front (organisation, labs and DXA sections): a bad
    [dxa] section is a located error and no OUTDIR is created."""
    settings = tmp_path / "settings.toml"
    settings.write_text('[dxa.precision_percent]\n"L1-L4" = "high"\n', encoding="utf-8")
    outdir = tmp_path / "out"
    result = run_reportgen("cohort", SEED, "-o", outdir, "--settings", settings)
    assert result.exit_code != 0
    assert str(settings) in result.stderr
    assert not outdir.exists()


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ("nan", "increasing positive grams"),
        ("inf", "increasing positive grams"),
        ("500,1e999", "increasing positive grams"),  # was an internal error
        ("1000,500", "increasing positive grams"),
        ("0,500", "increasing positive grams"),
        ("x", "comma-separated grams"),
        ("999.9999,1000.0001", "at most one decimal"),  # both were labelled "1,000 g"
        ("1e-300", "at most one decimal"),
        ("500,20000.1", "grams up to 20,000"),
        (",".join(str(g) for g in range(1, 22)), "give 1 to 20 edges in grams"),
    ],
)
def test_bad_dose_bands_are_a_usage_error_before_outdir_exists(
    run_reportgen, tmp_path, bands, message
):
    outdir = tmp_path / "out"
    result = run_reportgen("cohort", SEED, "-o", outdir, "--dose-bands", bands)
    assert result.exit_code == 2
    assert "--dose-bands" in result.stderr
    assert message in result.stderr
    assert "internal error" not in result.stderr
    assert not outdir.exists()


def test_dose_band_edges_from_the_api_are_checked_before_outdir_exists(tmp_path):
    from reportgen.api import build_cohort_report
    from reportgen.errors import ReportError

    with pytest.raises(ReportError, match="increasing positive grams"):
        build_cohort_report(SEED, tmp_path / "out", dose_band_edges_g=[500, float("inf")])
    assert not (tmp_path / "out").exists()


def test_twenty_dose_band_edges_make_twenty_one_bands(run_reportgen, tmp_path):
    edges = ",".join(str(100 * g) for g in range(1, 21))
    result = run_reportgen(
        "cohort", SEED, "-o", tmp_path / "out", "--format", "json", "--dose-bands", edges
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "cohort-summary.json").read_text("utf-8"))
    assert len(summary["dose_bands"]["bands"]) >= 21


def test_deidentify_keeps_fracture_sites_as_codes_only(run_reportgen, tmp_path):
    """Free-text sites ("Suzuki-hip-left") were kept as written in a de-identified cohort."""
    path = tmp_path / "sites.csv"
    path.write_text(
        "patient_id,age_years,bmi_kg_m2,mgso4_days,mgso4_total_g,yam_percent,fracture,"
        "fracture_sites,physician\n"
        "a,29,20.1,30,1200,66,yes,Suzuki hip left,Dr Mori\n"
        "b,31,21.0,10,500,85,yes,第12胸椎・第1腰椎 (Tanaka),Dr Ito\n",
        "utf-8",
    )
    out = tmp_path / "out"
    result = run_reportgen("cohort", path, "-o", out, "--deidentify", "--format", "html,json")
    assert result.exit_code == 0, result.output
    for name in ("cohort-cases.csv", "cohort-summary.html", "cohort-summary.json"):
        text = (out / name).read_text("utf-8")
        for word in ("Suzuki", "Tanaka", "Mori", "Ito"):
            assert word not in text, (name, word)
    cases = list(csv.DictReader(io.StringIO((out / "cohort-cases.csv").read_text("utf-8"))))
    assert [c["fracture_sites"] for c in cases] == ["proximal_femur", "T12; L1"]
