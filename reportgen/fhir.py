"""HL7 FHIR R4 DocumentReference for a patient's PDF (built and validated with fhir.resources)."""

from __future__ import annotations

import base64
import hashlib
import uuid

from reportgen.settings import Organisation

# LOINC 18842-5 "Discharge summary": the report is handed over at discharge (US Core example
# type for discharge documents); category from US Core's DocumentReference category system.
LOINC_DISCHARGE_SUMMARY = ("http://loinc.org", "18842-5", "Discharge summary")
CATEGORY = ("http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            "clinical-note", "Clinical Note")
_STATUS = {"current", "superseded", "entered-in-error"}
_DOC_STATUS = {"preliminary", "final", "amended", "entered-in-error"}
_NAMESPACE = uuid.UUID("6f0c3a52-1f1e-4a43-9f3e-0d3c6b9e7a10")  # reportgen's own UUID namespace


def document_reference(document: dict, pdf: bytes, org: Organisation,
                       generated_at: str) -> dict:
    """The DocumentReference as a plain dict (validated against the R4B model)."""
    from fhir.resources.R4B.documentreference import DocumentReference

    patient_id = str(document["patient_id"])
    master = uuid.uuid5(_NAMESPACE, hashlib.sha256(pdf).hexdigest())
    resource = {
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{master}"},
        "status": "current",
        "docStatus": "preliminary",  # becomes final once the clinician signs the report
        "type": {"coding": [_coding(LOINC_DISCHARGE_SUMMARY)],
                 "text": "Postpartum bone-health discharge report"},
        "category": [{"coding": [_coding(CATEGORY)]}],
        # A logical reference: the receiving EHR resolves the identifier to its Patient.
        "subject": {"type": "Patient",
                    "identifier": {"system": org.identifier_system, "value": patient_id},
                    "display": f"Patient {patient_id}"},
        "date": generated_at,
        "author": [{"display": org.name}],
        "custodian": {"display": org.name},
        "description": f"Bone status: {document['classification_label']}; "
                       f"rule set {document['rules_name']} {document['rules_version']}",
        "content": [{"attachment": {
            "contentType": "application/pdf",
            "language": org.language,
            "data": base64.b64encode(pdf).decode("ascii"),
            "size": len(pdf),
            "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),
            "title": f"Postpartum bone-health report — patient {patient_id}",
            "creation": generated_at,
        }}],
    }
    model = DocumentReference.model_validate(resource)
    checked = model.model_dump(mode="json", exclude_none=True)
    _check_codes(checked)
    return {"resourceType": "DocumentReference", **checked}


def document_reference_json(document: dict, pdf: bytes, org: Organisation,
                            generated_at: str) -> bytes:
    from reportgen.output import dump_json

    return dump_json(document_reference(document, pdf, org, generated_at))


def _coding(code: tuple[str, str, str]) -> dict:
    system, value, display = code
    return {"system": system, "code": value, "display": display}


def _check_codes(resource: dict) -> None:
    """fhir.resources does not enforce required bindings: check them here."""
    if resource["status"] not in _STATUS or resource["docStatus"] not in _DOC_STATUS:
        raise ValueError("DocumentReference status outside its required value set")
    coding = resource["type"]["coding"][0]
    if (coding["system"], coding["code"]) != LOINC_DISCHARGE_SUMMARY[:2]:
        raise ValueError("unexpected DocumentReference type")
    if resource["subject"].get("type") != "Patient":
        raise ValueError("DocumentReference subject must be a Patient")
    if resource["content"][0]["attachment"]["contentType"] != "application/pdf":
        raise ValueError("DocumentReference attachment must be application/pdf")
