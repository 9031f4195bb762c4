"""HTML from Jinja templates and PDF/A-3u from that same HTML (the only Jinja/WeasyPrint user)."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import cast
from urllib.parse import unquote, urlsplit

import weasyprint
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemBytecodeCache,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
)
from jinja2.bccache import Bucket
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher

from reportgen import i18n, pdf_tuning
from reportgen.cache_dir import cache_root
from reportgen.context_types import DocumentContext
from reportgen.errors import RenderError
from reportgen.printable import JA_FONT_FILE

PDF_VARIANT = "pdf/a-3u"  # docs/decisions.md: archival, Unicode text, attachments allowed
ASSETS = Path(str(resources.files("reportgen.assets")))
TEMPLATES = Path(str(resources.files("reportgen.templates")))
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
_PARSED_CSS_MAX = 8  # distinct style sheets kept parsed per renderer (report.css, cohort.css)
_FONT_FILES = {
    ("normal", "normal"): "LiberationSans-Regular.ttf",
    ("bold", "normal"): "LiberationSans-Bold.ttf",
    ("normal", "italic"): "LiberationSans-Italic.ttf",
    ("bold", "italic"): "LiberationSans-BoldItalic.ttf",
}


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
                    f"blocked resource outside the report assets: {url[:80]}"
                )
        elif not url.startswith("data:"):
            raise FatalURLFetchingError(f"blocked external resource: {url[:80]}")


# WeasyPrint warnings about the machine, not the document: the output is still complete and
# correct. Without libharfbuzz-subset0 every PDF logged the first one and none was made
# (issue 16, class 9); weasyprint/pdf/fonts.py then subsets with fontTools.
ADVISORIES = (
    "Using fontTools instead of HarfBuzz-Subset",
    "Please install HarfBuzz version 13+",
)


class _ErrorCollector(logging.Handler):
    """WeasyPrint logs (not raises) missing resources, glyphs it has no font for
    (".notdef glyph rendered"), unknown CSS and unknown options: fail on all of those.
    Only the named :data:`ADVISORIES` are let through (and still logged)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith(ADVISORIES):
            return
        if len(self.messages) < 50:  # bounded: WeasyPrint used elsewhere in the process logs too
            message = record.getMessage()
            if ".notdef" in message:  # it quotes the characters: patient data (a name)
                message = "a character no report font has (not quoted: it may be patient data)"
            self.messages.append(message[:200])


_COLLECTOR = _ErrorCollector()
logging.getLogger("weasyprint").addHandler(_COLLECTOR)  # once per process, not per renderer


def make_environment(template_dir: Path | str | None = None) -> Environment:
    """Jinja environment: user templates first, then the shipped ones; always autoescaped.
    With a user folder the environment is Jinja's immutable sandbox: a template from a shared
    folder once ran a shell command (``lipsum.__globals__.os``) and wrote outside OUTDIR, and
    ``range(10**9)`` ran for ever (the sandbox caps ``range`` at 100,000)."""
    loaders = [FileSystemLoader(str(template_dir))] if template_dir else []
    loaders.append(FileSystemLoader(str(TEMPLATES)))
    kind = ImmutableSandboxedEnvironment if template_dir else Environment
    env = kind(
        loader=ChoiceLoader(loaders),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
        bytecode_cache=_template_cache(),
    )
    # Newstyle gettext (autoescaped %(name)s formatting) looked up in the report language in
    # force (reportgen.i18n.using), so one environment serves every language.
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.filters["css_string"] = css_string
    return env


