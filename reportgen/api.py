"""The library API: load → validate → assess → render → write. The CLI is a thin layer on it.

One patient in memory: :func:`render_patient`. Runs that write OUTDIR and its manifest:
:func:`build_patient_reports` (one report per row, on a pool) and :func:`build_cohort_report`.
"""

from __future__ import annotations

from reportgen.blank import TEMPLATE_KINDS, blank_template
from reportgen.cohort_run import build_cohort_report
from reportgen.errors import InputError, ReportError
from reportgen.inputs import load_input, load_scan_set, validate_input
from reportgen.patient_report import (
    DEFAULT_FORMATS,
    FHIR_FORMATS,
    PATIENT_FORMATS,
    InvalidRecord,
    check_record,
    render_patient,
)
from reportgen.patient_run import build_patient_reports
from reportgen.rules import load_rules
from reportgen.rules.describe import describe_rules
from reportgen.run_options import MAX_TEMPLATE_FILES, RunResult, generation_time
from reportgen.settings import ReportSettings, load_report_settings

__all__ = [
    "DEFAULT_FORMATS",
    "FHIR_FORMATS",
    "PATIENT_FORMATS",
    "TEMPLATE_KINDS",
    "MAX_TEMPLATE_FILES",
    "InputError",
    "InvalidRecord",
    "ReportError",
    "ReportSettings",
    "RunResult",
    "blank_template",
    "build_cohort_report",
    "build_patient_reports",
    "check_record",
    "describe_rules",
    "generation_time",
    "load_input",
    "load_report_settings",
    "load_rules",
    "load_scan_set",
    "render_patient",
    "validate_input",
]
