"""Issue 19's renderer levers: PNG pass-through, stream level 6, report CSS parsed once.

Each must give the same document: identical decoded chart pixels, a PDF that opens and
keeps its PDF/A identification, and the same bytes whether the CSS was parsed once or not.
"""

from __future__ import annotations

import base64
import io
import zlib
from datetime import UTC, datetime

import pikepdf
import pytest
from PIL import Image

from reportgen import charts, pdf_tuning
from reportgen.render import HtmlPdfRenderer

CREATED = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def renderer() -> HtmlPdfRenderer:
    return HtmlPdfRenderer()


def _png(mode: str, **save) -> bytes:
    image = Image.new(mode, (40, 20))
    for x in range(40):
        for y in range(20):
            value = (x * 6, y * 12, (x * y) % 256, 128) if mode in ("RGB", "RGBA") else x * 6
            image.putpixel((x, y), value[: len(mode)] if isinstance(value, tuple) else value)
    out = io.BytesIO()
    image.save(out, format="PNG", **save)
    return out.getvalue()


def _pdf(renderer: HtmlPdfRenderer, png: bytes, css: str = "") -> bytes:
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    html = (
        f'<html lang="en"><head><title>t</title><style>img {{ width: 80mm; '
        f"image-rendering: crisp-edges }} {css}</style></head><body><p>Chart</p>"
        f'<img src="{uri}" alt="chart"></body></html>'
    )
    return renderer.pdf(
        html, attachment=b"{}", attachment_name="report.json", created=CREATED, identifier="test"
    )


def _embedded_pixels(pdf: bytes) -> Image.Image:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        images = [image for page in document.pages for image in page.get_images().values()]
        assert len(images) == 1
        return pikepdf.PdfImage(images[0]).as_pil_image().convert("RGB")


def test_pdf_tuning_active_on_weasyprint_70(renderer):
    assert renderer.tuning == {"png_passthrough": True, "stream_level": True}


def test_pdf_tuning_png_idat_only_for_8bit_rgb_non_interlaced():
    rgb = _png("RGB")
    idat = pdf_tuning.png_idat(rgb)
    assert idat is not None
    assert len(zlib.decompress(idat)) == 20 * (1 + 3 * 40)
    assert pdf_tuning.png_idat(_png("RGBA")) is None
    assert pdf_tuning.png_idat(_png("P")) is None
    assert pdf_tuning.png_idat(_png("L")) is None
    assert pdf_tuning.png_idat(b"not a png") is None
    interlaced = bytearray(rgb)
    interlaced[28] = 1  # IHDR interlace byte
    assert pdf_tuning.png_idat(bytes(interlaced)) is None


@pytest.mark.parametrize("kind", ["chart", "rgb", "rgba", "palette", "grey"])
def test_pdf_tuning_embedded_pixels_identical(renderer, kind):
    """Passed through (the charts, any 8-bit RGB PNG) or re-encoded (everything else):
    the PDF image decodes to exactly the PNG's pixels."""
    png = {
        "chart": lambda: charts.plot_yam_zones(67.0),
        "rgb": lambda: _png("RGB"),
        "rgba": lambda: _png("RGBA"),
        "palette": lambda: _png("P"),
        "grey": lambda: _png("L"),
    }[kind]()
    expected = Image.open(io.BytesIO(png)).convert("RGB")  # (an alpha becomes a soft mask)
    got = _embedded_pixels(_pdf(renderer, png))
    assert got.size == expected.size
    assert got.tobytes() == expected.tobytes()


def test_pdf_tuning_chart_stream_is_the_png_idat(renderer):
    png = charts.plot_yam_zones(67.0)
    with pikepdf.open(io.BytesIO(_pdf(renderer, png))) as document:
        image = next(iter(document.pages[0].get_images().values()))
        assert image.read_raw_bytes() == pdf_tuning.png_idat(png)
        assert image.DecodeParms.Predictor == 15


def test_pdf_tuning_pdf_is_deterministic_and_pdfa(renderer):
    png = charts.plot_yam_zones(81.0)
    first, second = _pdf(renderer, png), _pdf(renderer, png)
    assert first == second
    with pikepdf.open(io.BytesIO(first)) as document:
        xmp = document.open_metadata()
        assert xmp.get("pdfaid:part") == "3"
        assert xmp.get("pdfaid:conformance") == "U"


def test_css_parsed_once_gives_the_same_bytes(renderer, monkeypatch):
    png = charts.plot_yam_zones(55.0)
    once = _pdf(renderer, png, css="p { color: #b03a2e; font-weight: bold }")
    monkeypatch.setattr(renderer, "_styles_parsed_once", lambda html: (html, []))
    inline = _pdf(renderer, png, css="p { color: #b03a2e; font-weight: bold }")
    assert once == inline


def test_css_parsed_once_keeps_the_normal_path_for_links_and_media(renderer):
    html = '<html><head><style media="print">p {}</style><style>p {}</style></head></html>'
    assert renderer._styles_parsed_once(html) == (html, [])
    linked = '<html><head><link rel="stylesheet" href="x.css"><style>p {}</style></head></html>'
    assert renderer._styles_parsed_once(linked) == (linked, [])
    important = "<html><head><style>p { color: red !important }</style></head></html>"
    assert renderer._styles_parsed_once(important) == (important, [])
    plain = "<html><head><style>p { color: red }</style></head><body>x</body></html>"
    body, sheets = renderer._styles_parsed_once(plain)
    assert "<style>" not in body
    assert len(sheets) == 1
    assert renderer._styles_parsed_once(plain)[1][0] is sheets[0]  # parsed once


def test_pdf_tuning_only_on_the_versions_it_was_written_for(monkeypatch):
    import pydyf
    import weasyprint

    monkeypatch.setattr(pdf_tuning, "_installed", {})
    monkeypatch.setattr(weasyprint, "__version__", "71.0")
    monkeypatch.setattr(pydyf, "__version__", "0.14.0")
    assert pdf_tuning.install() == {"png_passthrough": False, "stream_level": False}
