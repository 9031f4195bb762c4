"""The renderer fetches nothing but its own assets and ``data:`` URIs (issue 7).

A loopback HTTP listener (127.0.0.1, ephemeral port: tests never contact any other address)
must see zero connections while reports with hostile references render; ``file:`` references
must never be embedded; template syntax in patient text is shown, never run.
"""

from __future__ import annotations

import gc
import json
import logging
import socket
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.request import Request

import pikepdf
import pytest
import weasyprint
from hostile.corpus import JINJA_STATEMENT, TEXT_FIELDS, markup_payloads, markup_records
from hostile.corpus import to_csv as records_to_csv
from hostile.loopback import Listener, listening
from markupsafe import escape
from pypdf import PdfReader
from weasyprint.urls import FatalURLFetchingError

from reportgen.errors import RenderError
from reportgen.render import ASSETS, AssetsOnlyFetcher, HtmlPdfRenderer, make_environment

ROOT = Path(__file__).resolve().parent.parent
INDEX_JSON = ROOT / "input" / "index_case_2.json"
SAMPLE_CSV = ROOT / "input" / "case_series_2020.csv"
FONT = ASSETS / "fonts" / "LiberationSans-Regular.ttf"
CREATED = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True, scope="module")
def _collect() -> Iterator[None]:
    """Leaked files are collected before the next module (whose filters may differ)."""
    yield
    gc.collect()


@pytest.fixture
def listener() -> Iterator[Listener]:
    with listening() as found:
        yield found


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Name lookups are recorded and refused (a ``file://host/`` URL makes urllib resolve
    ``host``: a DNS query to a name of the attacker's choosing)."""
    lookups: list[tuple] = []

    def refuse(*args: object, **kwargs: object) -> None:
        lookups.append(args)
        raise OSError("name lookups are not allowed in this test")

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        monkeypatch.setattr(socket, name, refuse)
    return lookups


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, bytes]:
    """A readable local file whose content must never end up in any output."""
    content = b"SECRET-FILE-CONTENT-7c1e0f"
    path = tmp_path / "secret" / "credentials.txt"
    path.parent.mkdir()
    path.write_bytes(content)
    return path, content


def _squash(text: str) -> str:
    return "".join(text.split())


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def _embedded_files(path: Path) -> dict[str, bytes]:
    with pikepdf.open(path) as pdf:
        names = {name: spec.get_file().read_bytes() for name, spec in pdf.attachments.items()}
        streams = sum(
            1
            for obj in pdf.objects
            if isinstance(obj, pikepdf.Stream) and obj.get("/Type") == pikepdf.Name.EmbeddedFile
        )
    assert streams == len(names)
    return names


def _all_stream_bytes(path: Path) -> bytes:
    with pikepdf.open(path) as pdf:
        chunks = [path.read_bytes()]
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Stream):
                try:
                    chunks.append(obj.read_bytes())
                except pikepdf.PdfError:
                    chunks.append(obj.read_raw_bytes())
    return b"".join(chunks)


def _render(html: str) -> bytes:
    return HtmlPdfRenderer().pdf(
        html, attachment=b"{}", attachment_name="report.json", created=CREATED, identifier="test"
    )


def _page(body: str, head: str = "") -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title>'
        f"{head}</head><body><p>text</p>{body}</body></html>"
    )


# --- the controls: the attacks are real, and the listener would see them --------------------


def test_default_weasyprint_fetcher_would_connect_and_embed(tmp_path, listener, secret):
    """Why the custom fetcher exists: WeasyPrint's default fetcher connects to the listener and
    embeds any readable file named by ``<link rel=attachment>``."""
    path, content = secret
    html = _page(
        f'<img src="{listener.base}/img">', head=f'<link rel="attachment" href="{path.as_uri()}">'
    )
    out = tmp_path / "default-fetcher.pdf"
    out.write_bytes(weasyprint.HTML(string=html).write_pdf())
    assert listener.settle(), "the default fetcher should have connected"
    assert content in _embedded_files(out).values()


# --- the fetcher itself ------------------------------------------------------------------------


