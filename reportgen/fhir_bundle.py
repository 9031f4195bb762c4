"""One patient's FHIR R4 transaction Bundle: the PDF as a Binary, its DocumentReference, the DXA
values and the assessment as Observations, and a DiagnosticReport grouping them.

Every id is a UUIDv5 of content (``fhir.uuid_for``), so the same report gives the same bytes, and
every entry but the Binary is conditional on its identifier, so a resend adds nothing: the
DocumentReference and the DXA values are created if absent (``ifNoneExist``); the assessment and
the DiagnosticReport are created or updated (``PUT ?identifier=``), so a ``final`` report
replaces the ``preliminary`` status of the same assessment instead of adding a second one."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from reportgen.fhir import (
    document_reference,
    organisation_reference,
    patient_reference,
    uuid_for,
)
from reportgen.fhir_codes import (
    BONE_STATUS,
    DATA_ABSENT,
    DXA_REPORT,
    DXA_SITES,
    LOCAL_BONE_STATUS,
    LOCAL_OBSERVATION,
    LOCAL_RISK_RULE,
    OBSERVATION_CATEGORY,
    OTHER_SITE,
    UCUM,
    Code,
    coding,
    site_key,
    yam_code,
)
from reportgen.i18n import _
from reportgen.settings import Organisation

URI_SYSTEM = "urn:ietf:rfc:3986"
_RADIOLOGY = ("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", "Radiology")
_IMAGING = (OBSERVATION_CATEGORY, "imaging", "Imaging")
_EXAM = (OBSERVATION_CATEGORY, "exam", "Exam")
_UNITS = {
    "bmd": ("g/cm²", "g/cm2"),
    "t_score": ("T-score", "{T-score}"),
    "z_score": ("Z-score", "{Z-score}"),
    "yam": ("%", "%"),
}


@dataclass(frozen=True)
class Measurement:
    """One DXA value: site key and text, scan date (ISO or None), kind, value."""

    site: str
    site_text: str
    date: str | None
    kind: str  # bmd, t_score, z_score, yam
    value: float

    @property
    def code(self) -> Code:
        if self.kind == "yam":
            return yam_code(self.site)
        site = DXA_SITES.get(self.site, OTHER_SITE)
        loinc = {"bmd": site.bmd, "t_score": site.t_score, "z_score": site.z_score}[self.kind]
        return loinc or (
            LOCAL_OBSERVATION,
            f"{self.kind}-{self.site}",
            f"DXA {self.site_text} {self.kind.replace('_', '-')}",
        )


def dxa_measurements(document: dict) -> list[Measurement]:
    """The DXA values of the patient JSON: its ``scans`` list (contract §4) when present,
    else the one site of the main row (``dxa_site``, ``yam_percent``, ``bmd_g_cm2``, ...)."""
    source = document.get("input") or {}
    scans = document.get("scans")
    if not isinstance(scans, list) or not scans:
        scans = [
            {
                "site": source.get("dxa_site"),
                "scan_date": source.get("dxa_date"),
                "yam_percent": document.get("yam_percent", source.get("yam_percent")),
                "bmd_g_cm2": source.get("bmd_g_cm2"),
                "t_score": source.get("t_score"),
                "z_score": source.get("z_score"),
            }
        ]
    out = []
    for scan in scans:
        key = site_key(scan.get("site"))
        text = str(scan.get("site") or "L1-L4")
        date = str(scan["scan_date"])[:10] if scan.get("scan_date") else None
        for kind, field in (
            ("bmd", "bmd_g_cm2"),
            ("t_score", "t_score"),
            ("z_score", "z_score"),
            ("yam", "yam_percent"),
        ):
            value = scan.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out.append(Measurement(key, text, date, kind, float(value)))
    return out


def transaction_bundle(
    document: dict,
    pdf: bytes,
    org: Organisation,
    generated_at: str,
    *,
    doc_status: str = "preliminary",
    profile: str = "uscore",
) -> dict:
    """The Bundle as a plain dict, validated with the R4B models (each entry on its own)."""
    digest = hashlib.sha256(pdf).hexdigest()
    binary_url = uuid_for("binary", digest)
    docref_url = uuid_for("document-reference", digest)
    report_url = _full_url(uuid_for("diagnostic-report", digest))
    subject = patient_reference(document, org, conditional=True)
    performer = organisation_reference(org, conditional=True)
    binary = {
        "resourceType": "Binary",
        "contentType": "application/pdf",
        "securityContext": {"reference": docref_url},
        "data": base64.b64encode(pdf).decode("ascii"),
    }
    docref = document_reference(
        document,
        pdf,
        org,
        generated_at,
        doc_status=doc_status,
        profile=profile,
        binary_url=binary_url,
    )
    observations = _observations(document, org, generated_at, subject, doc_status)
    report = _diagnostic_report(
        document,
        pdf,
        org,
        generated_at,
        doc_status,
        subject,
        performer,
        binary_url,
        [url for url, _ in observations],
        digest,
    )
    entries = [
        _entry(binary_url, binary, None),
        _entry(docref_url, docref, docref["masterIdentifier"]),
        _entry(report_url, report, report["identifier"][0], update=True),
        *(
            _entry(url, obs, obs["identifier"][0], update=_derived(obs))
            for url, obs in observations
        ),
    ]
    bundle = {
        "resourceType": "Bundle",
        "identifier": {"system": URI_SYSTEM, "value": uuid_for("bundle", digest)},
        "type": "transaction",
        "entry": entries,
    }
    return validate_bundle(bundle)


def transaction_bundle_json(
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
        transaction_bundle(document, pdf, org, generated_at, doc_status=doc_status, profile=profile)
    )


def validate_bundle(bundle: dict) -> dict:
    """Validate the Bundle and every entry's resource with their R4B models; return the dict."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class("Bundle").model_validate(bundle)
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return bundle


