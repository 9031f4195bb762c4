"""What would the proposed optimisations buy? Measured without changing reportgen.

    .venv/bin/python benchmarks/experiments.py [--docs 24] [--passes 2]

Renders N synthetic patient reports with the real pipeline (``build_patient_reports``, one
worker), then, in the same warm process, turns each report's HTML into a PDF with
``HtmlPdfRenderer.pdf`` (the pipeline's own PDF step) under variants that emulate a proposed
change, interleaved document by document (so background load hits every variant alike):

  baseline           the HTML as the pipeline makes it (shared image cache, as today)
  fresh-cache        ``cache={}`` per document instead of the renderer's ever-growing dict
  rgb-png            the chart PNGs as RGB (not 256-colour palette) PNGs: WeasyPrint then
                     re-encodes each chart once instead of twice
  jpeg               charts as JPEG q92 4:4:4: WeasyPrint embeds JPEG bytes as they are
  css-once           report CSS parsed once per process (a weasyprint.CSS passed in
                     ``stylesheets``) instead of an inline <style> parsed per document
  html-bands         timeline and YAM zone band as small HTML/CSS blocks instead of PNGs
  no-tags            ``pdf_tags=False`` (information only: the cost of the tagged PDF)
  combined           fresh-cache + rgb-png + css-once + html-bands

Printed: median CPU and wall ms per document, the median paired difference to the baseline
(per document), the image cache growth, and the chart functions' own cost for comparison
(the timeline chart, a fresh matplotlib figure per call, disappears with html-bands).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth  # noqa: E402

IMG = re.compile(r'<img\b[^>]*\bsrc="(data:image/png;base64,[^"]+)"[^>]*>')
STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def _recode(uri: str, fmt: str) -> str:
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")
    out = io.BytesIO()
    if fmt == "png":
        image.save(out, format="PNG", compress_level=1)
        return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()
    image.save(out, format="JPEG", quality=92, subsampling=0)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def recode_images(html: str, fmt: str) -> str:
    return IMG.sub(lambda m: m[0].replace(m[1], _recode(m[1], fmt)), html)


YAM_BAND = """<div style="position: relative; margin: 6mm 0 2mm 0; font-size: 7.5pt">
<div style="position: absolute; left: {x:.1f}%; top: -5mm; width: 30mm; margin-left: -15mm;
 text-align: center; font-weight: bold">YAM {yam} %<br>&#9660;</div>
<table style="width: 100%; border-collapse: collapse; table-layout: fixed; color: white">
<tr><td style="width: 37.5%; background: #c0392b; padding: 1mm">Osteoporosis &#8804; 70 %</td>
<td style="width: 12.5%; background: #e6a23c; color: #1f1f1f; padding: 1mm">70&#8211;80 %</td>
<td style="width: 50%; background: #1a8a7d; padding: 1mm">Normal &#8805; 80 %</td></tr></table>
<div style="font-size: 6.5pt; color: #555">40 %<span style="float: right">120 %</span></div>
</div>"""
TIMELINE = """<table style="width: 100%; border-collapse: collapse; table-layout: fixed;
 font-size: 7.5pt"><colgroup><col style="width: 22%"><col style="width: 48%">
<col style="width: 30%"></colgroup>
<tr><td>Hospital stay</td><td><div style="margin-left: 0%; width: 100%; height: 2.5mm;
 background: #3b5b92"></div></td><td>1 Mar 2024 &#8211; 12 Apr 2024 (42 d)</td></tr>
<tr><td>Delivery</td><td><div style="margin-left: 80%; width: 2mm; height: 2.5mm;
 background: #1f1f1f"></div></td><td>4 Apr 2024</td></tr>
<tr><td>DXA</td><td><div style="margin-left: 96%; width: 2mm; height: 2.5mm;
 background: #1f1f1f"></div></td><td>10 Apr 2024</td></tr></table>"""