def _refused_urls(port: int, root: Path) -> list[str]:
    here = f"http://127.0.0.1:{port}"
    assets = ASSETS.as_uri()
    return [
        "file:///etc/hostname",
        "file:///etc/passwd",
        f"{here}/",
        f"{here}/redirect",
        f"https://127.0.0.1:{port}/",
        f"ftp://127.0.0.1:{port}/x",
        f"{assets}/fonts/../../render.py",
        f"{assets}/fonts/%2e%2e/%2e%2e/render.py",
        f"{assets}/fonts/..%2f..%2frender.py",
        f"{assets}/../../../../../../etc/hostname",
        f"{assets}/fonts/LiberationSans-Regular.ttf%00.png",
        f"{assets}/fonts/%ff%fe",
        f"{assets}/fonts",  # a directory
        f"{assets}/fonts/missing.ttf",
        "file://attacker.invalid" + FONT.as_posix(),  # a host: urllib would resolve it
        "file://localhost/etc/hostname",
        "FILE:///etc/hostname",
        f"{root.as_uri()}/link-to-etc",  # a symlink inside the root that points outside
        "javascript:alert(1)",
        "about:blank",
        "fonts/LiberationSans-Regular.ttf",  # relative: never resolved against the cwd
        FONT.as_posix(),  # a bare path is not a URL
    ]


def test_fetcher_refuses_everything_but_assets_and_data(listener, no_dns, tmp_path):
    root = tmp_path / "assets"
    root.mkdir()
    (root / "link-to-etc").symlink_to("/etc/hostname")
    for fetcher in (AssetsOnlyFetcher(), AssetsOnlyFetcher(root)):
        for url in _refused_urls(listener.port, root):
            with pytest.raises(FatalURLFetchingError):
                fetcher.fetch(url)
            with pytest.raises(FatalURLFetchingError):
                fetcher(url)  # the callable form WeasyPrint may use
    assert listener.settle() == []
    assert no_dns == []


@pytest.mark.parametrize("name", sorted(p.name for p in (ASSETS / "fonts").glob("*.ttf")))
def test_fetcher_allows_package_fonts(name):
    path = ASSETS / "fonts" / name
    response = AssetsOnlyFetcher().fetch(path.as_uri())
    try:
        assert response.read() == path.read_bytes()
    finally:
        response.close()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("data:text/plain,hello%20world", b"hello world"),
        ("data:text/plain;base64,aGVsbG8=", b"hello"),
        ("data:image/svg+xml;base64,PHN2Zy8+", b"<svg/>"),
    ],
)
def test_fetcher_allows_data_uris(uri, expected):
    response = AssetsOnlyFetcher().fetch(uri)
    try:
        assert response.read() == expected
    finally:
        response.close()


def test_refused_request_is_not_replayed_by_the_next_fetch(listener):
    """``URLFetcher.open(Request)`` parks the request before ``fetch``; once refused, the next
    allowed fetch must fetch its own URL, not the parked one (fixed in AssetsOnlyFetcher)."""
    fetcher = AssetsOnlyFetcher()
    with pytest.raises(FatalURLFetchingError):
        fetcher.open(Request(f"{listener.base}/parked"))
    response = fetcher.fetch("data:text/plain,mine")
    try:
        assert response.read() == b"mine"
    finally:
        response.close()
    assert listener.settle() == []


# --- references in HTML: every kind fails the render, none is fetched ---------------------------


def _references(base: str, secret: Path) -> dict[str, tuple[str, str]]:
    """name -> (head, body) of a page with one external reference."""
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        f'<image href="{base}/svg" width="10" height="10"/></svg>'
    )
    return {
        "img": ("", f'<img src="{base}/img" alt="x">'),
        "stylesheet": (f'<link rel="stylesheet" href="{base}/s.css">', ""),
        "attachment_http": (f'<link rel="attachment" href="{base}/a">', ""),
        "attachment_file": ('<link rel="attachment" href="file:///etc/hostname">', ""),
        "attachment_secret": (f'<link rel="attachment" href="{secret.as_uri()}">', ""),
        "anchor_attachment": ("", f'<a rel="attachment" href="{secret.as_uri()}">x</a>'),
        "style_attribute": ("", f'<p style="background: url({base}/bg)">x</p>'),
        "style_import": (f'<style>@import url("{base}/import.css");</style>', ""),
        "font_face": (
            f"<style>@font-face {{ font-family: X; src: url({base}/f.ttf) }}"
            "p { font-family: X }</style>",
            "",
        ),
        "list_style": ("", f'<ul style="list-style-image: url({base}/li)"><li>x</li></ul>'),
        "object": ("", f'<object data="{base}/object"></object>'),
        "embed": ("", f'<embed src="{base}/embed">'),
        "base_href": (f'<base href="{base}/">', '<img src="relative.png" alt="x">'),
        "inline_svg_image": ("", svg),
        "svg_in_data_uri": (
            "",
            '<img alt="x" src="data:image/svg+xml,'
            + svg.replace('"', "'").replace("<", "%3C").replace(">", "%3E")
            + '">',
        ),
        "relative_escape": ("", '<img src="fonts/../../../../../../etc/hostname" alt="x">'),
        "file_img": ("", f'<img src="{secret.as_uri()}" alt="x">'),
        "file_with_host": ("", f'<img src="file://attacker.invalid{FONT.as_posix()}" alt="x">'),
    }


