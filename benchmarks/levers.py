"""Issue 19's levers, measured as paired, interleaved ratios in one warm process (CPU time).

    .venv/bin/python benchmarks/levers.py --docs 24 --passes 4     # warm levers (~5 min)
    .venv/bin/python benchmarks/levers.py --docs 0 --cold 12       # cold runs only

Warm part: N synthetic patients; for every patient and pass, the whole report (charts, HTML,
PDF/A-3u with tags and the JSON attachment, JSON, atomic writes: ``render_record`` and
``atomic_write``) is made once per variant, in a rotating order, and timed with
``time.process_time``:

  all-on        this tree as it is (every lever on)
  -gc           default collector thresholds, nothing frozen
  -blocks       the risk table and sign-off of BASELINE_REF (a table row per rule)
  -png          PNGs decoded and re-encoded by WeasyPrint (its normal path)
  -level        pydyf's zlib level 9
  -css          report.css parsed from the inline <style> of every document
  all-off       all five off (the report as BASELINE_REF made it, warm)
  plain-ref     plain ``weasyprint.HTML(string=...).write_pdf()`` of benchmarks/reference.html
  plain-today   the same on this patient's HTML as BASELINE_REF renders it ("today's HTML")

Printed per variant: median CPU ms, the median of the per-pair ratios to ``all-on`` (a lever's
gain is ``1 / ratio``), and the median paired difference. Cold part (``--cold K``): K rounds of
fresh processes, interleaved: ``reportgen patient input/index_case_2.json`` of this tree, of
BASELINE_REF (``git archive``), and a plain render of benchmarks/reference.html; CPU of each
child (``RUSAGE_CHILDREN``) and wall time, medians and the ratio to the plain render.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REFERENCE = HERE / "reference.html"
BASELINE_REF = "d353564"  # main before issue 19 (clinical rules v2 layout)
sys.path.insert(0, str(HERE))

import synth  # noqa: E402

EPOCH = "1704067200"


def _git_tree(ref: str, target: Path) -> Path:
    """``reportgen`` and ``templates`` of ``ref`` under ``target`` (installed layout)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "reportgen", "templates"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    shutil.move(str(target / "templates"), str(target / "reportgen" / "templates"))
    return target


def warm(opts: argparse.Namespace, work: Path) -> None:
    import pydyf
    import weasyprint
    from weasyprint.images import RasterImage
    from weasyprint.text.fonts import FontConfiguration

    from reportgen import batch, gc_policy, patient_report, pdf_tuning
    from reportgen.inputs import load_input, select_records
    from reportgen.output import atomic_write, patient_file_name
    from reportgen.patient_report import RenderOptions, render_record
    from reportgen.rules import load_rules
    from reportgen.settings import ReportSettings

    rules, report_settings = load_rules(), ReportSettings()

    class Maker:
        """One patient's files (render_record, then atomic writes), per template folder."""

        def __init__(self, options: RenderOptions, outdir: Path):
            self.options, self.outdir = options, outdir

        def make(self, job: batch.Job) -> None:
            outputs = render_record(job.record, rules, report_settings, self.options, stem=job.stem)
            for fmt, data in outputs.items():
                atomic_write(self.outdir / patient_file_name(job.stem, fmt), data)

        @property
        def renderer(self):
            org = report_settings.organisation
            return patient_report._renderer(self.options.template_dir, org)

    old = _git_tree(opts.baseline, work / "baseline")
    old_templates = work / "old-templates"
    old_templates.mkdir()
    for name in ("patient.html", "report.css"):
        shutil.copy(old / "reportgen" / "templates" / name, old_templates / name)

    csv_path = synth.write_csv(work / "patients.csv", opts.docs, seed=31)
    records, _ = select_records(load_input(csv_path), ())  # validated, as the API makes them
    jobs = [batch.Job(r, f"p{i}", f"k{i}") for i, r in enumerate(records)]
    settings = {}
    makers = {}
    for label, templates in (("new", None), ("old", str(old_templates))):
        settings[label] = RenderOptions(
            formats=("html", "pdf", "json"),
            template_dir=templates,
            generated_at="2024-01-01T00:00:00Z",
            source_name="patients.csv",
        )
        (work / label).mkdir()
        makers[label] = Maker(settings[label], work / label)
    for maker in makers.values():
        maker.make(jobs[0])  # imports, fonts, plates
    pdf_tuning.install()
    patched_png = RasterImage.__dict__["_get_png_data"]  # (staticmethod objects)
    original_png = staticmethod(pdf_tuning._ORIGINAL["png"])
    patched_zlib = pydyf.zlib
    import zlib

    renderers = [m.renderer.engine for m in makers.values()]
    parsed_once = {id(r): r._styles_parsed_once for r in renderers}

    def levers(*, gc_on=True, png=True, level=True, css=True) -> None:
        if gc_on:
            gc.freeze()
            gc.set_threshold(*gc_policy.WORKER_THRESHOLDS)
        else:
            gc.unfreeze()
            gc.set_threshold(700, 10, 10)
        RasterImage._get_png_data = patched_png if png else original_png
        pydyf.zlib = patched_zlib if level else zlib
        for r in renderers:
            r._styles_parsed_once = parsed_once[id(r)] if css else (lambda html: (html, []))

    plain_fonts = FontConfiguration()
    reference = REFERENCE.read_text("utf-8")
    today_html = {}
    for job in jobs:  # this patient's HTML as the baseline templates render it
        makers["old"].make(job)
        today_html[job.stem] = (work / "old" / f"patient-{job.stem}.html").read_text("utf-8")

    def plain(html: str) -> None:
        levers(gc_on=False, png=False, level=False, css=False)
        weasyprint.HTML(string=html, base_url=str(ROOT) + "/").write_pdf(font_config=plain_fonts)

    variants = {
        "all-on": lambda job: (levers(), makers["new"].make(job)),
        "-gc": lambda job: (levers(gc_on=False), makers["new"].make(job)),
        "-blocks": lambda job: (levers(), makers["old"].make(job)),
        "-png": lambda job: (levers(png=False), makers["new"].make(job)),
        "-level": lambda job: (levers(level=False), makers["new"].make(job)),
        "-css": lambda job: (levers(css=False), makers["new"].make(job)),
        "all-off": lambda job: (
            levers(gc_on=False, png=False, level=False, css=False),
            makers["old"].make(job),
        ),
        "plain-ref": lambda job: plain(reference),
        "plain-today": lambda job: plain(today_html[job.stem]),
    }
    names = list(variants)
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for job in jobs[:2]:
        for fn in variants.values():
            fn(job)
    for p in range(opts.passes):
        for i, job in enumerate(jobs):
            shift = (i + p) % len(names)
            for name in names[shift:] + names[:shift]:
                c = time.process_time()
                variants[name](job)
                cpu[name].append(time.process_time() - c)
    levers()
    base = cpu["all-on"]
    print(
        f"\nwarm, one process: {len(jobs)} patients x {opts.passes} passes, "
        f"{len(base)} pairs per variant (CPU time, medians)"
    )
    print(f"{'variant':12s} {'CPU ms':>7s} {'ratio to all-on':>16s} {'paired diff':>12s}")
    for name in names:
        ratios = [a / b for a, b in zip(cpu[name], base, strict=True)]
        diffs = [a - b for a, b in zip(cpu[name], base, strict=True)]
        print(
            f"{name:12s} {statistics.median(cpu[name]) * 1000:7.1f} "
            f"{statistics.median(ratios):16.3f} {statistics.median(diffs) * 1000:+10.1f} ms"
        )
    for label, ref in (
        ("plain-today", "plain WeasyPrint on today's patient HTML"),
        ("plain-ref", "plain WeasyPrint on benchmarks/reference.html"),
    ):
        r_on = statistics.median([a / b for a, b in zip(base, cpu[label], strict=True)])
        r_off = statistics.median([a / b for a, b in zip(cpu["all-off"], cpu[label], strict=True)])
        print(f"all-in / {ref}: {r_on:.2f}x now, {r_off:.2f}x with every lever off")


