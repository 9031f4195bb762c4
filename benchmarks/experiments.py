"""What would the proposed optimisations buy? Measured without changing reportgen.

    .venv/bin/python benchmarks/experiments.py [--docs 24] [--passes 2]

Renders N synthetic patient reports with the real pipeline (``build_patient_reports``, one
worker), then, in the same warm process, turns each report's HTML into a PDF with
``HtmlPdfRenderer.pdf`` (the pipeline's own PDF step) under variants that emulate a proposed
change, interleaved document by document (so background load hits every variant alike):

  baseline           the HTML as the pipeline makes it (shared image cache, as today)
  fresh-cache        ``cache={}`` per document instead of the renderer's ever-growing dict
  rgb-png            the chart PNGs re-saved as RGB PNG (a palette PNG is converted and
                     re-encoded twice by WeasyPrint, an RGB one once)
  jpeg               charts as JPEG q92 4:4:4: WeasyPrint embeds JPEG bytes as they are
  css-once           report CSS parsed once per process (a weasyprint.CSS passed in
                     ``stylesheets``) instead of an inline <style> parsed per document
  html-bands         timeline and YAM zone band as small HTML/CSS blocks instead of PNGs
  no-tags            ``pdf_tags=False`` (information only: the cost of the tagged PDF)
  no-evidence        the small evidence/caveat texts hidden (how much the text volume of
                     the tables costs the layout: "short tables")
  no-break-avoid     no break-inside/after: avoid (pagination constraints)
  no-page-count      no "Page N of M" footer (counter(pages))
  combined           fresh-cache + css-once + html-bands

With ``--memory REPORTS`` it compares the RSS growth of a one-worker run as is and with the
renderer's image cache emptied after each document (child processes, same input).
With ``--validate ROWS`` it also times prototypes of the proposed validation changes
(coerce each distinct string once; blank-row test on distinct strings) against today's code
on ROWS synthetic rows and checks that they give identical results.

Printed: median CPU and wall ms per document, the median paired difference to the baseline
(per document), the image cache growth, and the chart functions' own cost for comparison
(the timeline chart, a fresh matplotlib figure per call, disappears with html-bands).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
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


# --- validation: coerce each distinct string once (prototype of the proposed change) -------


def coerce_frame_unique(raw, rows, source):
    """Same result as ``reportgen.schema.coerce_frame``, but every column is coerced on its
    distinct values (``pd.factorize``) and the result is gathered back by code: inputs have
    few distinct strings per column (numbers, yes/no, dates), so the per-element Python work
    of the ``.str`` methods runs on hundreds of values instead of 10^5."""
    import numpy as np
    import pandas as pd

    from reportgen import schema

    out = pd.DataFrame(index=raw.index)
    problems = []
    for name in raw.columns:
        column = schema.COLUMNS.get(name)
        if column is None:
            out[name] = raw[name]
            continue
        codes, uniques = pd.factorize(raw[name].to_numpy(dtype=object))
        utext = schema._clean_text(pd.Series(uniques, dtype=object))
        uvalues, ubad = schema._COERCERS[column.kind](utext)

        def gather(series, codes=codes):
            return pd.Series(series.array.take(codes), index=raw.index)

        text = gather(utext)
        out[name] = gather(uvalues)
        bad = pd.Series(ubad.to_numpy(dtype=bool, na_value=False)[codes], index=raw.index)
        problems += schema._located(bad, text, rows, source, name, schema._kind_message(column))
        if column.low is not None:
            numeric = pd.to_numeric(uvalues, errors="coerce")
            wrong = ((numeric < column.low) | (numeric > column.high)).fillna(False)
            wrong = pd.Series(np.asarray(wrong, dtype=bool)[codes], index=raw.index)
            problems += schema._located(
                wrong,
                text,
                rows,
                source,
                name,
                f"outside the plausible range {column.low:g}–{column.high:g}",
            )
    return schema.Coerced(out, problems, {p.row for p in problems})


def blank_rows_unique(frame):
    """Rows whose every cell is empty or white space, testing each distinct string once and
    stopping as soon as no candidate row is left (usually after the first column)."""
    import numpy as np
    import pandas as pd

    blank = np.ones(len(frame), dtype=bool)
    for column in frame.columns:
        codes, uniques = pd.factorize(frame[column].to_numpy(dtype=object))
        empty = np.fromiter((not str(u).strip() for u in uniques), dtype=bool, count=len(uniques))
        blank &= empty[codes]
        if not blank.any():
            break
    return blank


def validate_experiment(rows_n: int, repeat: int) -> None:
    import pandas as pd

    from reportgen import loaders, records, schema

    work = Path(tempfile.mkdtemp(prefix="reportgen-exp-"))
    try:
        path = synth.write_csv(work / "patients.csv", rows_n, seed=5)
        timings: dict[str, list[float]] = {}

        def clock(name, function, *args):
            c = time.process_time()
            result = function(*args)
            timings.setdefault(name, []).append(time.process_time() - c)
            return result

        def blank_today(frame):
            return frame.apply(lambda c: c.str.strip() == "").all(axis=1)

        for _ in range(repeat):
            raw = clock("load_table (today)", loaders.load_table, path)
            frame = raw.frame
            old_blank = clock("  blank-row test (today)", blank_today, frame)
            new_blank = clock("  blank-row test (distinct values)", blank_rows_unique, frame)
            assert (old_blank.to_numpy() == new_blank).all()
            clock("prepare_table (today)", records.prepare_table, raw)
            known = frame[[c for c in frame.columns if c in schema.COLUMNS]]
            old = clock("  coerce_frame (today)", schema.coerce_frame, known, raw.rows, raw.source)
            new = clock(
                "  coerce_frame (distinct values)", coerce_frame_unique, known, raw.rows, raw.source
            )
            pd.testing.assert_frame_equal(old.frame, new.frame)
            assert old.problems == new.problems
            assert old.bad_rows == new.bad_rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nvalidation of {rows_n:,} synthetic rows, CPU s (median of {repeat}); the "
        "prototypes give identical frames and problems:"
    )
    for name, values in timings.items():
        print(f"  {name:40s} {statistics.median(values):7.2f} s")
    saved = (
        statistics.median(timings["  blank-row test (today)"])
        - statistics.median(timings["  blank-row test (distinct values)"])
        + statistics.median(timings["  coerce_frame (today)"])
        - statistics.median(timings["  coerce_frame (distinct values)"])
    )
    print(f"  => load_table + prepare_table would drop by {saved:.2f} s CPU")


# --- memory: the renderer's shared image cache ---------------------------------------------

_MEMORY_CHILD = """
import json, sys, time
from reportgen.api import build_patient_reports
import reportgen.render as render
if sys.argv[3] == "fresh-cache":
    original = render.HtmlPdfRenderer.pdf
    def pdf(self, *args, **kwargs):
        try:
            return original(self, *args, **kwargs)
        finally:
            getattr(self, "cache", {}).clear()
    render.HtmlPdfRenderer.pdf = pdf
