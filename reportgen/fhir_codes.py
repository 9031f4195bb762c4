"""Code systems and codes of the FHIR output, per profile (sources: docs/pdf-and-fhir.md)."""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
US_CORE_DOC_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
# JP Core / JP-CLINS "FHIR文書の文書区分" (jp-core-v1x, eDischargeSummary):
# 18842-5 退院時サマリー.
JP_DOC_TYPECODES = "http://jpfhir.jp/fhir/Common/CodeSystem/doc-typecodes"
# reportgen's own code systems, for what has no standard code (%YAM, the JOS class, rule ids).
LOCAL = "urn:reportgen:codesystem:"
LOCAL_OBSERVATION = LOCAL + "observation"
LOCAL_BONE_STATUS = LOCAL + "jos-bone-status"
LOCAL_RISK_RULE = LOCAL + "risk-rule"

Code = tuple[str, str, str]  # (system, code, display)

DISCHARGE_SUMMARY: Code = (LOINC, "18842-5", "Discharge summary")
# Display as in the FHIR R4 DXA example report (diagnosticreport-example-dxa).
DXA_REPORT: Code = (LOINC, "38269-7", "DXA BONE DENSITOMETRY")
BONE_STATUS: Code = (
    LOCAL_OBSERVATION,
    "jos-bone-status",
    "Bone status by the Japanese (JOS/JSBMR) criteria, with PLO risk factors",
)
CONFIDENTIALITY_NORMAL: Code = (CONFIDENTIALITY, "N", "normal")

PROFILES = ("uscore", "jpcore")
DOC_STATUSES = ("preliminary", "final")


@dataclass(frozen=True)
class DocumentCodes:
    """DocumentReference ``type`` codings (LOINC always included) and ``category`` coding."""

    type: tuple[Code, ...]
    category: Code


DOCUMENT_CODES = {
    "uscore": DocumentCodes(
        type=(DISCHARGE_SUMMARY,), category=(US_CORE_DOC_CATEGORY, "clinical-note", "Clinical Note")
    ),
    # JP-CLINS eDischargeSummary: type and category are both doc-typecodes 18842-5.
    "jpcore": DocumentCodes(
        type=((JP_DOC_TYPECODES, "18842-5", "退院時サマリー"), DISCHARGE_SUMMARY),
        category=(JP_DOC_TYPECODES, "18842-5", "退院時サマリー"),
    ),
}


@dataclass(frozen=True)
class DxaSite:
    """LOINC codes of one DXA site (None where LOINC has no term)."""

    label: str
    bmd: Code | None
    t_score: Code | None
    z_score: Code | None


# OHDSI/LOINC table of DXA terms; LOINC has no femoral-neck term, so "Femur" is used for it.
DXA_SITES = {
    "lumbar_spine": DxaSite(
        "Lumbar spine",
        (LOINC, "24966-4", "DXA Lumbar spine [Mass/Area] Bone density"),
        (LOINC, "38267-1", "DXA Lumbar spine [T-score] Bone density"),
        (LOINC, "85394-5", "DXA Lumbar spine [Z-score] Bone density"),
    ),
    "femoral_neck": DxaSite(
        "Femoral neck",
        (LOINC, "24701-5", "DXA Femur [Mass/Area] Bone density"),
        (LOINC, "38263-0", "DXA Femur [T-score] Bone density"),
        (LOINC, "80934-3", "DXA Femur [Z-score] Bone density"),
    ),
    "total_hip": DxaSite(
        "Total hip",
        (LOINC, "38261-4", "DXA Hip [Mass/Area] Bone density"),
        (LOINC, "38264-8", "DXA Hip [T-score] Bone density"),
        (LOINC, "80933-5", "DXA Hip [Z-score] Bone density"),
    ),
    "radius_1_3": DxaSite(
        "Radius 1/3",
        (LOINC, "24890-6", "DXA Radius and Ulna [Mass/Area] Bone density"),
        (LOINC, "38265-5", "DXA Radius and Ulna [T-score] Bone density"),
        (LOINC, "80932-7", "DXA Radius and Ulna [Z-score] Bone density"),
    ),
}
OTHER_SITE = DxaSite("Other site", None, None, None)


def yam_code(site_key: str) -> Code:
    """%YAM (bone density as % of the young adult mean): no LOINC term exists, so local."""
    label = DXA_SITES.get(site_key, OTHER_SITE).label
    return (LOCAL_OBSERVATION, f"yam-percent-{site_key}", f"DXA {label} bone density [% YAM]")


def site_key(dxa_site: object) -> str:
    """``L1-L4``/``L2-L4``/blank → lumbar_spine; contract site names map to themselves."""
    text = str(dxa_site or "").strip().lower().replace("–", "-").replace(" ", "_")
    lumbar_levels = text.startswith("l") and any(ch.isdigit() for ch in text)  # L1-L4, L2-4
    if not text or lumbar_levels or "lumbar" in text:
        return "lumbar_spine"
    aliases = {
        "neck": "femoral_neck",
        "femoral_neck": "femoral_neck",
        "total_hip": "total_hip",
        "hip": "total_hip",
        "radius_1_3": "radius_1_3",
        "radius": "radius_1_3",
        "1/3_radius": "radius_1_3",
        "radius_33%": "radius_1_3",
    }
    return aliases.get(text, "other")


def coding(code: Code) -> dict:
    system, value, display = code
    return {"system": system, "code": value, "display": display}
