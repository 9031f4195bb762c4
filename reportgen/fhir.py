"""HL7 FHIR R4 DocumentReference for a patient's PDF (built and validated with fhir.resources)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from urllib.parse import quote

from reportgen.fhir_codes import (
    CONFIDENTIALITY_NORMAL,
    DISCHARGE_SUMMARY,
    DOC_STATUSES,
    DOCUMENT_CODES,
    PROFILES,
    coding,
)
from reportgen.settings import Organisation

# Kept for callers of the first version: the US Core type and category.
LOINC_DISCHARGE_SUMMARY = DISCHARGE_SUMMARY
CATEGORY = DOCUMENT_CODES["uscore"].category
_STATUS = {"current", "superseded", "entered-in-error"}
_DOC_STATUS = {"preliminary", "final", "amended", "entered-in-error"}
NAMESPACE = uuid.UUID("6f0c3a52-1f1e-4a43-9f3e-0d3c6b9e7a10")  # reportgen's own UUID namespace
_NAMESPACE = NAMESPACE


def uuid_for(*parts: str) -> str:
    """A ``urn:uuid:`` derived from ``parts`` (UUIDv5): the same content, the same id."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, chr(31).join(parts))}"


def master_identifier(pdf: bytes, doc_status: str = "preliminary") -> dict:
    """The version-specific id of a report: UUIDv5 of the PDF's SHA-256 (and of ``final``
    once signed, so the signed version is a document of its own)."""
    basis = hashlib.sha256(pdf).hexdigest() + ("" if doc_status == "preliminary" else doc_status)
    master = uuid.uuid5(NAMESPACE, basis)
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{master}"}


def patient_reference(document: dict, org: Organisation, *, conditional: bool) -> dict:
    """The Patient by identifier; in a transaction also as ``Patient?identifier=sys|id``."""
    patient_id = str(document["patient_id"])
    reference = {
        "type": "Patient",
        "identifier": {"system": org.identifier_system, "value": patient_id},
        "display": f"Patient {patient_id}",
    }
    if conditional:
        reference = {
            "reference": "Patient?identifier=" + _token(org.identifier_system, patient_id),
            **reference,
        }
    return reference


def organisation_reference(org: Organisation, *, conditional: bool) -> dict:
    """The organisation by ``organisation_identifier`` when configured, else its name only."""
    if not org.organisation_identifier:
        return {"display": org.name}
    system, _, value = org.organisation_identifier.partition("|")
    reference = {
        "type": "Organization",
        "identifier": {"system": system, "value": value},
        "display": org.name,
    }
    if conditional:
        reference = {"reference": "Organization?identifier=" + _token(system, value), **reference}
    return reference


def _token(system: str, value: str) -> str:
    """A token search value, URL-escaped; ``|`` and ``,`` in the value escaped as FHIR says."""
    escaped = value.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,")
    return quote(system, safe=":/") + "|" + quote(escaped, safe="")


def document_reference(
    document: dict,
    pdf: bytes,
    org: Organisation,
    generated_at: str,
    *,
    doc_status: str = "preliminary",
    profile: str = "uscore",
    binary_url: str | None = None,
) -> dict:
    """The DocumentReference as a plain dict (validated against the R4B model).

    Standalone (``binary_url`` None) the PDF is inline and the subject a logical reference; in
    a transaction Bundle the attachment points at the Binary's ``urn:uuid`` and the subject
    and author are conditional references the server (or ``reportgen send``) resolves."""
    from fhir.resources.R4B.documentreference import DocumentReference

    if profile not in PROFILES or doc_status not in DOC_STATUSES:
        raise ValueError(f"unknown FHIR profile {profile!r} or docStatus {doc_status!r}")
    codes = DOCUMENT_CODES[profile]
    in_bundle = binary_url is not None
    patient_id = str(document["patient_id"])
    attachment: dict[str, object] = {"contentType": "application/pdf", "language": org.language}
    if binary_url is not None:
        attachment["url"] = binary_url
    else:
        attachment["data"] = base64.b64encode(pdf).decode("ascii")
    attachment |= {
        "size": len(pdf),
        "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),
        "title": f"Postpartum bone-health report — patient {patient_id}",
        "creation": generated_at,
    }
    author = organisation_reference(org, conditional=in_bundle)
    resource = {
        "resourceType": "DocumentReference",
        "masterIdentifier": master_identifier(pdf, doc_status),
        "status": "current",
        "docStatus": doc_status,  # preliminary until a clinician signs the report
        "type": {
            "coding": [coding(c) for c in codes.type],
            "text": "Postpartum bone-health discharge report",
        },
        "category": [{"coding": [coding(codes.category)]}],
        "subject": patient_reference(document, org, conditional=in_bundle),
        "date": generated_at,
        "author": [author],
        "custodian": author,
        "description": f"Bone status: {document['classification_label']}; "
        f"rule set {document['rules_name']} {document['rules_version']}",
    }
    if doc_status == "final":  # the signed report replaces the preliminary one of that PDF
        resource["relatesTo"] = [
            {
                "code": "replaces",
                "target": {"type": "DocumentReference", "identifier": master_identifier(pdf)},
            }
        ]
    if in_bundle:
        resource["securityLabel"] = [{"coding": [coding(CONFIDENTIALITY_NORMAL)]}]
    resource["content"] = [{"attachment": attachment}]
    period = stay_period(document)
    if in_bundle and period:
        resource["context"] = {"period": period}
    model = DocumentReference.model_validate(resource)
    checked = model.model_dump(mode="json", exclude_none=True)
    _check_codes(checked)
    return {"resourceType": "DocumentReference", **checked}


def stay_period(document: dict) -> dict | None:
    """``{start, end}`` from the input's admission and discharge dates, when given."""
    source = document.get("input") or {}
    period = {
        key: str(source[name])[:10]
        for key, name in (("start", "admission_date"), ("end", "discharge_date"))
        if source.get(name)
    }
    return period or None


def document_reference_json(
    document: dict,
    pdf: bytes,
    org: Organisation,
    generated_at: str,
    *,
    doc_status: str = "preliminary",
    profile: str = "uscore",
) -> bytes:
    from reportgen.output import dump_json

    return dump_json(
        document_reference(document, pdf, org, generated_at, doc_status=doc_status, profile=profile)
    )


def _check_codes(resource: dict) -> None:
    """fhir.resources does not enforce required bindings: check them here."""
    if resource["status"] not in _STATUS or resource["docStatus"] not in _DOC_STATUS:
        raise ValueError("DocumentReference status outside its required value set")
    codes = {(c.get("system"), c.get("code")) for c in resource["type"]["coding"]}
    if LOINC_DISCHARGE_SUMMARY[:2] not in codes:
        raise ValueError("unexpected DocumentReference type")
    if resource["subject"].get("type") != "Patient":
        raise ValueError("DocumentReference subject must be a Patient")
    if resource["content"][0]["attachment"]["contentType"] != "application/pdf":
        raise ValueError("DocumentReference attachment must be application/pdf")
