"""HTML from Jinja templates and PDF/A-3u from that same HTML (the only Jinja/WeasyPrint user)."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urlsplit

import weasyprint
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateError
from markupsafe import Markup
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher

from reportgen.errors import RenderError

PDF_VARIANT = "pdf/a-3u"  # docs/decisions.md: archival, Unicode text, attachments allowed
ASSETS = Path(str(resources.files("reportgen.assets")))
TEMPLATES = Path(str(resources.files("reportgen.templates")))
_FONT_FILES = {("normal", "normal"): "LiberationSans-Regular.ttf",
               ("bold", "normal"): "LiberationSans-Bold.ttf",
               ("normal", "italic"): "LiberationSans-Italic.ttf",
               ("bold", "italic"): "LiberationSans-BoldItalic.ttf"}


class AssetsOnlyFetcher(URLFetcher):
    """Fetches ``data:`` URIs and the package's own asset files; anything else aborts the
    render (HTTP, other ``file:`` paths, redirects) instead of being silently skipped."""

    def __init__(self, root: Path = ASSETS):
        super().__init__(allowed_protocols={"data", "file"}, allow_redirects=False, timeout=5)
        self.root = root.resolve()

    def fetch(self, url: str, headers: dict | None = None):
        try:
            self._check(url)
        except FatalURLFetchingError:
            # ``open(Request)`` parks the request in ``_request`` before calling ``fetch``;
            # a refused one must not be replayed by the next (allowed) fetch.
            self._request = None
            raise
        return super().fetch(url, headers)

    def _check(self, url: str) -> None:
        if url.startswith("file:"):
            parts = urlsplit(url)
            if parts.netloc:  # file://host/... makes urllib resolve ``host`` (a DNS query)
                raise FatalURLFetchingError(f"blocked file URL with a host: {url[:80]}")
            try:
                target = Path(unquote(parts.path, errors="strict")).resolve()
                inside = target.is_relative_to(self.root) and target.is_file()
            except (OSError, ValueError):  # NUL bytes, undecodable escapes, loops
                inside = False
            if not inside:
                raise FatalURLFetchingError(
                    f"blocked resource outside the report assets: {url[:80]}")
        elif not url.startswith("data:"):
            raise FatalURLFetchingError(f"blocked external resource: {url[:80]}")


class _ErrorCollector(logging.Handler):
    """WeasyPrint logs (not raises) missing resources and unknown options: fail on them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.messages) < 50:  # bounded: WeasyPrint used elsewhere in the process logs too
            self.messages.append(record.getMessage()[:200])


_COLLECTOR = _ErrorCollector()
logging.getLogger("weasyprint").addHandler(_COLLECTOR)  # once per process, not per renderer


def make_environment(template_dir: Path | str | None = None) -> Environment:
    """Jinja environment: user templates first, then the shipped ones; always autoescaped."""
    loaders = [FileSystemLoader(str(template_dir))] if template_dir else []
    loaders.append(FileSystemLoader(str(TEMPLATES)))
    env = Environment(loader=ChoiceLoader(loaders), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["css_string"] = css_string
    return env


def css_string(value: object) -> Markup:
    """``value`` as a quoted CSS string, every character but letters, digits and spaces
    escaped (``\\HHHHHH``): safe inside ``<style>`` whatever an id or a name holds."""
    text = "".join(c if c.isascii() and (c.isalnum() or c == " ") else f"\\{ord(c):06X}"
                   for c in str(value))
    return Markup(f'"{text}"')


class HtmlPdfRenderer:
    """Built once per process: templates, parsed font CSS, font configuration."""

    def __init__(self, template_dir: Path | str | None = None):
        self.env = make_environment(template_dir)
        self.css = Markup(self.env.loader.get_source(self.env, "report.css")[0])
        self.fetcher = AssetsOnlyFetcher()
        self.font_config = FontConfiguration()
        self.font_css = weasyprint.CSS(string=_font_face_css(), font_config=self.font_config,
                                       url_fetcher=self.fetcher)
        self._collector = _COLLECTOR

    def html(self, template: str, report: dict) -> str:
        try:
            return self.env.get_template(template).render(report={**report, "css": self.css})
        except TemplateError as exc:
            raise RenderError(f"template {template}: {exc.__class__.__name__}: {exc}") from None

    def pdf(self, html: str, *, attachment: bytes | None, attachment_name: str,
            created: datetime, identifier: str) -> bytes:
        """The PDF/A-3u of exactly ``html``, tagged, with ``attachment`` embedded as Data."""
        attachments = []
        if attachment is not None:
            attachments.append(weasyprint.Attachment(
                string=attachment, name=attachment_name, relationship="Data",
                description="Report data (JSON)", created=created, modified=created,
                url_fetcher=self.fetcher))
        self._collector.messages.clear()
        try:
            document = weasyprint.HTML(string=html, base_url=str(ASSETS) + "/",
                                       url_fetcher=self.fetcher)
            # A fresh image cache per document: every chart is unique to its patient, and a
            # shared cache grew by ~22 MB per 100 reports (benchmarks/run.py).
            pdf = document.write_pdf(
                stylesheets=[self.font_css], font_config=self.font_config, cache={},
                pdf_variant=PDF_VARIANT, pdf_tags=True, attachments=attachments,
                pdf_identifier=hashlib.sha256(identifier.encode()).hexdigest()[:32].encode())
        except FatalURLFetchingError as exc:
            raise RenderError(f"render refused a resource: {exc}") from None
        if self._collector.messages:
            raise RenderError("render problem: " + "; ".join(self._collector.messages[:3]))
        return pdf


def _font_face_css() -> str:
    faces = []
    for (weight, style), name in _FONT_FILES.items():
        url = (ASSETS / "fonts" / name).resolve().as_uri()
        faces.append(f'@font-face {{ font-family: "Liberation Sans"; font-weight: {weight}; '
                     f'font-style: {style}; src: url("{url}"); }}')
    return "\n".join(faces)