_REFERENCE_NAMES = sorted(_references("http://127.0.0.1:1", Path("/x")))


@pytest.mark.slow
@pytest.mark.parametrize("name", _REFERENCE_NAMES)
def test_every_external_reference_fails_the_render(name, listener, no_dns, secret):
    head, body = _references(listener.base, secret[0])[name]
    # WeasyPrint renders SVG in a try/except that logs: the log handler fails those renders.
    expected = (
        "render problem: Failed to render SVG"
        if "svg" in name
        else "render refused a resource: blocked"
    )
    with pytest.raises(RenderError, match=expected):
        _render(_page(body, head))
    assert listener.settle() == []
    assert no_dns == []


def test_assets_and_data_uris_render(listener):
    """The control: the same page with only allowed references renders, warning-free."""
    png = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
        "2mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    css = f'<style>@font-face {{ font-family: T; src: url("{FONT.as_uri()}") }}</style>'
    pdf = _render(
        _page(
            f'<img src="{png}" alt="dot" style="image-rendering: crisp-edges">'
            '<p style="font-family: T">font</p>',
            css,
        )
    )
    assert pdf.startswith(b"%PDF")
    assert listener.settle() == []


# --- hostile patient text through the real commands --------------------------------------------


@pytest.fixture
def hostile_csv(tmp_path, listener, secret) -> Path:
    path = tmp_path / "hostile.csv"
    path.write_text(records_to_csv(markup_records(listener.port, secret[0])), "utf-8")
    return path


@pytest.mark.slow
def test_hostile_text_is_shown_escaped_and_fetches_nothing(
    run_reportgen, tmp_path, listener, no_dns, secret, hostile_csv
):
    outdir = tmp_path / "out"
    result = run_reportgen(
        "patient", hostile_csv, "-o", outdir, "--format", "html,pdf,json", "--workers", "1"
    )
    assert result.exception is None, result.output
    assert result.exit_code == 0, result.output
    assert listener.settle() == [], "the renderer connected to the loopback listener"
    assert no_dns == []

    secret_path, secret_content = secret
    records = markup_records(listener.port, secret_path)
    manifest = json.loads((outdir / "manifest.json").read_text("utf-8"))
    by_id: dict[str, dict[str, Path]] = {}
    for entry in manifest["files"]:
        by_id.setdefault(entry["patient_id"], {})[entry["format"]] = outdir / entry["path"]
    assert sorted(by_id) == sorted(str(r["patient_id"]) for r in records)

    for record in records:
        files = by_id[str(record["patient_id"])]
        text = str(record["notes"])  # the same text is in name, sites, DXA site and the id
        html = files["html"].read_text("utf-8")
        # the text is there, escaped, in every field; raw markup is never there
        assert html.count(str(escape(text))) >= len(TEXT_FIELDS) - 1, text
        assert str(escape(record["patient_id"])) in html
        assert text not in html
        for tag in (
            "<script",
            "<iframe",
            "<object",
            "<embed",
            "<meta http-equiv",
            "<svg",
            '<link rel="attachment"',
            '<a rel="attachment"',
            "<style>@import",
        ):
            assert tag not in html, tag
        # template syntax is text: {{ 7*7 }} is not 49, {% raw %} is shown as typed
        assert "T149T2" not in html
        # the JSON keeps the text exactly as entered
        document = json.loads(files["json"].read_text("utf-8"))
        assert document["patient_id"] == record["patient_id"]

        pdf_text = _squash(_pdf_text(files["pdf"]))
        assert "T149T2" not in pdf_text
        assert _squash(text) in pdf_text  # shown literally (the notes), whitespace aside
        embedded = _embedded_files(files["pdf"])
        assert list(embedded) == ["report.json"]
        assert json.loads(embedded["report.json"])["patient_id"] == record["patient_id"]
        assert secret_content not in _all_stream_bytes(files["pdf"])
        hostname = Path("/etc/hostname")
        if hostname.is_file() and hostname.read_bytes().strip():
            assert hostname.read_bytes().strip() not in embedded["report.json"]

    html = "".join(files["html"].read_text("utf-8") for files in by_id.values())
    assert "T1{{ 7*7 }}T2" in html
    assert str(escape(JINJA_STATEMENT)) in html
    assert "{% raw %}R{% endraw %}" in html


