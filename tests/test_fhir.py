"""``--format pdf,fhir``: one valid FHIR R4 (R4B model) DocumentReference per patient whose
attachment is exactly the PDF written beside it, byte-deterministic under SOURCE_DATE_EPOCH."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
import pydantic
import pytest
from conftest import EPOCH, Reportgen
from fhir.resources.R4B.documentreference import DocumentReference

from reportgen import fhir
from reportgen.api import generation_time
from reportgen.settings import Organisation

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "input" / "case_series_2020.csv"
SETTINGS = Path(__file__).resolve().parent / "data" / "settings" / "settings.toml"
CUSTOM_SYSTEM = "https://northfield.example.org/fhir/sid/mrn"
IDS = [str(i) for i in range(1, 10)]
# FHIR R4 ``instant``: seconds and a time zone are required.
INSTANT = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|"
    r"3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?"
    r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
)


def render(run_reportgen: Reportgen, tmp_path_factory, name: str, *args: str | Path) -> Path:
    """``reportgen patient SEED ARGS`` in this process (so warnings fail the test)."""
    outdir = tmp_path_factory.mktemp(name)
    result = run_reportgen("patient", SEED, *args, "-o", outdir)
    assert result.exit_code == 0, result.stderr
    return outdir


@pytest.fixture(scope="module")
def batch(run_reportgen, tmp_path_factory) -> Path:
    """The 9-patient seed as pdf,fhir in a pool of 2 workers (9 jobs > one chunk of 8)."""
    return render(
        run_reportgen, tmp_path_factory, "batch-w2", "--format", "pdf,fhir", "--workers", "2"
    )


@pytest.fixture(scope="module")
def batch_again(run_reportgen, tmp_path_factory) -> Path:
    """The same batch again, into another directory, without a pool (--workers 1)."""
    return render(
        run_reportgen, tmp_path_factory, "batch-w1", "--format", "pdf,fhir", "--workers", "1"
    )


@pytest.fixture(scope="module")
def custom(run_reportgen, tmp_path_factory) -> Path:
    """Patient 2, ``--format fhir`` only, with tests/data/settings/settings.toml."""
    return render(
        run_reportgen,
        tmp_path_factory,
        "custom",
        "--id",
        "2",
        "--format",
        "fhir",
        "--settings",
        SETTINGS,
    )


def load(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


@pytest.mark.slow
def test_fhir_batch_writes_a_document_reference_per_patient(batch):
    names = {p.name for p in batch.iterdir() if not p.name.startswith(".")}
    expected = {f"patient-{i}.{ext}" for i in IDS for ext in ("pdf", "fhir.json")}
    assert names == expected | {"manifest.json"}
    manifest = load(batch / "manifest.json")
    formats = {(e["patient_id"], e["format"]) for e in manifest["files"]}
    assert formats == {(i, f) for i in IDS for f in ("pdf", "fhir")}
    assert manifest["errors"] == []


@pytest.mark.slow
@pytest.mark.parametrize("pid", IDS)
def test_fhir_document_reference_validates_against_r4b(batch, pid):
    resource = load(batch / f"patient-{pid}.fhir.json")
    model = DocumentReference.model_validate(resource)
    assert model.get_resource_type() == "DocumentReference"
    assert model.masterIdentifier.value.startswith("urn:uuid:")


@pytest.mark.slow
@pytest.mark.parametrize("pid", IDS)
def test_fhir_status_type_and_subject(batch, pid):
    resource = load(batch / f"patient-{pid}.fhir.json")
    assert resource["resourceType"] == "DocumentReference"
    assert resource["status"] == "current"
    assert resource["docStatus"] == "preliminary"
    assert resource["type"]["coding"] == [
        {"system": "http://loinc.org", "code": "18842-5", "display": "Discharge summary"}
    ]
    subject = resource["subject"]
    assert subject["type"] == "Patient"
    assert subject["identifier"] == {"system": Organisation().identifier_system, "value": pid}
    assert subject["identifier"]["system"] == "urn:reportgen:patient-id"


@pytest.mark.slow
@pytest.mark.parametrize("pid", IDS)
def test_fhir_date_is_an_instant_with_time_zone(batch, pid):
    resource = load(batch / f"patient-{pid}.fhir.json")
    assert INSTANT.fullmatch(resource["date"])
    moment = datetime.fromisoformat(resource["date"])
    assert moment.tzinfo is not None
    assert moment == datetime.fromtimestamp(int(EPOCH), UTC)


@pytest.mark.slow
@pytest.mark.parametrize("pid", IDS)
def test_fhir_attachment_is_exactly_the_pdf_beside_it(batch, pid):
    pdf = (batch / f"patient-{pid}.pdf").read_bytes()
    attachment = load(batch / f"patient-{pid}.fhir.json")["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    assert base64.b64decode(attachment["data"], validate=True) == pdf
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii")
    assert attachment["size"] == len(pdf)
    assert attachment["title"].endswith(f"patient {pid}")
    assert INSTANT.fullmatch(attachment["creation"])
    assert attachment["language"] == "en"


@pytest.mark.slow
def test_fhir_output_is_byte_deterministic_across_runs_and_workers(batch, batch_again):
    """Two runs (2 spawned workers vs this process) into two directories: identical bytes."""
    for pid in IDS:
        for ext in ("pdf", "fhir.json"):
            name = f"patient-{pid}.{ext}"
            assert (batch / name).read_bytes() == (batch_again / name).read_bytes(), name


def test_fhir_custom_identifier_system_from_settings(custom):
    resource = load(custom / "patient-2.fhir.json")
    DocumentReference.model_validate(resource)
    assert resource["subject"]["identifier"] == {"system": CUSTOM_SYSTEM, "value": "2"}
    assert resource["author"] == [{"display": "Northfield University Hospital"}]
    assert resource["content"][0]["attachment"]["language"] == "en-GB"


def test_fhir_only_format_embeds_a_pdfa_without_writing_it(custom):
    assert {p.name for p in custom.iterdir() if not p.name.startswith(".")} == {
        "patient-2.fhir.json",
        "manifest.json",
    }
    attachment = load(custom / "patient-2.fhir.json")["content"][0]["attachment"]
    data = base64.b64decode(attachment["data"])
    assert attachment["size"] == len(data)
    buffer = io.BytesIO(data)
    with pikepdf.open(buffer) as pdf:
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
            assert meta.pdfa_status == "3U"
        assert len(pdf.attachments) == 1


# --- reportgen.fhir without the CLI ---------------------------------------------------------

DOCUMENT = {
    "patient_id": "P-7",
    "classification_label": "Normal",
    "rules_name": "reportgen-plo-default",
    "rules_version": "test",
}


def test_document_reference_date_without_source_date_epoch_is_an_instant(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    generated_at = generation_time()
    resource = fhir.document_reference(DOCUMENT, b"%PDF-1.7 test", Organisation(), generated_at)
    assert INSTANT.fullmatch(resource["date"])
    assert datetime.fromisoformat(resource["date"]).tzinfo is not None


def test_document_reference_rejects_a_date_without_time_zone():
    with pytest.raises(pydantic.ValidationError):
        fhir.document_reference(DOCUMENT, b"%PDF", Organisation(), "2024-01-01T00:00:00")


def test_document_reference_rejects_codes_outside_the_required_bindings():
    good = fhir.document_reference(DOCUMENT, b"%PDF", Organisation(), "2024-01-01T00:00:00Z")
    fhir._check_codes(good)
    for path, value in (
        (("status",), "final"),
        (("docStatus",), "draft"),
        (("type", "coding", 0, "code"), "11488-4"),
        (("subject", "type"), "Group"),
    ):
        broken = json.loads(json.dumps(good))
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(ValueError, match="DocumentReference"):
            fhir._check_codes(broken)


def test_document_reference_uses_the_settings_identifier_system():
    org = Organisation(identifier_system="urn:oid:1.2.3.4.5")
    resource = fhir.document_reference(DOCUMENT, b"%PDF", org, "2024-01-01T00:00:00Z")
    assert resource["subject"]["identifier"] == {"system": "urn:oid:1.2.3.4.5", "value": "P-7"}