def html_bands(html: str) -> str:
    """Replace the YAM zone band and timeline images (found by their alt text)."""
    def replace(match: re.Match) -> str:
        tag = match[0]
        alt = re.search(r'alt="([^"]*)"', tag)
        alt = alt[1] if alt else ""
        if alt.startswith("Timeline"):
            return TIMELINE
        if alt.startswith("YAM") and "against" not in alt:
            value = re.search(r"YAM ([\d.]+)", alt)
            yam = float(value[1]) if value else 80.0
            return YAM_BAND.format(x=(min(max(yam, 40), 120) - 40) / 80 * 100, yam=f"{yam:g}")
        return tag
    return IMG.sub(replace, html)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--docs", type=int, default=24)
    parser.add_argument("--passes", type=int, default=2)
    opts = parser.parse_args()
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1704067200")

    import weasyprint

    import reportgen.charts as charts
    from reportgen.api import build_patient_reports
    from reportgen.render import ASSETS, PDF_VARIANT, HtmlPdfRenderer

    chart_time: dict[str, list[float]] = {}
    for name in [n for n in dir(charts) if n.startswith("plot_")]:
        original = getattr(charts, name)

        def timed(*args, _f=original, _n=name, **kwargs):
            c = time.process_time()
            try:
                return _f(*args, **kwargs)
            finally:
                chart_time.setdefault(_n, []).append(time.process_time() - c)
        setattr(charts, name, timed)

    work = Path(tempfile.mkdtemp(prefix="reportgen-exp-"))
    try:
        csv_path = synth.write_csv(work / "patients.csv", opts.docs, seed=31)
        build_patient_reports(csv_path, work / "out", workers=1, overwrite=True)
        docs = []
        for path in sorted((work / "out").glob("patient-*.html")):
            docs.append((path.read_text("utf-8"), path.with_suffix(".json").read_bytes(),
                         path.stem))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    renderer = HtmlPdfRenderer()
    created = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
    css_cache: dict[str, weasyprint.CSS] = {}

    def pdf(html: str, data: bytes, stem: str, *, cache=None, css_once=False, tags=True):
        stylesheets = [renderer.font_css]
        if css_once:
            for text in STYLE.findall(html):
                if text not in css_cache:
                    css_cache[text] = weasyprint.CSS(string=text, font_config=renderer.font_config,
                                                     url_fetcher=renderer.fetcher)
                stylesheets.append(css_cache[text])
            html = STYLE.sub("", html)
        attachment = weasyprint.Attachment(
            string=data, name="report.json", relationship="Data", description="Report data",
            created=created, modified=created, url_fetcher=renderer.fetcher)
        document = weasyprint.HTML(string=html, base_url=str(ASSETS) + "/",
                                   url_fetcher=renderer.fetcher)
        return document.write_pdf(
            stylesheets=stylesheets, font_config=renderer.font_config,
            cache=renderer.cache if cache is None else cache, pdf_variant=PDF_VARIANT,
            pdf_tags=tags, attachments=[attachment], pdf_identifier=b"0" * 32)

    prepared = []
    for html, data, stem in docs:
        prepared.append({
            "baseline": html, "rgb": recode_images(html, "png"),
            "jpeg": recode_images(html, "jpeg"), "bands": html_bands(html),
            "combined": recode_images(html_bands(html), "png"), "data": data, "stem": stem})
    variants = {
        "baseline": lambda d: pdf(d["baseline"], d["data"], d["stem"]),
        "fresh-cache": lambda d: pdf(d["baseline"], d["data"], d["stem"], cache={}),
        "rgb-png": lambda d: pdf(d["rgb"], d["data"], d["stem"], cache={}),
        "jpeg": lambda d: pdf(d["jpeg"], d["data"], d["stem"], cache={}),
        "css-once": lambda d: pdf(d["baseline"], d["data"], d["stem"], cache={}, css_once=True),
        "html-bands": lambda d: pdf(d["bands"], d["data"], d["stem"], cache={}),
        "no-tags": lambda d: pdf(d["baseline"], d["data"], d["stem"], cache={}, tags=False),
        "combined": lambda d: pdf(d["combined"], d["data"], d["stem"], cache={},
                                  css_once=True),
    }
    for doc in prepared[:2]:  # warm-up
        for function in variants.values():
            function(doc)
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    before = len(renderer.cache)
    for p in range(opts.passes):
        for i, doc in enumerate(prepared):
            shift = (i + p) % len(names)
            for name in names[shift:] + names[:shift]:  # rotate the order
                w, c = time.perf_counter(), time.process_time()
                variants[name](doc)
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(time.process_time() - c)
    grown = len(renderer.cache) - before
    size = sum(len(k) for k in renderer.cache if isinstance(k, str))
    size += sum(len(v) for v in renderer.cache.values() if isinstance(v, bytes | str))

    base_cpu = cpu["baseline"]
    print(f"\n{len(prepared)} documents x {opts.passes} pass(es); HTML median "
          f"{statistics.median(len(d['baseline']) for d in prepared) / 1024:.0f} KB "
          f"(html-bands: {statistics.median(len(d['bands']) for d in prepared) / 1024:.0f} KB)")
    print(f"{'variant':14s} {'CPU ms':>8s} {'wall ms':>8s} {'paired CPU diff':>16s} {'gain':>7s}")
    for name in names:
        diffs = [a - b for a, b in zip(cpu[name], base_cpu, strict=True)]
        d = statistics.median(diffs) * 1000
        print(f"{name:14s} {statistics.median(cpu[name]) * 1000:8.0f} "
              f"{statistics.median(wall[name]) * 1000:8.0f} {d:+13.1f} ms "
              f"{-100 * d / (statistics.median(base_cpu) * 1000):6.1f} %")
    print(f"\nshared image cache (HtmlPdfRenderer.cache, used by 'baseline' only): +{grown} "
          f"entries during the run; keys + byte values now {size / 2**20:.1f} MiB "
          f"(~{size / max(1, len(prepared) * opts.passes + 2) / 1024:.0f} KiB per rendered "
          "document, never freed)")
    print("\nchart functions (CPU ms per call, median, during the pipeline run):")
    for name, values in sorted(chart_time.items()):
        print(f"  {name:20s} {statistics.median(values) * 1000:6.1f} ms  ({len(values)} calls)")


if __name__ == "__main__":
    main()
