"""``reportgen send`` against a real FHIR engine on 127.0.0.1: Medplum's FHIR router and in-memory
repository (tests/fhir_server, installed by ``npm ci`` in scripts/test). The bundles are filed
against the right Patient, found back by the patient's identifier, a resend adds nothing, and
an invalid bundle is refused with the engine's OperationOutcome on one line."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reportgen.send import SendOptions, _Connection, _resolve_references

HERE = Path(__file__).resolve().parent
SERVER = HERE / "fhir_server"
PATIENT = HERE / "data" / "fhir_patient.json"
INDEX_CASE = HERE.parent / "input" / "index_case_2.json"
SETTINGS = HERE / "data" / "settings" / "fhir.toml"
MRN = "https://northfield.example.org/fhir/sid/mrn"
ORG = "https://northfield.example.org/fhir/sid/org"
STARTUP_S = 60

pytestmark = [
    pytest.mark.slow,  # starts the Node.js FHIR engine
    pytest.mark.skipif(
        shutil.which("node") is None,
        reason="Node.js is not installed (scripts/setup-system --test installs it)",
    ),
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in.*sRGB2014\.icc:pytest.PytestUnraisableExceptionWarning"
    ),
]


@pytest.fixture(scope="module")
def engine() -> Iterator[str]:
    """Start tests/fhir_server/server.mjs on a free port; its base URL."""
    if not (SERVER / "node_modules" / "@medplum" / "fhir-router").is_dir():
        pytest.fail(
            "tests/fhir_server/node_modules is missing: run `npm ci` in "
            "tests/fhir_server (scripts/test does)"
        )
    process = subprocess.Popen(
        ["node", "server.mjs", "0"],
        cwd=SERVER,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True
    )
    reader.start()
    deadline = time.monotonic() + STARTUP_S
    while not any(x.startswith("listening ") for x in lines):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the FHIR engine did not start: {process.stderr.read()[-2000:]}")
        time.sleep(0.1)
    port = int(next(x for x in lines if x.startswith("listening ")).split()[1])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            stream.close()


@pytest.fixture(scope="module")
def fhir(engine) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=engine, headers={"Accept": "application/fhir+json"}, timeout=30
    ) as client:
        yield client


@pytest.fixture(scope="module")
def chart(fhir) -> dict[str, str]:
    """The EHR's own records: two patients and the organisation, by identifier."""
    ids = {}
    for pid in ("F-7", "2"):
        created = fhir.post(
            "/Patient",
            json={
                "resourceType": "Patient",
                "identifier": [{"system": MRN, "value": pid}],
                "name": [{"family": f"Patient {pid}"}],
            },
        )
        assert created.status_code == 201, created.text
        ids[pid] = created.json()["id"]
    created = fhir.post(
        "/Organization",
        json={
            "resourceType": "Organization",
            "identifier": [{"system": ORG, "value": "NUH-1"}],
            "name": "Northfield University Hospital",
        },
    )
    assert created.status_code == 201, created.text
    ids["organisation"] = created.json()["id"]
    return ids