def _full_url(identifier: str) -> str:
    """An entry's fullUrl, never equal to an identifier: servers rewrite every occurrence of a
    fullUrl in the Bundle (Medplum even in ``identifier.value``)."""
    return uuid_for("full-url", identifier)


def _derived(observation: dict) -> bool:
    """The assessment (bone status, risk factors), not a DXA value the device measured."""
    return observation["category"][0]["coding"][0]["code"] == "exam"


def _entry(full_url: str, resource: dict, identifier: dict | None, *, update: bool = False) -> dict:
    """POST (with ``ifNoneExist`` on ``identifier``), or a conditional PUT when ``update``."""
    kind = resource["resourceType"]
    if identifier is None:
        request = {"method": "POST", "url": kind}
    elif update:
        request = {
            "method": "PUT",
            "url": f"{kind}?identifier={identifier['system']}|{identifier['value']}",
        }
    else:
        request = {
            "method": "POST",
            "url": kind,
            "ifNoneExist": f"identifier={identifier['system']}|{identifier['value']}",
        }
    return {"fullUrl": full_url, "resource": resource, "request": request}


def _observations(
    document: dict, org: Organisation, generated_at: str, subject: dict, doc_status: str
) -> list[tuple[str, dict]]:
    patient = (org.identifier_system, str(document["patient_id"]))
    out = []
    for m in dxa_measurements(document):
        label, unit = _UNITS[m.kind]
        identifier = uuid_for("observation", *patient, m.site, m.date or "", m.kind, repr(m.value))
        obs = {
            "resourceType": "Observation",
            "identifier": [{"system": URI_SYSTEM, "value": identifier}],
            "status": "final",
            "category": [{"coding": [coding(_IMAGING)]}],
            "code": {"coding": [coding(m.code)], "text": m.code[2]},
            "subject": subject,
        }
        if m.date:
            obs["effectiveDateTime"] = m.date
        obs |= {
            "issued": generated_at,
            "valueQuantity": {"value": m.value, "unit": label, "system": UCUM, "code": unit},
            "bodySite": {"text": m.site_text},
        }
        out.append((_full_url(identifier), obs))
    basis = (
        *patient,
        str(document.get("rules_name")),
        str(document.get("rules_version")),
        repr(sorted((document.get("input") or {}).items(), key=lambda kv: kv[0])),
    )
    status = "final" if doc_status == "final" else "preliminary"
    label = str(document.get("classification_label") or document["classification"])
    bone = uuid_for("bone-status", *basis)
    out.append(
        (
            _full_url(bone),
            {
                "resourceType": "Observation",
                "identifier": [{"system": URI_SYSTEM, "value": bone}],
                "status": status,
                "category": [{"coding": [coding(_EXAM)]}],
                "code": {"coding": [coding(BONE_STATUS)], "text": BONE_STATUS[2]},
                "subject": subject,
                "effectiveDateTime": generated_at,
                "issued": generated_at,
                "valueCodeableConcept": {
                    "coding": [coding((LOCAL_BONE_STATUS, str(document["classification"]), label))],
                    "text": label,
                },
                "note": [{"text": str(document.get("classification_reason") or label)}],
            },
        )
    )
    # One Observation for the assessment, risk factors as its components: Medplum refuses
    # conditional transactions of more than 8 entries, and one DXA site already makes 8.
    components = [_risk_component(rule) for rule in document.get("rule_results") or []]
    if components:
        out[-1][1]["component"] = components
    return out


def _risk_component(rule: dict) -> dict:
    component: dict[str, object] = {
        "code": {
            "coding": [
                coding((LOCAL_RISK_RULE, str(rule["id"]), str(rule.get("label") or rule["id"])))
            ]
        }
    }
    if rule.get("state") == "not_assessed":
        component["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT, "code": "unknown", "display": "Unknown"}]
        }
    else:
        component["valueBoolean"] = rule.get("state") in ("present", "fired")
    return component


def _diagnostic_report(
    document: dict,
    pdf: bytes,
    org: Organisation,
    generated_at: str,
    doc_status: str,
    subject: dict,
    performer: dict,
    binary_url: str,
    results: list[str],
    digest: str,
) -> dict:
    label = str(document.get("classification_label") or document["classification"])
    dates = sorted({m.date for m in dxa_measurements(document) if m.date})
    report = {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": URI_SYSTEM, "value": uuid_for("diagnostic-report", digest)}],
        "status": doc_status,
        "category": [{"coding": [coding(_RADIOLOGY)]}],
        "code": {
            "coding": [coding(DXA_REPORT)],
            "text": "Postpartum bone health: DXA and risk assessment",
        },
        "subject": subject,
    }
    if dates:
        report["effectiveDateTime"] = dates[-1]
    report |= {
        "issued": generated_at,
        "performer": [performer],
        "result": [{"reference": url} for url in results],
        "conclusion": _("Bone status: {label}. {reason}")
        .format(label=label, reason=document.get("classification_reason") or "")
        .strip(),
        "conclusionCode": [
            {"coding": [coding((LOCAL_BONE_STATUS, str(document["classification"]), label))]}
        ],
        "presentedForm": [
            {
                "contentType": "application/pdf",
                "language": org.language,
                "url": binary_url,
                "size": len(pdf),
                "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),
                "title": f"Postpartum bone-health report — patient {document['patient_id']}",
                "creation": generated_at,
            }
        ],
    }
    return report
