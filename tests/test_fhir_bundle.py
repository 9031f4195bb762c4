"""``--format fhir-bundle``: a FHIR R4 transaction Bundle per patient (Binary = the PDF,
DocumentReference with ifNoneExist, LOINC-coded DXA Observations, DiagnosticReport), validated
with the fhir.resources R4B models, byte-deterministic under SOURCE_DATE_EPOCH."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from conftest import Reportgen
from fhir.resources.R4B import get_fhir_model_class

from reportgen import fhir_bundle
from reportgen.fhir_codes import site_key
from reportgen.settings import Organisation

DATA = Path(__file__).resolve().parent / "data"
ROOT = DATA.parents[1]
SEED = ROOT / "input" / "case_series_2020.csv"
PATIENT = DATA / "fhir_patient.json"
INDEX = ROOT / "input" / "index_case_2.json"
SETTINGS = DATA / "settings" / "fhir.toml"
MRN = "https://northfield.example.org/fhir/sid/mrn"
ORG = "https://northfield.example.org/fhir/sid/org"


def render(
    run_reportgen: Reportgen, outdir: Path, *args: str | Path, source: Path = PATIENT
) -> Path:
    result = run_reportgen(
        "patient",
        source,
        "-o",
        outdir,
        "--format",
        "pdf,fhir-bundle",
        "--settings",
        SETTINGS,
        *args,
    )
    assert result.exit_code == 0, result.stderr
    return outdir


@pytest.fixture(scope="module")
def made(run_reportgen, tmp_path_factory) -> Path:
    return render(run_reportgen, tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def bundle(made) -> dict:
    return json.loads((made / "patient-F-7.bundle.json").read_text("utf-8"))


def resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def entry_of(bundle: dict, kind: str) -> dict:
    (entry,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == kind]
    return entry


def test_bundle_is_a_valid_r4b_transaction(bundle):
    model = get_fhir_model_class("Bundle").model_validate(bundle)
    assert model.type == "transaction"
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
        assert entry["fullUrl"].startswith("urn:uuid:")
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Binary", "DocumentReference", "DiagnosticReport", *["Observation"] * 5]
    # Medplum refuses conditional transactions of more than 8 entries.
    assert len(bundle["entry"]) <= 8


def test_manifest_lists_the_bundle_with_its_format(made):
    manifest = json.loads((made / "manifest.json").read_text("utf-8"))
    formats = {e["path"]: e["format"] for e in manifest["files"]}
    assert formats == {"patient-F-7.pdf": "pdf", "patient-F-7.bundle.json": "fhir-bundle"}


def test_binary_is_exactly_the_pdf_and_the_document_points_at_it(made, bundle):
    pdf = (made / "patient-F-7.pdf").read_bytes()
    binary = entry_of(bundle, "Binary")
    assert binary["resource"]["contentType"] == "application/pdf"
    assert base64.b64decode(binary["resource"]["data"], validate=True) == pdf
    docref = entry_of(bundle, "DocumentReference")
    attachment = docref["resource"]["content"][0]["attachment"]
    assert attachment["url"] == binary["fullUrl"]
    assert "data" not in attachment
    assert attachment["size"] == len(pdf)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()
    assert binary["resource"]["securityContext"] == {"reference": docref["fullUrl"]}


def test_document_reference_is_a_conditional_create_on_its_master_identifier(bundle):
    entry = entry_of(bundle, "DocumentReference")
    master = entry["resource"]["masterIdentifier"]
    assert entry["request"] == {
        "method": "POST",
        "url": "DocumentReference",
        "ifNoneExist": f"identifier={master['system']}|{master['value']}",
    }
    assert master["system"] == "urn:ietf:rfc:3986"
    assert master["value"].startswith("urn:uuid:")


def test_document_reference_subject_author_custodian_period_status(bundle):
    resource = entry_of(bundle, "DocumentReference")["resource"]
    assert resource["subject"]["reference"] == f"Patient?identifier={MRN}|F-7"
    assert resource["subject"]["identifier"] == {"system": MRN, "value": "F-7"}
    organisation = {
        "reference": f"Organization?identifier={ORG}|NUH-1",
        "type": "Organization",
        "identifier": {"system": ORG, "value": "NUH-1"},
        "display": "Northfield University Hospital",
    }
    assert resource["author"] == [organisation]
    assert resource["custodian"] == organisation
    assert resource["context"] == {"period": {"start": "2024-03-01", "end": "2024-04-10"}}
    assert resource["docStatus"] == "preliminary"
    assert resource["securityLabel"][0]["coding"][0]["code"] == "N"
    assert resource["category"][0]["coding"][0]["code"] == "clinical-note"  # uscore default


def test_observations_carry_loinc_codes_and_values(bundle):
    by_code = {}
    for obs in resources(bundle, "Observation"):
        coding = obs["code"]["coding"][0]
        by_code[(coding["system"], coding["code"])] = obs
        assert obs["subject"]["reference"] == f"Patient?identifier={MRN}|F-7"
    loinc = "http://loinc.org"
    assert by_code[(loinc, "24966-4")]["valueQuantity"] == {
        "value": 0.812,
        "unit": "g/cm²",
        "system": "http://unitsofmeasure.org",
        "code": "g/cm2",
    }
    assert by_code[(loinc, "38267-1")]["valueQuantity"]["value"] == -2.6
    assert by_code[(loinc, "85394-5")]["valueQuantity"]["value"] == -2.3
    yam = by_code[("urn:reportgen:codesystem:observation", "yam-percent-lumbar_spine")]
    assert yam["valueQuantity"]["value"] == 68
    assert yam["valueQuantity"]["code"] == "%"
    for code in ("24966-4", "38267-1", "85394-5"):
        assert by_code[(loinc, code)]["effectiveDateTime"] == "2024-04-08"
        assert by_code[(loinc, code)]["status"] == "final"


def test_bone_status_is_a_coded_value_with_risk_factor_components(bundle):
    (obs,) = [
        o
        for o in resources(bundle, "Observation")
        if o["code"]["coding"][0]["code"] == "jos-bone-status"
    ]
    value = obs["valueCodeableConcept"]["coding"][0]
    # the settings of these tests say language = "ja": the display is in the report's language
    assert value == {
        "system": "urn:reportgen:codesystem:jos-bone-status",
        "code": "osteoporosis",
        "display": "骨粗鬆症",
    }
    assert obs["status"] == "preliminary"
    components = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
    assert components["mgso4_long_term"]["valueBoolean"] is True  # present
    assert "dataAbsentReason" in components["vitamin_d_deficiency"]


def test_diagnostic_report_groups_the_observations_and_presents_the_pdf(bundle):
    entry = entry_of(bundle, "DiagnosticReport")
    report = entry["resource"]
    observations = [
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    assert [r["reference"] for r in report["result"]] == observations
    assert report["presentedForm"][0]["url"] == entry_of(bundle, "Binary")["fullUrl"]
    assert report["code"]["coding"][0]["code"] == "38269-7"
    assert entry["request"]["method"] == "PUT"
    assert entry["request"]["url"] == (
        f"DiagnosticReport?identifier="
        f"{report['identifier'][0]['system']}|"
        f"{report['identifier'][0]['value']}"
    )


def test_full_urls_never_equal_an_identifier(bundle):
    """Servers rewrite fullUrls everywhere in the Bundle (Medplum even in identifiers)."""
    text = json.dumps([e["resource"] for e in bundle["entry"]])
    for entry in bundle["entry"]:
        references = text.count(entry["fullUrl"])
        identifiers = [i["value"] for i in entry["resource"].get("identifier", [])]
        assert entry["fullUrl"] not in identifiers
        assert references == text.count(f'"{entry["fullUrl"]}"')


@pytest.mark.slow
def test_bundle_bytes_are_deterministic(run_reportgen, made, tmp_path):
    again = render(run_reportgen, tmp_path / "again")
    for name in ("patient-F-7.pdf", "patient-F-7.bundle.json"):
        assert (again / name).read_bytes() == (made / name).read_bytes(), name


@pytest.mark.slow
def test_jpcore_final_codes_status_and_replacement(run_reportgen, tmp_path, bundle):
    outdir = render(run_reportgen, tmp_path, "--fhir-profile", "jpcore", "--doc-status", "final")
    final = json.loads((outdir / "patient-F-7.bundle.json").read_text("utf-8"))
    resource = entry_of(final, "DocumentReference")["resource"]
    jp = "http://jpfhir.jp/fhir/Common/CodeSystem/doc-typecodes"
    assert resource["type"]["coding"][0] == {
        "system": jp,
        "code": "18842-5",
        "display": "退院時サマリー",
    }
    assert resource["type"]["coding"][1]["system"] == "http://loinc.org"
    assert resource["category"][0]["coding"][0]["system"] == jp
    assert resource["docStatus"] == "final"
    preliminary = entry_of(bundle, "DocumentReference")["resource"]["masterIdentifier"]
    assert resource["masterIdentifier"] != preliminary
    assert resource["relatesTo"] == [
        {"code": "replaces", "target": {"type": "DocumentReference", "identifier": preliminary}}
    ]
    assert entry_of(final, "DiagnosticReport")["resource"]["status"] == "final"
    # The assessment keeps its identifier: the final one updates the preliminary one.
    assert [o["identifier"] for o in resources(final, "Observation")] == [
        o["identifier"] for o in resources(bundle, "Observation")
    ]


@pytest.mark.slow
def test_seed_bundles_validate_and_warn_without_settings(run_reportgen, tmp_path):
    result = run_reportgen(
        "patient", SEED, "-o", tmp_path, "--format", "fhir-bundle", "--id", "2", "--id", "5"
    )
    assert result.exit_code == 0
    assert "warning: FHIR placeholder: set identifier_system" in result.stderr
    assert "organisation_identifier" in result.stderr
    for pid in ("2", "5"):
        bundle = json.loads((tmp_path / f"patient-{pid}.bundle.json").read_text("utf-8"))
        fhir_bundle.validate_bundle(bundle)
        docref = entry_of(bundle, "DocumentReference")["resource"]
        assert docref["author"] == [{"display": "reportgen — organisation not configured"}]
        assert "context" not in docref  # no admission or discharge date in the seed


def test_strict_refuses_placeholders_and_writes_nothing(run_reportgen, tmp_path):
    result = run_reportgen(
        "patient", SEED, "-o", tmp_path / "out", "--format", "fhir-bundle", "--strict"
    )
    assert result.exit_code == 1
    assert "needs [organisation] identifier_system" in result.stderr
    assert "(--strict)" in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_strict_accepts_complete_settings(run_reportgen, tmp_path):
    render(run_reportgen, tmp_path, "--strict")
    assert (tmp_path / "patient-F-7.bundle.json").is_file()


@pytest.mark.parametrize(
    ("site", "key", "bmd_code"),
    [
        ("L1-L4", "lumbar_spine", "24966-4"),
        ("L2-L4", "lumbar_spine", "24966-4"),
        (None, "lumbar_spine", "24966-4"),
        ("femoral_neck", "femoral_neck", "24701-5"),
        ("total_hip", "total_hip", "38261-4"),
        ("radius_1_3", "radius_1_3", "24890-6"),
    ],
)
def test_sites_map_to_loinc(site, key, bmd_code):
    assert site_key(site) == key
    document = {
        "patient_id": "9",
        "classification": "normal",
        "classification_label": "Normal",
        "rules_name": "r",
        "rules_version": "1",
        "yam_percent": 90,
        "input": {"dxa_site": site, "bmd_g_cm2": 0.9},
    }
    bundle = fhir_bundle.transaction_bundle(
        document, b"%PDF-1.7", Organisation(), "2024-01-01T00:00:00Z"
    )
    codes = {o["code"]["coding"][0]["code"] for o in resources(bundle, "Observation")}
    assert bmd_code in codes
    assert f"yam-percent-{key}" in codes


def test_patient_ids_are_escaped_in_conditional_references():
    document = {
        "patient_id": "A|1,2 &x",
        "classification": "normal",
        "classification_label": "Normal",
        "rules_name": "r",
        "rules_version": "1",
    }
    bundle = fhir_bundle.transaction_bundle(
        document, b"%PDF-1.7", Organisation(), "2024-01-01T00:00:00Z"
    )
    reference = entry_of(bundle, "DocumentReference")["resource"]["subject"]["reference"]
    assert reference == "Patient?identifier=urn:reportgen:patient-id|A%5C%7C1%5C%2C2%20%26x"


@pytest.mark.parametrize("value", ["NUH-1", "hospital|NUH-1", "https://h.example/org|", "|x"])
def test_organisation_identifier_must_be_system_bar_value(tmp_path, value):
    from reportgen.errors import ReportError
    from reportgen.settings import load_settings

    path = tmp_path / "settings.toml"
    path.write_text(f'[organisation]\norganisation_identifier = "{value}"\n', "utf-8")
    with pytest.raises(ReportError, match="organisation_identifier must be"):
        load_settings(path)


def test_library_refuses_unknown_fhir_options(tmp_path):
    from reportgen import api
    from reportgen.errors import ReportError

    with pytest.raises(ReportError, match="fhir_profile must be one of uscore, jpcore"):
        api.build_patient_reports(
            PATIENT, tmp_path, formats=("fhir-bundle",), fhir_profile="eu", settings_path=SETTINGS
        )
    with pytest.raises(ReportError, match="doc_status must be one of preliminary, final"):
        api.build_patient_reports(
            PATIENT, tmp_path, formats=("fhir-bundle",), doc_status="draft", settings_path=SETTINGS
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_risk_components_follow_the_patient_json(run_reportgen, tmp_path):
    result = run_reportgen(
        "patient", INDEX, "-o", tmp_path, "--format", "json,fhir-bundle", "--settings", SETTINGS
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads((tmp_path / "patient-2.json").read_text("utf-8"))
    bundle = json.loads((tmp_path / "patient-2.bundle.json").read_text("utf-8"))
    (obs,) = [
        o
        for o in resources(bundle, "Observation")
        if o["code"]["coding"][0]["code"] == "jos-bone-status"
    ]
    components = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
    assert set(components) == {r["id"] for r in document["rule_results"]}
    for rule in document["rule_results"]:
        component = components[rule["id"]]
        if rule["state"] == "not_assessed":
            assert "valueBoolean" not in component
        else:
            assert component["valueBoolean"] is (rule["id"] in document["risk_flags"])
    assert obs["valueCodeableConcept"]["coding"][0]["code"] == document["classification"]
    docref = entry_of(bundle, "DocumentReference")["resource"]
    assert docref["context"]["period"] == {"start": "2020-02-24", "end": "2020-05-31"}


@pytest.mark.slow
def test_document_reference_format_follows_profile_and_status(run_reportgen, tmp_path):
    result = run_reportgen(
        "patient",
        PATIENT,
        "-o",
        tmp_path,
        "--format",
        "fhir",
        "--settings",
        SETTINGS,
        "--fhir-profile",
        "jpcore",
        "--doc-status",
        "final",
    )
    assert result.exit_code == 0, result.stderr
    resource = json.loads((tmp_path / "patient-F-7.fhir.json").read_text("utf-8"))
    get_fhir_model_class("DocumentReference").model_validate(resource)
    assert resource["docStatus"] == "final"
    assert resource["type"]["coding"][0]["code"] == "18842-5"
    assert resource["category"][0]["coding"][0]["display"] == "退院時サマリー"
    # Standalone: the PDF inline, the patient and organisation as logical references.
    assert "data" in resource["content"][0]["attachment"]
    assert "reference" not in resource["subject"]
    assert resource["author"][0]["identifier"] == {"system": ORG, "value": "NUH-1"}


@pytest.mark.slow
def test_before_the_dxa_the_bundle_has_no_dxa_values(run_reportgen, tmp_path):
    render(run_reportgen, tmp_path, source=ROOT / "input" / "discharge_no_dxa.csv")
    (path,) = tmp_path.glob("*.bundle.json")
    bundle = fhir_bundle.validate_bundle(json.loads(path.read_text("utf-8")))
    (obs,) = resources(bundle, "Observation")
    assert obs["valueCodeableConcept"]["coding"][0]["code"] == "not_measured"
    assert "effectiveDateTime" not in entry_of(bundle, "DiagnosticReport")["resource"]