@pytest.fixture(scope="module")
def outdir(run_reportgen, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("engine")
    for source in (PATIENT, INDEX_CASE):
        result = run_reportgen(
            "patient",
            source,
            "-o",
            out,
            "--format",
            "pdf,fhir-bundle",
            "--settings",
            SETTINGS,
            "--fhir-profile",
            "jpcore",
        )
        assert result.exit_code == 0, result.stderr
    return out


def search(fhir: httpx.Client, query: str) -> list[dict]:
    answer = fhir.get(query)
    assert answer.status_code == 200, answer.text
    return [e["resource"] for e in answer.json().get("entry", [])]


def counts(fhir: httpx.Client) -> dict[str, int]:
    return {
        kind: len(search(fhir, f"/{kind}?_count=1000"))
        for kind in ("Binary", "DocumentReference", "DiagnosticReport", "Observation")
    }


@pytest.fixture(scope="module")
def first_send(run_reportgen, engine, chart, outdir) -> tuple[int, str]:
    result = run_reportgen("send", outdir, "--fhir-base", engine)
    return result.exit_code, result.stderr


def test_send_files_each_bundle_against_its_patient(first_send, fhir, chart, outdir):
    code, stderr = first_send
    assert code == 0, stderr
    assert "2 of 2 bundle(s) delivered" in stderr
    manifest = json.loads((outdir / "manifest.json").read_text("utf-8"))
    records = {e["path"]: e["send"] for e in manifest["files"] if e["format"] == "fhir-bundle"}
    assert set(records) == {"patient-F-7.bundle.json", "patient-2.bundle.json"}
    for record in records.values():
        assert record["status"] == "created"
        assert record["document_reference"].startswith("DocumentReference/")
        assert all(e["status"].startswith("201") for e in record["entries"])


def test_search_back_by_patient_identifier(first_send, fhir, chart, outdir):
    (patient,) = search(fhir, f"/Patient?identifier={MRN}|F-7")
    assert patient["id"] == chart["F-7"]
    (docref,) = search(fhir, f"/DocumentReference?patient=Patient/{patient['id']}")
    bundle = json.loads((outdir / "patient-F-7.bundle.json").read_text("utf-8"))
    assert docref["masterIdentifier"] == bundle["entry"][1]["resource"]["masterIdentifier"]
    assert docref["subject"]["reference"] == f"Patient/{patient['id']}"
    assert docref["author"][0]["reference"] == f"Organization/{chart['organisation']}"
    assert docref["type"]["coding"][0]["code"] == "18842-5"
    # The attachment now points at the stored Binary, which holds exactly the PDF.
    binary_ref = docref["content"][0]["attachment"]["url"]
    assert binary_ref.startswith("Binary/")
    binary = fhir.get(f"/{binary_ref}").json()
    pdf = (outdir / "patient-F-7.pdf").read_bytes()
    assert base64.b64decode(binary["data"]) == pdf
    assert (
        docref["content"][0]["attachment"]["hash"]
        == base64.b64encode(hashlib.sha1(pdf).digest()).decode()
    )
    observations = search(fhir, f"/Observation?patient=Patient/{patient['id']}")
    codes = {o["code"]["coding"][0]["code"] for o in observations}
    assert codes == {"24966-4", "38267-1", "85394-5", "yam-percent-lumbar_spine", "jos-bone-status"}
    (report,) = search(fhir, f"/DiagnosticReport?patient=Patient/{patient['id']}")
    assert {r["reference"] for r in report["result"]} == {
        f"Observation/{o['id']}" for o in observations
    }
    assert report["presentedForm"][0]["url"] == binary_ref
    # The other patient's documents went to the other patient.
    (other,) = search(fhir, f"/DocumentReference?patient=Patient/{chart['2']}")
    assert other["id"] != docref["id"]


def test_resend_creates_no_duplicate(run_reportgen, first_send, engine, fhir, outdir):
    before = counts(fhir)
    result = run_reportgen("send", outdir, "--fhir-base", engine)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("already on the server as DocumentReference/") == 2
    assert counts(fhir) == before


def test_the_engine_itself_keeps_a_reposted_bundle_idempotent(first_send, engine, fhir, outdir):
    """Even without send's check, the conditional entries add no second DocumentReference,
    DiagnosticReport or Observation (only the unconditional Binary is stored again)."""
    before = counts(fhir)
    bundle = json.loads((outdir / "patient-F-7.bundle.json").read_text("utf-8"))
    with httpx.Client() as client:
        bundle = _resolve_references(
            bundle, _Connection(client, engine, SendOptions(base_url=engine))
        )
        answer = client.post(engine, json=bundle, headers={"Content-Type": "application/fhir+json"})
    assert answer.status_code == 200, answer.text
    statuses = [e["response"]["status"] for e in answer.json()["entry"]]
    assert statuses[0].startswith("201")  # the Binary
    assert all(s.startswith("200") for s in statuses[1:]), statuses
    after = counts(fhir)
    assert after == {**before, "Binary": before["Binary"] + 1}


def test_invalid_bundle_is_refused_with_the_engine_diagnostics(
    run_reportgen, first_send, engine, fhir, outdir, tmp_path
):
    broken = Path(shutil.copytree(outdir, tmp_path / "broken"))
    path = broken / "patient-F-7.bundle.json"
    bundle = json.loads(path.read_text("utf-8"))
    del bundle["entry"][3]["resource"]["code"]  # Observation.code is 1..1
    # A new masterIdentifier, so the document is not found "already present".
    bundle["entry"][1]["resource"]["masterIdentifier"]["value"] = (
        "urn:uuid:00000000-0000-5000-8000-000000000001"
    )
    data = json.dumps(bundle, ensure_ascii=False, indent=2).encode("utf-8")
    path.write_bytes(data)
    manifest = json.loads((broken / "manifest.json").read_text("utf-8"))
    manifest["files"] = [e for e in manifest["files"] if e["path"] == path.name]
    manifest["files"][0]["sha256"] = hashlib.sha256(data).hexdigest()
    manifest["files"][0].pop("send", None)
    (broken / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    before = counts(fhir)
    result = run_reportgen("send", broken, "--fhir-base", engine, "--retries", "0")
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert line.startswith("Error: patient-F-7.bundle.json: refused by the server (HTTP 400): ")
    assert "Missing required property at Bundle.entry[3].resource.code" in line
    assert counts(fhir) == before  # nothing of the refused transaction was stored
    record = json.loads((broken / "manifest.json").read_text("utf-8"))["files"][0]["send"]
    assert record["status"] == "failed"