def cold(opts: argparse.Namespace, work: Path) -> None:
    old = _git_tree(opts.baseline, work / "cold-baseline")
    python = sys.executable
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    index = str(ROOT / "input" / "index_case_2.json")
    # Run from `work` (not the repository): `python -c` puts the current directory first on
    # sys.path, and the repository's reportgen/ would shadow the baseline on PYTHONPATH.
    report = [
        python,
        "-c",
        "from reportgen.cli import cli; cli()",
        "patient",
        index,
        "--overwrite",
        "-o",
    ]
    plain = [
        python,
        "-c",
        "import sys, weasyprint; weasyprint.HTML(filename=sys.argv[1]).write_pdf(sys.argv[2])",
        str(REFERENCE),
    ]
    runs = {
        "report (this tree)": (report + [str(work / "cold-new")], env),  # editable install
        f"report ({opts.baseline})": (
            report + [str(work / "cold-old")],
            {**env, "PYTHONPATH": str(old)},
        ),
        "plain reference": (plain + [str(work / "cold-ref.pdf")], env),
        "--help": ([python, "-m", "reportgen", "--help"], env),
    }
    cpu: dict[str, list[float]] = {n: [] for n in runs}
    wall: dict[str, list[float]] = {n: [] for n in runs}
    names = list(runs)
    for k in range(opts.cold + 1):
        for name in names[k % len(names) :] + names[: k % len(names)]:
            command, environment = runs[name]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            w = time.perf_counter()
            subprocess.run(command, env=environment, check=True, capture_output=True, cwd=work)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if k:  # the first round fills the page cache
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(
                    after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                )
    ref_cpu, ref_wall = cpu["plain reference"], wall["plain reference"]
    print(f"\ncold, fresh processes, {opts.cold} interleaved rounds (medians)")
    for name in names:
        r_cpu = statistics.median([a / b for a, b in zip(cpu[name], ref_cpu, strict=True)])
        r_wall = statistics.median([a / b for a, b in zip(wall[name], ref_wall, strict=True)])
        print(
            f"{name:22s} {statistics.median(cpu[name]):6.2f} s CPU "
            f"{statistics.median(wall[name]):6.2f} s wall; / plain reference: "
            f"{r_cpu:.2f}x CPU, {r_wall:.2f}x wall"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--docs", type=int, default=24, help="patients (0: skip warm part)")
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--cold", type=int, default=0, metavar="ROUNDS")
    parser.add_argument("--baseline", default=BASELINE_REF, help="git ref for the 'off' side")
    opts = parser.parse_args()
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    work = Path(tempfile.mkdtemp(prefix="reportgen-levers-"))
    try:
        if opts.docs:
            warm(opts, work)
        if opts.cold:
            cold(opts, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