curve = []
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
class Bar:
    done = 0
    def __init__(self, items): pass
    def __enter__(self): return self
    def __exit__(self, *exc): return False
    def update(self, n=1):
        Bar.done += n
        if Bar.done % 25 == 0:
            curve.append((Bar.done, rss()))
    def __iter__(self):
        while True:
            self.update(1)
            yield None
build_patient_reports(sys.argv[1], sys.argv[2], workers=1, overwrite=True, progress=Bar)
print(json.dumps(curve))
"""


def memory_experiment(reports: int) -> None:
    """RSS of a 1-worker run over ``reports`` reports, as is and with the cache cleared."""
    import subprocess

    work = Path(tempfile.mkdtemp(prefix="reportgen-exp-"))
    try:
        csv_path = synth.write_csv(work / "patients.csv", reports, seed=17)
        print(f"\nRSS (MB) of one in-process worker by reports done ({reports} reports):")
        for variant in ("as-is", "fresh-cache"):
            done = subprocess.run(
                [sys.executable, "-c", _MEMORY_CHILD, str(csv_path), str(work / variant), variant],
                capture_output=True,
                text=True,
                env=dict(os.environ),
            )
            if done.returncode != 0:
                print(f"  {variant}: failed: {done.stderr[-800:]}")
                continue
            curve = json.loads(done.stdout.strip().splitlines()[-1])
            tail = [p for p in curve if p[0] >= reports / 4]
            slope = (
                (tail[-1][1] - tail[0][1]) / (tail[-1][0] - tail[0][0]) * 100
                if len(tail) >= 2
                else float("nan")
            )
            shown = ", ".join(f"{n}:{mb:.0f}" for n, mb in curve[:: max(1, len(curve) // 8)])
            print(f"  {variant:12s} {slope:+6.1f} MB per 100 reports after warm-up;  {shown}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--docs", type=int, default=24, help="reports (0 = skip the PDF part)")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument(
        "--memory",
        type=int,
        metavar="REPORTS",
        help="also compare RSS growth with and without the shared image cache",
    )
    parser.add_argument(
        "--validate",
        type=int,
        metavar="ROWS",
        help="also measure the validation prototypes on ROWS rows",
    )
    opts = parser.parse_args()
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1704067200")
    if opts.validate:
        validate_experiment(opts.validate, 3)
    if opts.memory:
        memory_experiment(opts.memory)
    if opts.docs:
        pdf_experiments(opts)


def pdf_experiments(opts: argparse.Namespace) -> None:
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
            docs.append(
                (path.read_text("utf-8"), path.with_suffix(".json").read_bytes(), path.stem)
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    renderer = HtmlPdfRenderer()
    # The pipeline's own cache policy: a shared dict on the renderer (until b50245b), or none
    # (a fresh dict per document, after it).
    shared = getattr(renderer, "cache", None)
    created = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
    css_cache: dict[str, weasyprint.CSS] = {}

    extra_css: dict[str, weasyprint.CSS] = {}

    def pdf(
        html: str, data: bytes, stem: str, *, cache=None, css_once=False, tags=True, extra=None
    ):
        stylesheets = [renderer.font_css]
        if css_once:
            for text in STYLE.findall(html):
                if text not in css_cache:
                    css_cache[text] = weasyprint.CSS(
                        string=text, font_config=renderer.font_config, url_fetcher=renderer.fetcher
                    )
                stylesheets.append(css_cache[text])
            html = STYLE.sub("", html)
        if extra:
            if extra not in extra_css:
                extra_css[extra] = weasyprint.CSS(string=extra, font_config=renderer.font_config)
            stylesheets.append(extra_css[extra])
        attachment = weasyprint.Attachment(
            string=data,
            name="report.json",
            relationship="Data",
            description="Report data",
            created=created,
            modified=created,
            url_fetcher=renderer.fetcher,
        )
        document = weasyprint.HTML(
            string=html, base_url=str(ASSETS) + "/", url_fetcher=renderer.fetcher
        )
        return document.write_pdf(
            stylesheets=stylesheets,
            font_config=renderer.font_config,
            cache=(shared if shared is not None else {}) if cache is None else cache,
            pdf_variant=PDF_VARIANT,
            pdf_tags=tags,
            attachments=[attachment],
            pdf_identifier=b"0" * 32,
        )

    prepared = []
    for html, data, stem in docs:
        prepared.append(
            {
                "baseline": html,
                "rgb": recode_images(html, "png"),
                "jpeg": recode_images(html, "jpeg"),
                "bands": html_bands(html),
                "data": data,
                "stem": stem,
            }
        )
    no_evidence = ".evidence { display: none !important }"
    no_avoid = (
        "tr, .keep, .summary, .signoff { break-inside: auto !important } "
        "h2 { break-after: auto !important }"
    )
    no_page_count = "@page { @bottom-right { content: none } }"
    variants = {
        "baseline": lambda d: pdf(d["baseline"], d["data"], d["stem"]),
        "fresh-cache": lambda d: pdf(d["baseline"], d["data"], d["stem"], cache={}),
        "rgb-png": lambda d: pdf(d["rgb"], d["data"], d["stem"], cache={}),
        "jpeg": lambda d: pdf(d["jpeg"], d["data"], d["stem"], cache={}),
        "css-once": lambda d: pdf(d["baseline"], d["data"], d["stem"], cache={}, css_once=True),
        "html-bands": lambda d: pdf(d["bands"], d["data"], d["stem"], cache={}),
        "no-tags": lambda d: pdf(d["baseline"], d["data"], d["stem"], cache={}, tags=False),
        "no-evidence": lambda d: pdf(
            d["baseline"], d["data"], d["stem"], cache={}, extra=no_evidence
        ),
        "no-break-avoid": lambda d: pdf(
            d["baseline"], d["data"], d["stem"], cache={}, extra=no_avoid
        ),
        "no-page-count": lambda d: pdf(
            d["baseline"], d["data"], d["stem"], cache={}, extra=no_page_count
        ),
        "combined": lambda d: pdf(d["bands"], d["data"], d["stem"], cache={}, css_once=True),
    }
    for doc in prepared[:2]:  # warm-up
        for function in variants.values():
            function(doc)
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    if shared is None:
        del variants["fresh-cache"]  # the baseline already uses a fresh cache per document
        names.remove("fresh-cache")
    before = len(shared or {})
    for p in range(opts.passes):
        for i, doc in enumerate(prepared):
            shift = (i + p) % len(names)
            for name in names[shift:] + names[:shift]:  # rotate the order
                w, c = time.perf_counter(), time.process_time()
                variants[name](doc)
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(time.process_time() - c)
    grown = len(shared or {}) - before
    size = sum(len(k) for k in (shared or {}) if isinstance(k, str))
    size += sum(len(v) for v in (shared or {}).values() if isinstance(v, bytes | str))

    base_cpu = cpu["baseline"]
    print(
        f"\n{len(prepared)} documents x {opts.passes} pass(es); HTML median "
        f"{statistics.median(len(d['baseline']) for d in prepared) / 1024:.0f} KB "
        f"(html-bands: {statistics.median(len(d['bands']) for d in prepared) / 1024:.0f} KB)"
    )
    print(f"{'variant':14s} {'CPU ms':>8s} {'wall ms':>8s} {'paired CPU diff':>16s} {'gain':>7s}")
    for name in names:
        diffs = [a - b for a, b in zip(cpu[name], base_cpu, strict=True)]
        d = statistics.median(diffs) * 1000
        print(
            f"{name:14s} {statistics.median(cpu[name]) * 1000:8.0f} "
            f"{statistics.median(wall[name]) * 1000:8.0f} {d:+13.1f} ms "
            f"{-100 * d / (statistics.median(base_cpu) * 1000):6.1f} %"
        )
    if shared is not None:
        print(
            f"\nshared image cache (HtmlPdfRenderer.cache, used by 'baseline' only): +{grown} "
            f"entries during the run; keys + byte values now {size / 2**20:.1f} MiB "
            f"(~{size / max(1, len(prepared) * opts.passes + 2) / 1024:.0f} KiB per rendered "
            "document, never freed)"
        )
    else:
        print("\n(the renderer has no shared image cache: baseline = a fresh cache per document)")
    print("\nchart functions (CPU ms per call, median, during the pipeline run):")
    for name, values in sorted(chart_time.items()):
        print(f"  {name:20s} {statistics.median(values) * 1000:6.1f} ms  ({len(values)} calls)")


if __name__ == "__main__":
    main()