class _TemplateCache(FileSystemBytecodeCache):
    """Jinja's compiled templates on disk (−40 ms a cold report): keyed by template file,
    checked against the source's hash and the Python version by Jinja. A file that cannot be
    read or written is skipped (the template is compiled as without a cache)."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # a damaged file: compile afresh (and overwrite it)
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            Path(self.directory).mkdir(mode=0o700, parents=True, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:  # read-only or full: no cache this time
            pass


def _template_cache() -> _TemplateCache | None:
    root = cache_root()
    return None if root is None else _TemplateCache(str(root / "templates"))


def css_string(value: object) -> Markup:
    """``value`` as a quoted CSS string, every character but letters, digits and spaces
    escaped (``\\HHHHHH``): safe inside ``<style>`` whatever an id or a name holds."""
    text = "".join(
        c if c.isascii() and (c.isalnum() or c == " ") else f"\\{ord(c):06X}" for c in str(value)
    )
    return Markup(f'"{text}"')


class HtmlPdfRenderer:
    """Built once per process: templates, parsed font CSS, font configuration."""

    def __init__(self, template_dir: Path | str | None = None):
        self.env = make_environment(template_dir)
        self.loader = cast(BaseLoader, self.env.loader)  # make_environment always sets one
        self.css = Markup(self.loader.get_source(self.env, "report.css")[0])
        self.fetcher = AssetsOnlyFetcher()
        self.font_config = FontConfiguration()
        self.font_css = weasyprint.CSS(
            string=_font_face_css(), font_config=self.font_config, url_fetcher=self.fetcher
        )
        self._collector = _COLLECTOR
        self._parsed_css: dict[str, weasyprint.CSS] = {}
        self.tuning = pdf_tuning.install()

    def html(self, template: str, report: DocumentContext | Mapping[str, object]) -> str:
        """``template`` rendered with ``report`` (a context of ``context_types``; a mapping
        still works) as the mapping ``report``, plus ``report.css`` and ``report.lang_css``."""
        lang_css = _lang_css(self.loader, self.env)
        values = _fields(report) if isinstance(report, DocumentContext) else dict(report)
        try:
            return self.env.get_template(template).render(
                report={**values, "css": self.css, "lang_css": lang_css}
            )
        except TemplateError as exc:
            raise RenderError(f"template {template}: {exc.__class__.__name__}: {exc}") from None
        except RecursionError:  # a template that extends or includes itself
            raise RenderError(f"template {template}: it extends or includes itself") from None
        except UnicodeDecodeError:
            raise RenderError(f"template {template}: a template file is not UTF-8") from None
        except OverflowError as exc:  # the sandbox's cap on range()
            raise RenderError(f"template {template}: {exc}") from None

    def pdf(
        self,
        html: str,
        *,
        attachment: bytes | None,
        attachment_name: str,
        created: datetime,
        identifier: str,
    ) -> bytes:
        """The PDF/A-3u of exactly ``html``, tagged, with ``attachment`` embedded as Data."""
        attachments = []
        if attachment is not None:
            attachments.append(
                weasyprint.Attachment(
                    string=attachment,
                    name=attachment_name,
                    relationship="Data",
                    description="Report data (JSON)",
                    created=created,
                    modified=created,
                    url_fetcher=self.fetcher,
                )
            )
        self._collector.messages.clear()
        try:
            body, sheets = self._styles_parsed_once(html)
            document = weasyprint.HTML(
                string=body, base_url=str(ASSETS) + "/", url_fetcher=self.fetcher
            )
            # A fresh image cache per document: every chart is unique to its patient, and a
            # shared cache grew by ~22 MB per 100 reports (benchmarks/run.py).
            pdf = document.write_pdf(
                stylesheets=[self.font_css, *sheets],
                font_config=self.font_config,
                cache={},
                pdf_variant=PDF_VARIANT,
                pdf_tags=True,
                attachments=attachments,
                pdf_identifier=hashlib.sha256(identifier.encode()).hexdigest()[:32].encode(),
            )
        except FatalURLFetchingError as exc:
            raise RenderError(f"render refused a resource: {exc}") from None
        if self._collector.messages:
            raise RenderError("render problem: " + "; ".join(self._collector.messages[:3]))
        return pdf

    def _styles_parsed_once(self, html: str) -> tuple[str, list]:
        """``html`` without its ``<style>`` elements, and those sheets parsed once per process.

        Passed to ``write_pdf`` they become user-origin sheets; with *every* author sheet moved
        (in order) and no ``!important`` in them, inline ``style=""`` still wins and the cascade
        is unchanged (byte-identical PDFs). A ``<link>``, a ``<style media=...>`` or an
        ``!important`` keeps the normal path."""
        texts = _STYLE.findall(html)
        if (
            not texts
            or "<link" in html
            or html.count("<style") != len(texts)
            or any("!important" in text for text in texts)
        ):
            return html, []
        if len(self._parsed_css) + len(texts) > _PARSED_CSS_MAX:
            self._parsed_css.clear()
        sheets = []
        for text in texts:
            sheet = self._parsed_css.get(text)
            if sheet is None:
                sheet = self._parsed_css[text] = weasyprint.CSS(
                    string=text,
                    base_url=str(ASSETS) + "/",
                    font_config=self.font_config,
                    url_fetcher=self.fetcher,
                )
            sheets.append(sheet)
        return _STYLE.sub("", html), sheets


def _fields(report: DocumentContext) -> dict[str, object]:
    """The context's fields by name: the values themselves (no deep copy, unlike ``asdict``)."""
    return {f.name: getattr(report, f.name) for f in fields(report)}


# Japanese: IPAex Gothic (fontconfig, Debian's fonts-ipaexfont-gothic) for the Japanese glyphs
# after Liberation Sans (Latin letters and digits as in English): templates/ja.css, and each
# document's own additions (cohort.ja.css). English adds nothing (its HTML stays as it was).


def _lang_css(loader: BaseLoader, env: Environment) -> Markup | str:
    """The report language's style sheet (``{lang}.css``); "" in English."""
    lang = i18n.current()
    if lang == "en":
        return ""
    if not JA_FONT_FILE.is_file():
        raise RenderError(
            f"Japanese reports need the IPAex Gothic font ({JA_FONT_FILE}): "
            "install the Debian package fonts-ipaexfont-gothic "
            "(scripts/setup-system)"
        )
    return Markup(loader.get_source(env, f"{lang}.css")[0])


def _font_face_css() -> str:
    faces = []
    for (weight, style), name in _FONT_FILES.items():
        url = (ASSETS / "fonts" / name).resolve().as_uri()
        faces.append(
            f'@font-face {{ font-family: "Liberation Sans"; font-weight: {weight}; '
            f'font-style: {style}; src: url("{url}"); }}'
        )
    return "\n".join(faces)
