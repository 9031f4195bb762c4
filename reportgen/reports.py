"""Compose a report: context (with charts) → HTML → PDF/A with its JSON embedded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from reportgen import __version__
from reportgen.context import patient_context
from reportgen.context_types import DocumentContext
from reportgen.models import Assessment
from reportgen.output import patient_file_name
from reportgen.render import HtmlPdfRenderer
from reportgen.report_charts import draw_patient_charts
from reportgen.rules import RuleSet
from reportgen.settings import Organisation, with_language


class ReportRenderer:
    """Per-process: organisation settings and the HTML/PDF renderer, built once."""

    def __init__(
        self,
        template_dir: str | Path | None,
        lang: str | None = None,
        *,
        organisation: Organisation | None = None,
    ):
        self.settings = with_language(organisation or Organisation(), lang)
        self.engine = HtmlPdfRenderer(template_dir)

    def patient(
        self,
        assessment: Assessment,
        document: dict,
        json_bytes: bytes,
        rules: RuleSet,
        run,
        *,
        stem: str,
        want_pdf: bool,
    ) -> tuple[str, bytes | None]:
        """HTML and (when wanted) the PDF of one patient's report."""
        json_name = patient_file_name(stem, "json")
        report = patient_context(
            assessment,
            rules,
            self.settings,
            charts=draw_patient_charts(assessment, rules),
            generated_at=run.generated_at,
            tool_version=__version__,
            source=run.source_name,
            json_name=json_name,
        )
        html = self.engine.html("patient.html", report)
        if not want_pdf:
            return html, None
        pdf = self.engine.pdf(
            html,
            attachment=json_bytes,
            attachment_name="report.json",
            created=_parse_time(run.generated_at),
            identifier=f"patient:{document['patient_id']}:{run.generated_at}",
        )
        return html, pdf

    def document(
        self,
        template: str,
        report: DocumentContext,
        *,
        json_bytes: bytes | None,
        generated_at: str,
        identifier: str,
    ) -> tuple[str, bytes]:
        """HTML and PDF of any other report (the cohort summary)."""
        html = self.engine.html(template, report)
        pdf = self.engine.pdf(
            html,
            attachment=json_bytes,
            attachment_name="report.json",
            created=_parse_time(generated_at),
            identifier=identifier,
        )
        return html, pdf


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
