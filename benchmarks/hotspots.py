"""Where the time goes: profiles behind docs/performance.md (issue 8).

    .venv/bin/python benchmarks/hotspots.py                 # one worker, 100 reports (steady state)
    .venv/bin/python benchmarks/hotspots.py --reports 40 --cold --out /tmp/prof

* ``patient`` (default): ``build_patient_reports(workers=1)`` in this process, which runs the
  same ``PatientMaker`` a pool worker runs, under cProfile with a **CPU-time** clock (so other
  jobs on the machine do not inflate the figures). Three warm-up reports are rendered first
  into another directory, so imports, font set-up and chart plates are excluded: this is the
  steady state of a worker. Printed: the pipeline stages (cumulative CPU of the functions
  that implement them, % of the total), CPU by package (self time), the top functions.
* ``--cold``: ``python -X importtime`` of ``reportgen --help`` and ``reportgen validate``
  (the modules that cost most to import), and cProfile of ``reportgen validate`` on 10^5
  synthetic rows, cold, in a fresh process.

``--out DIR`` keeps the .pstats files (open with ``python -m pstats`` or snakeviz). With
``--pyinstrument`` (if installed) the patient run is also sampled by pyinstrument (wall
clock) and its text tree written to DIR.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth  # noqa: E402

# (label, regex over "file:function" of pstats keys); cumulative CPU of the first match wins.
PATIENT_STAGES = [
    ("charts: all reportgen.charts plot_* calls", r"reportgen/charts\.py:plot_"),
    ("  chart plot_timeline (new figure each call)", r"reportgen/charts\.py:plot_timeline$"),
    ("  chart plot_dose_vs_yam", r"reportgen/charts\.py:plot_dose_vs_yam$"),
    ("  chart plot_yam_zones", r"reportgen/charts\.py:plot_yam_zones$"),
    ("HTML template (Jinja render)", r"reportgen/render\.py:html$"),
    ("PDF: HtmlPdfRenderer.pdf", r"reportgen/render\.py:pdf$"),
    ("  HTML parse (tinyhtml5, incl. base64 data URIs)", r"weasyprint/__init__\.py:__init__$"),
    ("  CSS cascade (get_all_computed_styles)", r"weasyprint/css/__init__\.py:"
                                                r"get_all_computed_styles$"),
    ("  box tree (build_formatting_structure)", r"weasyprint/formatting_structure/build\.py:"
                                                r"build_formatting_structure$"),
    ("  layout (layout_document)", r"weasyprint/layout/__init__\.py:layout_document$"),
    ("  image decode + P->RGB + PNG re-encode (RasterImage)", r"weasyprint/images\.py:"
                                                              r"__init__$"),
    ("  image stream re-encode (get_x_object)", r"weasyprint/images\.py:get_x_object$"),
    ("  paint (draw_page)", r"weasyprint/draw/__init__\.py:draw_page$"),
    ("  PDF assembly (generate_pdf)", r"weasyprint/pdf/__init__\.py:generate_pdf$"),
    ("    fonts dictionary + subsetting", r"weasyprint/pdf/fonts\.py:build_fonts_dictionary$"),
    ("  PDF serialisation (pydyf write)", r"pydyf/__init__\.py:write$"),
    ("  Pillow PNG encode (all callers)", r"ImageFile\.py:_save$"),
    ("assess + JSON (assess_record, assessment_json)", r"reportgen/assess\.py:assess"),
    ("atomic writes (fsync)", r"reportgen/output\.py:atomic_write$"),
    ("journal append (fsync per report)", r"reportgen/output\.py:append$"),
    ("manifest rewrites", r"reportgen/output\.py:write_manifest$"),
]
BUCKETS = [
    ("weasyprint layout", "weasyprint/layout/"), ("weasyprint css", "weasyprint/css/"),
    ("weasyprint draw", "weasyprint/draw/"), ("weasyprint pdf", "weasyprint/pdf/"),
    ("weasyprint text (pango/harfbuzz via cffi)", "weasyprint/text/"),
    ("weasyprint formatting_structure", "weasyprint/formatting_structure/"),
    ("weasyprint other", "weasyprint/"), ("tinyhtml5 (HTML parser)", "tinyhtml5/"),
    ("cssselect2", "cssselect2/"), ("tinycss2", "tinycss2/"), ("pydyf", "pydyf/"),
    ("fontTools", "fontTools/"), ("PIL", "PIL/"), ("matplotlib", "matplotlib/"),
    ("numpy", "numpy/"), ("jinja2", "jinja2/"), ("reportgen", "reportgen/"),
    ("cffi / ctypes built-ins", "cffi"), ("zlib / built-ins", "~"),
]


def _key_name(key: tuple) -> str:
    filename, _line, function = key
    return f"{filename.replace(os.sep, '/')}:{function}"


def stage_table(stats: pstats.Stats, stages: list[tuple[str, str]], total: float,
                per: int) -> str:
    entries = stats.stats  # type: ignore[attr-defined]
    lines = [f"{'stage':56s} {'CPU s':>8s} {'ms/report':>10s} {'% of total':>10s}"]
    for label, pattern in stages:
        regex = re.compile(pattern)
        matched = [(key, value) for key, value in entries.items()
                   if regex.search(_key_name(key))]
        if not matched:
            lines.append(f"{label:56s} {'-':>8s}")
            continue
        # cumulative time of matching functions that are not called by another match
        names = {k for k, _ in matched}
        cum = sum(v[3] for k, v in matched if not (set(v[4]) & names))
        lines.append(f"{label:56s} {cum:8.2f} {1000 * cum / per:10.1f} {100 * cum / total:9.1f} %")
    return "\n".join(lines)


def bucket_table(stats: pstats.Stats, total: float) -> str:
    sums: dict[str, float] = {}
    for key, value in stats.stats.items():  # type: ignore[attr-defined]
        name = key[0].replace(os.sep, "/")
        for label, marker in BUCKETS:
            if marker in name or (marker == "~" and name == "~"):
                sums[label] = sums.get(label, 0.0) + value[2]
                break
        else:
            sums["other (stdlib, ...)"] = sums.get("other (stdlib, ...)", 0.0) + value[2]
    lines = [f"{'package (self CPU time)':44s} {'CPU s':>8s} {'share':>7s}"]
    for label, value in sorted(sums.items(), key=lambda kv: -kv[1]):
        lines.append(f"{label:44s} {value:8.2f} {100 * value / total:6.1f} %")
    return "\n".join(lines)


def top_functions(stats: pstats.Stats, count: int, sort: str) -> str:
    buffer = io.StringIO()
    pstats.Stats(stats, stream=buffer).strip_dirs().sort_stats(sort).print_stats(count)
    text = buffer.getvalue()
    return text[text.find("   ncalls"):].rstrip()


def profile_patient(reports: int, out: Path, use_pyinstrument: bool) -> None:
    from reportgen.api import build_patient_reports

    work = Path(tempfile.mkdtemp(prefix="reportgen-prof-"))
    warm_csv = synth.write_csv(work / "warm.csv", 3, seed=99)
    csv_path = synth.write_csv(work / "patients.csv", reports, seed=2024)
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1704067200")
    build_patient_reports(warm_csv, work / "warm", workers=1, overwrite=True)
    profiler = cProfile.Profile(time.process_time)
    wall, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    build_patient_reports(csv_path, work / "out", workers=1, overwrite=True)
    profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    profiler.dump_stats(out / "patient.pstats")
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"\n## One worker, {reports} reports, steady state (cProfile, CPU clock)")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s (profiled: {total:.1f} s) -> "
          f"{1000 * cpu / reports:.0f} ms CPU/report under the profiler\n")
    print(stage_table(stats, PATIENT_STAGES, total, reports))
    print()
    print(bucket_table(stats, total))
    print("\nTop functions by self time:")
    print(top_functions(stats, 25, "tottime"))
    if use_pyinstrument:
        try:
            from pyinstrument import Profiler
        except ImportError:
            print("(pyinstrument not installed)")
        else:
            sampler = Profiler(interval=0.002)
            sampler.start()
            build_patient_reports(csv_path, work / "out2", workers=1, overwrite=True)
            sampler.stop()
            (out / "patient-pyinstrument.txt").write_text(
                sampler.output_text(unicode=True, color=False, show_all=False))
            print(f"\npyinstrument tree: {out / 'patient-pyinstrument.txt'}")


def importtime(command: list[str], env: dict) -> str:
    done = subprocess.run([sys.executable, "-X", "importtime", *command], capture_output=True,
                          text=True, env=env)
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match[2]), len(match[3]) // 2, match[4]))
    top_level = [r for r in rows if r[1] <= 1]
    total = sum(r[0] for r in top_level)
    heavy = sorted(rows, key=lambda r: -r[0])
    seen, shown = set(), []
    for cumulative, _depth, name in heavy:
        root = name.split(".")[0]
        if root in seen:
            continue
        seen.add(root)
        shown.append(f"  {cumulative / 1000:8.1f} ms  {name}")
        if len(shown) == 12:
            break
    return f"total imports {total / 1000:.0f} ms (under -X importtime)\n" + "\n".join(shown)


def profile_cold(out: Path) -> None:
    env = dict(os.environ)
    print("\n## Cold imports (python -X importtime), heaviest packages (cumulative)")
    print("\n`reportgen --help`:")
    print(importtime(["-m", "reportgen", "--help"], env))
    work = Path(tempfile.mkdtemp(prefix="reportgen-prof-"))
    big = synth.write_csv(work / "patients-100000.csv", 100_000, seed=5)
    print("\n`reportgen validate` (10^5 rows):")
    print(importtime(["-m", "reportgen", "validate", str(big)], env))
    stats_path = out / "validate.pstats"
    code = ("import cProfile, time, sys\n"
            "from reportgen.cli import cli\n"
            "p = cProfile.Profile(time.process_time)\n"
            "p.enable()\n"
            "try:\n"
            f"    cli(['validate', {str(big)!r}], standalone_mode=False)\n"
            "finally:\n"
            "    p.disable()\n"
            f"    p.dump_stats({str(stats_path)!r})\n")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], capture_output=True, env=env)
    print(f"\n## Cold `reportgen validate` on 10^5 rows (cProfile, CPU clock; process wall "
          f"{time.perf_counter() - started:.1f} s)")
    stats = pstats.Stats(str(stats_path))
    total = stats.total_tt  # type: ignore[attr-defined]
    stages = [
        ("reportgen.api import (pandas, numpy, ...)", r"reportgen/api\.py:<module>"),
        ("load_table", r"reportgen/loaders\.py:load_table$"),
        ("  read_csv", r"pandas/io/parsers/readers\.py:read_csv$"),
        ("  blank-row test (_from_frame apply/str.strip)", r"reportgen/loaders\.py:_from_frame$"),
        ("  cell length check (_check_size)", r"reportgen/loaders\.py:_check_size$"),
        ("prepare_table", r"reportgen/records\.py:prepare_table$"),
        ("  coerce_frame (all columns)", r"reportgen/schema\.py:coerce_frame$"),
        ("    _clean_text (astype string + strip)", r"reportgen/schema\.py:_clean_text$"),
        ("    _to_number / _to_integer", r"reportgen/schema\.py:_to_(number|integer)$"),
        ("    _to_boolean", r"reportgen/schema\.py:_to_boolean$"),
        ("    _to_smoking", r"reportgen/schema\.py:_to_smoking$"),
        ("    _to_date", r"reportgen/schema\.py:_to_date$"),
        ("  _duplicate_ids", r"reportgen/records\.py:_duplicate_ids$"),
        ("  problems sort", r"reportgen/records\.py:prepare_table$.never"),
    ]
    print(stage_table(stats, [s for s in stages if not s[1].endswith("never")], total, 1)
          .replace("ms/report", "ms (run)"))
    print()
    print(bucket_table(stats, total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--cold", action="store_true", help="also profile --help and validate")
    parser.add_argument("--only-cold", action="store_true", help="only the cold profiles")
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--out", type=Path, help="directory for .pstats / pyinstrument output")
    opts = parser.parse_args()
    out = opts.out or Path(tempfile.mkdtemp(prefix="reportgen-prof-out-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"profiles in {out}")
    if not opts.only_cold:
        profile_patient(opts.reports, out, opts.pyinstrument)
    if opts.cold or opts.only_cold:
        profile_cold(out)


if __name__ == "__main__":
    main()