@pytest.mark.slow
def test_hostile_text_in_a_cohort_fetches_nothing(
    run_reportgen, tmp_path, listener, no_dns, secret, hostile_csv
):
    outdir = tmp_path / "cohort"
    result = run_reportgen("cohort", hostile_csv, "-o", outdir)
    assert result.exception is None, result.output
    assert result.exit_code == 0, result.output
    assert listener.settle() == []
    assert no_dns == []
    html = (outdir / "cohort-summary.html").read_text("utf-8")
    for text in markup_payloads(listener.port, secret[0]).values():
        if "<" in text:
            assert text not in html
    assert "<script" not in html
    assert "T149T2" not in html
    assert list(_embedded_files(outdir / "cohort-summary.pdf")) == ["report.json"]
    assert secret[1] not in _all_stream_bytes(outdir / "cohort-summary.pdf")


# --- user templates (--template-dir) ---------------------------------------------------------


_MINIMAL = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Report {{ report.patient.id }}</title></head>
<body><h1 id="id">{{ report.patient.id }}</h1>
{% include "part.j2" %}
{% include "part.txt" %}
{% include "part" %}
EXTRA
</body></html>
"""


def _template_dir(tmp_path: Path, extra: str) -> Path:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "patient.html").write_text(_MINIMAL.replace("EXTRA", extra), "utf-8")
    for name in ("part.j2", "part.txt", "part"):
        (directory / name).write_text(f'<p class="{name}">{{{{ report.notes }}}}</p>\n')
    return directory


def _one_patient(tmp_path: Path, notes: str) -> Path:
    path = tmp_path / "one.csv"
    path.write_text(
        records_to_csv(
            [
                {
                    "patient_id": "t1",
                    "age_years": 30,
                    "bmi_kg_m2": 21,
                    "mgso4_days": 3,
                    "mgso4_total_g": 90,
                    "yam_percent": 95,
                    "fracture": "no",
                    "notes": notes,
                }
            ]
        ),
        "utf-8",
    )
    return path


def test_user_template_is_autoescaped_whatever_its_name(run_reportgen, tmp_path, listener):
    """The control for the next test, and autoescape for ``.j2``, ``.txt`` and extension-less
    templates: the same user template without the external image renders, notes escaped."""
    notes = f'<img src="{listener.base}/notes"> T1{{{{ 7*7 }}}}T2'
    outdir = tmp_path / "out"
    result = run_reportgen(
        "patient",
        _one_patient(tmp_path, notes),
        "-o",
        outdir,
        "--workers",
        "1",
        "--template-dir",
        _template_dir(tmp_path, ""),
        "--format",
        "html,pdf",
    )
    assert result.exception is None, result.output
    assert result.exit_code == 0, result.output
    html = (outdir / "patient-t1.html").read_text("utf-8")
    for name in ("part.j2", "part.txt", "part"):
        assert f'<p class="{name}">{escape(notes)}</p>' in html
    assert "<img" not in html
    assert "T149T2" not in html
    assert listener.settle() == []


@pytest.mark.parametrize("name", ["x.j2", "x.txt", "x.xml", "x.htm", "x"])
def test_environment_escapes_every_template_name(tmp_path, name):
    (tmp_path / name).write_text("{{ report.value }}|{{ report.value|e }}", "utf-8")
    env = make_environment(tmp_path)
    rendered = env.get_template(name).render(report={"value": "<b>&</b>"})
    assert rendered == "&lt;b&gt;&amp;&lt;/b&gt;|&lt;b&gt;&amp;&lt;/b&gt;"


def test_user_template_with_external_image_fails_the_render(run_reportgen, tmp_path, listener):
    directory = _template_dir(tmp_path, f'<img src="{listener.base}/template">')
    outdir = tmp_path / "out"
    result = run_reportgen(
        "patient",
        _one_patient(tmp_path, "plain"),
        "-o",
        outdir,
        "--workers",
        "1",
        "--template-dir",
        directory,
        "--format",
        "html,pdf,json",
    )
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert f"blocked external resource: {listener.base}/template" in result.stderr
    assert listener.settle() == []
    assert not list(outdir.glob("patient-*.pdf"))


def test_user_template_with_file_attachment_fails_the_render(
    run_reportgen, tmp_path, listener, secret
):
    path, content = secret
    directory = _template_dir(tmp_path, f'<a rel="attachment" href="{path.as_uri()}">x</a>')
    outdir = tmp_path / "out"
    result = run_reportgen(
        "patient",
        _one_patient(tmp_path, "plain"),
        "-o",
        outdir,
        "--workers",
        "1",
        "--template-dir",
        directory,
        "--format",
        "pdf",
    )
    assert result.exit_code == 1, result.output
    assert "blocked resource outside the report assets" in result.stderr
    assert not list(outdir.glob("patient-*.pdf"))
    for produced in outdir.rglob("*"):
        assert content not in produced.read_bytes()


# --- warnings during a render are errors -------------------------------------------------------


@pytest.mark.slow
def test_normal_render_logs_no_weasyprint_warnings(run_reportgen, tmp_path, caplog, listener):
    caplog.set_level(logging.DEBUG, logger="weasyprint")
    outdir = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib / WeasyPrint warnings fail the test
        for source, ids in ((INDEX_JSON, ["2"]), (SAMPLE_CSV, ["1", "5"])):
            args = [
                "patient",
                str(source),
                "-o",
                str(outdir),
                "--workers",
                "1",
                "--overwrite",
                "--format",
                "html,pdf,json,fhir",
            ]
            for patient_id in ids:
                args += ["--id", patient_id]
            result = run_reportgen(*args)
            assert result.exception is None, result.output
            assert result.exit_code == 0, result.output
    noisy = [
        r
        for r in caplog.records
        if r.name.startswith("weasyprint") and r.levelno >= logging.WARNING
    ]
    assert noisy == [], [r.getMessage()[:200] for r in noisy]
    assert len(list(outdir.glob("patient-*.pdf"))) == 3
    assert listener.settle() == []


def test_weasyprint_warning_fails_the_render(run_reportgen, tmp_path):
    """The control: a template WeasyPrint warns about (an unknown CSS property) fails."""
    directory = _template_dir(tmp_path, '<p style="colr: red">typo</p>')
    result = run_reportgen(
        "patient",
        _one_patient(tmp_path, "plain"),
        "-o",
        tmp_path / "out",
        "--workers",
        "1",
        "--template-dir",
        directory,
        "--format",
        "pdf",
    )
    assert result.exit_code == 1, result.output
    assert "render problem" in result.stderr
    assert "colr" in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (  # once ran the shell command and wrote outside OUTDIR
            "{{ lipsum.__globals__.os.system('touch ' ~ report.notes) }}",
            "SecurityError: access to attribute '__globals__'",
        ),
        ("{% for i in range(10**9) %}{% endfor %}", "Range too big"),  # once ran for ever
        ('{% include "patient.html" %}', "it extends or includes itself"),
    ],
)
def test_a_user_template_runs_sandboxed(run_reportgen, tmp_path, extra, message):
    marker = tmp_path / "pwned"
    result = run_reportgen(
        "patient",
        _one_patient(tmp_path, str(marker)),
        "-o",
        tmp_path / "out",
        "--workers",
        "1",
        "--template-dir",
        _template_dir(tmp_path, extra),
        "--format",
        "html",
    )
    assert result.exit_code == 1
    assert f"report not made: template patient.html: {message}" in result.output
    assert "internal error" not in result.output
    assert not marker.exists()


def test_a_template_that_is_not_utf8_is_named(run_reportgen, tmp_path):
    directory = _template_dir(tmp_path, "")
    (directory / "patient.html").write_bytes("<p>Résumé</p>".encode("latin-1"))
    result = run_reportgen(
        "patient", _one_patient(tmp_path, "x"), "-o", tmp_path / "out", "--workers", "1",
        "--template-dir", directory, "--format", "html",
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"{directory / 'patient.html'}: a template must be UTF-8 text" in result.output
    assert not (tmp_path / "out").exists()  # said once, before OUTDIR


def test_a_template_syntax_error_is_named_once_before_outdir(run_reportgen, tmp_path):
    directory = _template_dir(tmp_path, "{% if %}")
    for command in ("patient", "cohort"):
        result = run_reportgen(
            command, _one_patient(tmp_path, "x"), "-o", tmp_path / command,
            "--template-dir", directory,
        )  # fmt: skip
        assert result.exit_code == 1
        assert f"{directory / 'patient.html'}:7: template error: Expected an expression" in (
            result.output
        )
        assert result.output.count("template error") == 1
        assert not (tmp_path / command).exists()
