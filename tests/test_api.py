"""``api.render_patient``: one patient from a plain dict to HTML, PDF and JSON bytes, in
memory, and the same bytes as the batch writes (issue 18)."""

from __future__ import annotations

import csv
import inspect
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from reportgen import api
from reportgen.api import InvalidRecord, render_patient

ROOT = Path(__file__).resolve().parent.parent
INDEX_JSON = ROOT / "input" / "index_case_2.json"
EPOCH = "1704067200"


@pytest.fixture
def record() -> dict:
    """The index case as a plain dict, as a library user would hold it."""
    return json.loads(INDEX_JSON.read_text("utf-8"))


@pytest.fixture
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory that must stay empty."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    return cwd


def test_render_patient_makes_pdf_json_html_bytes_and_writes_nothing(record, empty_cwd):
    outputs = render_patient(record)
    assert list(outputs) == ["json", "html", "pdf"]
    assert all(isinstance(data, bytes) for data in outputs.values())
    document = json.loads(outputs["json"])
    assert document["patient_id"] == "2"
    assert document["classification"] == "osteoporosis"
    assert document["yam_percent"] == 67
    assert document["mgso4_days"] == 85
    assert outputs["html"].startswith(b"<!DOCTYPE html>")
    assert b"patient-2.json" in outputs["html"]  # the HTML names its JSON as the batch does
    assert outputs["pdf"].startswith(b"%PDF-")
    text = " ".join(PdfReader(io.BytesIO(outputs["pdf"])).pages[0].extract_text().split())
    assert "Patient ID 2 " in text
    assert "Age 36 years" in text
    assert "BONE STATUS (JOS 2012) Osteoporosis" in text
    assert list(empty_cwd.iterdir()) == []


def test_render_patient_takes_no_output_dir():
    names = set(inspect.signature(render_patient).parameters)
    assert not names & {"outdir", "output_dir", "path"}


def test_render_patient_json_only_accepts_dates_and_aliases(record, empty_cwd):
    from datetime import date

    record = {**record, "delivery_date": date(2020, 5, 26)}
    outputs = render_patient(record, formats=("json",))
    assert list(outputs) == ["json"]
    assert json.loads(outputs["json"])["patient_id"] == "2"


def test_render_patient_invalid_record_lists_every_located_problem(record, empty_cwd):
    broken = {**record, "age_years": "thirty", "yam_percent": 250}
    with pytest.raises(InvalidRecord) as caught:
        render_patient(broken, formats=("json",))
    message = str(caught.value)
    assert message.startswith("record: invalid patient record")
    assert "record:1:age_years:" in message
    assert "record:1:yam_percent:" in message
    assert {p.column for p in caught.value.problems} >= {"age_years", "yam_percent"}
    assert isinstance(caught.value, api.ReportError)
    assert list(empty_cwd.iterdir()) == []


def test_render_patient_refuses_a_non_mapping(empty_cwd):
    with pytest.raises(InvalidRecord, match="must be a mapping"):
        render_patient(["not", "a", "record"])  # type: ignore[arg-type]


def test_batch_files_equal_render_patient_bytes(record, tmp_path, monkeypatch):
    """The batch workers call the same function: the files are render_patient's bytes."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    formats = ("html", "pdf", "json", "fhir", "fhir-bundle")
    result = api.build_patient_reports(INDEX_JSON, tmp_path / "out", formats=formats, workers=1)
    assert result.files
    outputs = render_patient(record, formats=formats, source_name=INDEX_JSON.name)
    suffixes = {"html": "html", "pdf": "pdf", "json": "json"}
    suffixes |= {"fhir": "fhir.json", "fhir-bundle": "bundle.json"}
    for fmt, data in outputs.items():
        assert (tmp_path / "out" / f"patient-2.{suffixes[fmt]}").read_bytes() == data, fmt


def test_render_patient_with_scans_makes_the_follow_up_report(record, empty_cwd):
    """A record carrying its ``scans`` list gets the follow-up report, as a JSON input does."""
    with (ROOT / "input" / "follow_up_scans.csv").open(encoding="utf-8") as stream:
        scans = [
            {k: v for k, v in row.items() if v and k != "patient_id"}
            for row in csv.DictReader(stream)
            if row["patient_id"] == "2"
        ]
    plain = json.loads(render_patient(record, formats=("json",))["json"])
    outputs = render_patient({**record, "scans": scans}, formats=("json", "html"))
    document = json.loads(outputs["json"])
    assert document != plain
    assert "follow_up" in json.dumps(document)
    assert list(empty_cwd.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "absent"),
    [
        (["--help"], ("pandas", "matplotlib", "weasyprint")),
        (["rules"], ("pandas", "matplotlib", "weasyprint", "reportgen.api", "reportgen.schema")),
        (["rules", "--json"], ("pandas", "matplotlib", "weasyprint", "reportgen.schema")),
    ],
)
def test_cli_imports_only_what_the_command_needs(args, absent):
    """Lazy imports (issue 19): the CLI imports the api and its libraries inside commands."""
    code = (
        "import sys\nfrom reportgen.cli import cli\n"
        f"try:\n    cli({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {absent!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_renderers_kept_per_thread_are_bounded(tmp_path):
    """A long-lived process that renders with many template folders keeps at most a few
    renderers (each holds WeasyPrint fonts and a temporary font folder)."""
    from reportgen import patient_report
    from reportgen.settings import Organisation

    org = Organisation()
    templates = Path(__file__).resolve().parent.parent / "templates"
    made = []
    for i in range(patient_report._RENDERERS_KEPT + 3):
        folder = tmp_path / f"t{i}"
        folder.symlink_to(templates, target_is_directory=True)
        made.append(patient_report._renderer(str(folder), org))
    kept = patient_report._LOCAL.renderers
    assert len(kept) == patient_report._RENDERERS_KEPT
    assert patient_report._renderer(str(tmp_path / "t0"), org) is not made[0]  # rebuilt
    assert patient_report._renderer(str(folder), org) is made[-1]  # reused
