"""Where the time goes: the profiles behind docs/performance.md (issue 8).

Needs a sampling profiler in the venv (development tools, not reportgen dependencies):
``.venv/bin/pip install py-spy`` (preferred: samples from outside the process, no overhead)
or ``.venv/bin/pip install pyinstrument`` (in-process; inflates call-heavy code).

    .venv/bin/python benchmarks/hotspots.py                  # one worker, 100 reports
    .venv/bin/python benchmarks/hotspots.py --reports 40 --cold --out /tmp/prof
    .venv/bin/python benchmarks/hotspots.py --reports 0 --cohort 100000   # only the cohort

* default: ``build_patient_reports(workers=1)`` in a child process - the same
  ``make_patient_files``
  a pool worker runs. Three warm-up reports are rendered first into another directory and
  only the measured call is analysed, so imports, font set-up and chart plates are excluded:
  this is the steady state of a worker. Printed: the pipeline stages (time of the outermost
  frames of the functions that implement them, ms per report and share), self time by
  package (time in C code such as zlib or Pango is charged to the Python caller), and the
  top functions by self time.
* ``--cold``: ``python -X importtime`` of ``reportgen --help`` and ``reportgen validate``
  (the heaviest imports), and a profile of a cold ``reportgen validate`` on 10^5 synthetic
  rows.
* ``--cohort ROWS``: a profile of ``reportgen cohort --format html,pdf,json`` on ROWS rows.

Sampling attributes time to the running stack (py-spy counts runnable threads, idle waits
are excluded). On a machine shared with other jobs the absolute times stretch, but the
shares stay representative; the CPU/wall ratio of the measured run is printed so the
stretch is visible. ``--out DIR`` keeps the raw samples (collapsed stacks: feed them to
flamegraph.pl or speedscope).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth  # noqa: E402  (sibling script)

RATE = 250  # py-spy samples per second
# (label, regex over "path:Class.function" frame keys). A stage's time is the time of the
# outermost frames matching it (a recursive or nested match is not counted twice).
PATIENT_STAGES = [
    ("charts: all reportgen.charts plot_* calls", r"reportgen/charts/\w+\.py:plot_"),
    ("  plot_timeline (cached plate + bars)", r"reportgen/charts/patient\.py:plot_timeline$"),
    ("  plot_dose_vs_yam (plate + highlight)", r"reportgen/charts/scatter\.py:plot_dose_vs_yam$"),
    ("  plot_yam_zones (cached plate + marker)", r"reportgen/charts/patient\.py:plot_yam_zones$"),
    ("patient_context (charts included)", r"reportgen/context\.py:patient_context$"),
    ("HTML template (Jinja render)", r"reportgen/render\.py:(HtmlPdfRenderer\.)?html$"),
    (
        "PDF: HtmlPdfRenderer.pdf (WeasyPrint, PDF/A-3u, tags)",
        r"reportgen/render\.py:(HtmlPdfRenderer\.)?pdf$",
    ),
    (
        "  HTML parse (tinyhtml5; incl. the base64 chart URIs)",
        r"weasyprint/__init__\.py:(HTML\.)?__init__$",
    ),
    (
        "  CSS cascade (get_all_computed_styles)",
        r"weasyprint/css/__init__\.py:get_all_computed_styles$",
    ),
    (
        "  box tree (build_formatting_structure, loads images)",
        r"weasyprint/formatting_structure/build\.py:build_formatting_structure$",
    ),
    ("  layout (layout_document)", r"weasyprint/layout/__init__\.py:layout_document$"),
    ("  paint (draw_page)", r"weasyprint/draw/__init__\.py:draw_page$"),
    ("  PDF assembly (generate_pdf)", r"weasyprint/pdf/__init__\.py:generate_pdf$"),
    ("    fonts dictionary + subsetting", r"weasyprint/pdf/fonts\.py:build_fonts_dictionary$"),
    ("  PDF serialisation (pydyf write, zlib)", r"pydyf/__init__\.py:(PDF\.)?write$"),
    (
        "  chart PNGs in WeasyPrint: decode (+ P->RGB) + re-encode",
        r"weasyprint/images\.py:(RasterImage\.)?(__init__|get_x_object)$",
    ),
    ("  Pillow PNG encode (any caller)", r"PIL/ImageFile\.py:_save$"),
    ("assess + JSON (assess_record, assessment_json)", r"reportgen/assess\.py:assess"),
    ("atomic writes (fsync)", r"reportgen/output\.py:atomic_write$"),
    ("journal append (fsync per report)", r"reportgen/output\.py:(Journal\.)?append$"),
    ("manifest rewrites", r"reportgen/output\.py:write_manifest$"),
]
VALIDATE_STAGES = [
    ("imports (all)", r"importlib\._bootstrap.*:_find_and_load$"),
    ("load_table", r"reportgen/loaders\.py:load_table$"),
    ("  read_csv", r"pandas/io/parsers/readers\.py:read_csv$"),
    (
        "  blank-row test (_from_frame: str.strip on every cell)",
        r"reportgen/loaders\.py:_from_frame$",
    ),
    ("  cell length check (_check_size)", r"reportgen/loaders\.py:_check_size$"),
    ("prepare_table", r"reportgen/records\.py:prepare_table$"),
    ("  coerce_frame (every column)", r"reportgen/schema\.py:coerce_frame$"),
    ("    _clean_text (astype string + str.strip)", r"reportgen/schema\.py:_clean_text$"),
    ("    _to_number / _to_integer", r"reportgen/schema\.py:_to_(number|integer)$"),
    ("    _to_boolean", r"reportgen/schema\.py:_to_boolean$"),
    ("    _to_smoking", r"reportgen/schema\.py:_to_smoking$"),
    ("    _to_date", r"reportgen/schema\.py:_to_date$"),
    ("    range checks (to_numeric + compare)", r"pandas/core/tools/numeric\.py:to_numeric$"),
    ("  _duplicate_ids", r"reportgen/records\.py:_duplicate_ids$"),
    ("  _missing_values", r"reportgen/records\.py:_missing_values$"),
    ("print the problems", r"click/utils\.py:echo$"),
]
COHORT_STAGES = [
    ("imports (all)", r"importlib\._bootstrap.*:_find_and_load$"),
    ("load_input (read + validate, as `validate`)", r"reportgen/api\.py:load_input$"),
    ("make_cohort_outputs", r"reportgen/cohort\.py:make_cohort_outputs$"),
    ("  assess_frame (vectorised classification + flags)", r"reportgen/assess\.py:assess_frame$"),
    ("  summarise_cohort (Table 1, tests)", r"reportgen/summary/__init__\.py:summarise_cohort$"),
    ("  records_from_frame (per-row dicts)", r"reportgen/assess\.py:records_from_frame$"),
    ("  _quality (per-row quality_flags)", r"reportgen/cohort\.py:_quality$"),
    ("  _cases_csv", r"reportgen/cohort\.py:_cases_csv$"),
    ("  cohort_context (incl. charts)", r"reportgen/cohort_context\.py:cohort_context$"),
    ("    charts (reportgen.charts plot_*)", r"reportgen/charts/\w+\.py:plot_"),
    ("  HTML template", r"reportgen/render\.py:(HtmlPdfRenderer\.)?html$"),
    ("  PDF (HtmlPdfRenderer.pdf)", r"reportgen/render\.py:(HtmlPdfRenderer\.)?pdf$"),
    ("write outputs + manifest", r"reportgen/output\.py:(atomic_write|write_manifest)$"),
]
BUCKETS = [
    ("weasyprint layout", "weasyprint/layout/"),
    ("weasyprint css", "weasyprint/css/"),
    ("weasyprint draw", "weasyprint/draw/"),
    ("weasyprint pdf", "weasyprint/pdf/"),
    ("weasyprint text (Pango/HarfBuzz via cffi)", "weasyprint/text/"),
    ("weasyprint formatting_structure", "weasyprint/formatting_structure/"),
    ("weasyprint images", "weasyprint/images"),
    ("weasyprint other", "weasyprint/"),
    ("tinyhtml5 (HTML parser)", "tinyhtml5/"),
    ("cssselect2", "cssselect2/"),
    ("tinycss2", "tinycss2/"),
    ("pydyf (PDF writer, zlib)", "pydyf/"),
    ("fontTools", "fontTools/"),
    ("PIL", "PIL/"),
    ("matplotlib", "matplotlib/"),
    ("numpy", "numpy/"),
    ("pandas", "pandas/"),
    ("jinja2", "jinja2/"),
    ("click", "click/"),
    ("reportgen", "reportgen/"),
    ("importlib (imports)", "importlib"),
]


class Node:
    """A call-tree node: ``key`` = "path:Class.function", ``time`` in seconds."""

    def __init__(self, key: str):
        self.key = key
        self.time = 0.0
        self.children: dict[str, Node] = {}

    @property
    def self_time(self) -> float:
        return self.time - sum(c.time for c in self.children.values())

    def find(self, suffix: str) -> Node | None:
        if self.key.endswith(suffix):
            return self
        for child in self.children.values():
            found = child.find(suffix)
            if found is not None:
                return found
        return None


_FRAME = re.compile(r"^(.*) \((.*?)(?::(\d+))?\)$")


def parse_collapsed(path: Path, rate: int) -> Node:
    """py-spy ``-f raw`` output (``frame;frame;... count``, root first) as a tree."""
    root = Node("<root>")
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        seconds = int(count) / rate
        node = root
        node.time += seconds
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            key = f"{match[2]}:{match[1]}" if match else frame
            key = key.replace(os.sep, "/")
            node = node.children.setdefault(key, Node(key))
            node.time += seconds
    return root


def from_pyinstrument(frame) -> Node:
    """pyinstrument's tree; its synthetic "[self]" leaves stay in the parent's self time."""
    cls = getattr(frame, "class_name", None)
    key = (
        f"{(frame.file_path or '').replace(os.sep, '/')}:{cls + '.' if cls else ''}"
        f"{frame.function or ''}"
    )
    node = Node(key)
    node.time = frame.time
    for child in frame.children:
        if not child.is_synthetic:
            sub = from_pyinstrument(child)
            node.children[sub.key + f"#{len(node.children)}"] = sub
    return node


def _walk(node: Node, visit, ancestors: tuple = ()) -> None:
    visit(node, ancestors)
    for child in node.children.values():
        _walk(child, visit, ancestors + (node,))


def stage_table(root: Node, stages: list[tuple[str, str]], per: int, unit: str) -> str:
    total = root.time
    lines = [f"{'stage':60s} {'s':>7s} {unit:>10s} {'share':>7s}"]
    for label, pattern in stages:
        regex = re.compile(pattern)
        found = [0.0]

        def visit(node: Node, ancestors: tuple, regex=regex, found=found) -> None:
            if regex.search(node.key) and not any(regex.search(a.key) for a in ancestors):
                found[0] += node.time

        _walk(root, visit)
        t = found[0]
        lines.append(f"{label:60s} {t:7.2f} {1000 * t / per:10.1f} {100 * t / total:6.1f} %")
    return "\n".join(lines)


def _bucket(key: str) -> str | None:
    path = key.rsplit(":", 1)[0]
    if not path or path.startswith("<") or "built-in" in key:
        return None
    for label, marker in BUCKETS:
        if marker in path:
            return label
    return "other (stdlib, ...)"


def bucket_table(root: Node) -> str:
    sums: dict[str, float] = {}

    def visit(node: Node, ancestors: tuple) -> None:
        label = _bucket(node.key)
        for ancestor in reversed(ancestors):
            if label is not None:
                break
            label = _bucket(ancestor.key)
        label = label or "other (stdlib, ...)"
        sums[label] = sums.get(label, 0.0) + node.self_time

    _walk(root, visit)
    lines = [f"{'package (self time; C code -> Python caller)':46s} {'s':>7s} {'share':>7s}"]
    for label, value in sorted(sums.items(), key=lambda kv: -kv[1]):
        if value / root.time >= 0.004:
            lines.append(f"{label:46s} {value:7.2f} {100 * value / root.time:6.1f} %")
    return "\n".join(lines)


def top_self(root: Node, count: int) -> str:
    sums: dict[str, float] = {}

    def visit(node: Node, ancestors: tuple) -> None:
        key = node.key.split("#")[0]
        sums[key] = sums.get(key, 0.0) + node.self_time

    _walk(root, visit)
    rows = sorted(sums.items(), key=lambda kv: -kv[1])[:count]
    return "\n".join(
        f"  {100 * v / root.time:5.1f} %  {k.split('site-packages/')[-1]}" for k, v in rows
    )


def profiler() -> str | None:
    for name in ("py-spy", "pyinstrument"):
        if shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name):
            return name
    return None


def sample(command: list[str], out: Path, name: str, env: dict) -> tuple[Node, str]:
    """Run ``command`` (a Python script + args) under the available profiler."""
    tool = profiler()
    if tool == "py-spy":
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
        raw = out / f"{name}.collapsed.txt"
        done = subprocess.run(
            [
                exe,
                "record",
                "-r",
                str(RATE),
                "-f",
                "raw",
                "--full-filenames",
                "-o",
                str(raw),
                "--",
                sys.executable,
                *command,
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if done.returncode != 0 and not raw.exists():
            raise SystemExit(f"py-spy failed: {done.stderr[-2000:]}")
        return parse_collapsed(raw, RATE), done.stdout
    if tool == "pyinstrument":
        session = out / f"{name}.pyisession"
        wrapper = (
            "import runpy, sys\nfrom pyinstrument import Profiler\n"
            "p = Profiler(interval=0.001)\np.start()\n"
            f"sys.argv = {command!r}\n"
            "try:\n"
            "    if sys.argv[0] == '-m':\n"
            "        sys.argv = sys.argv[1:]\n"
            "        runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
            "    else:\n"
            "        runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            f"finally:\n    p.stop()\n    p.last_session.save({str(session)!r})\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", wrapper], capture_output=True, text=True, env=env
        )
        from pyinstrument.session import Session

        root = Node("<root>")
        tree = from_pyinstrument(Session.load(str(session)).root_frame())
        root.children[tree.key] = tree
        root.time = tree.time
        return root, done.stdout
    raise SystemExit("install a sampling profiler: .venv/bin/pip install py-spy (or pyinstrument)")


# --- the measured child process ------------------------------------------------------------


def _measured(function):
    """Marker frame: only what runs below it is analysed."""
    return function()


def child_patient(reports: int) -> None:
    from reportgen.api import build_patient_reports

    work = Path(tempfile.mkdtemp(prefix="reportgen-prof-"))
    try:
        warm_csv = synth.write_csv(work / "warm.csv", 3, seed=99)
        csv_path = synth.write_csv(work / "patients.csv", reports, seed=2024)
        build_patient_reports(warm_csv, work / "warm", workers=1, overwrite=True)
        wall, cpu = time.perf_counter(), time.process_time()
        _measured(lambda: build_patient_reports(csv_path, work / "out", workers=1, overwrite=True))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(json.dumps({"wall": wall, "cpu": cpu}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- reports ---------------------------------------------------------------------------------


def profile_patient(reports: int, out: Path, env: dict) -> None:
    root, stdout = sample(
        [str(Path(__file__).resolve()), "--child-patient", str(reports)], out, "patient", env
    )
    figures = json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])
    measured = root.find("hotspots.py:_measured") or root
    wall, cpu = figures["wall"], figures["cpu"]
    print(f"\n## One worker, {reports} reports, steady state ({profiler()})")
    print(
        f"measured call: wall {wall:.1f} s, CPU {cpu:.1f} s -> {1000 * wall / reports:.0f} ms "
        f"wall, {1000 * cpu / reports:.0f} ms CPU per report (CPU/wall {cpu / wall:.2f}; "
        f"below 1 = time taken by other processes); {measured.time:.1f} s sampled\n"
    )
    print(stage_table(measured, PATIENT_STAGES, reports, "ms/report"))
    print()
    print(bucket_table(measured))
    print("\nTop functions by self time:")
    print(top_self(measured, 25))


def importtime(command: list[str], env: dict) -> str:
    """Total and heaviest imports (cumulative, one line per top-level package)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command], capture_output=True, text=True, env=env
    )
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match[2]), (len(match[3]) - 1) // 2, match[4]))
    total = sum(r[0] for r in rows if r[1] == 0)
    seen, shown = set(), []
    for cumulative, _depth, name in sorted(rows, key=lambda r: -r[0]):
        top = name.split(".")[0]
        if top in seen:
            continue
        seen.add(top)
        shown.append(f"  {cumulative / 1000:8.1f} ms  {name}")
        if len(shown) == 12:
            break
    return f"total imports {total / 1000:.0f} ms (inflated by -X importtime)\n" + "\n".join(shown)


def profile_cold(out: Path, env: dict) -> None:
    print("\n## Cold imports (python -X importtime), heaviest packages (cumulative)")
    print("\n`reportgen --help`:")
    print(importtime(["-m", "reportgen", "--help"], env))
    work = Path(tempfile.mkdtemp(prefix="reportgen-prof-"))
    try:
        big = synth.write_csv(work / "patients-100000.csv", 100_000, seed=5)
        print("\n`reportgen validate` (10^5 rows):")
        print(importtime(["-m", "reportgen", "validate", str(big)], env))
        started = time.perf_counter()
        root, _ = sample(["-m", "reportgen", "validate", str(big)], out, "validate", env)
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n## Cold `reportgen validate`, 10^5 rows ({profiler()}; process wall {wall:.1f} s, "
        f"{root.time:.1f} s sampled)"
    )
    print(stage_table(root, VALIDATE_STAGES, 1, "ms"))
    print()
    print(bucket_table(root))
    print("\nTop functions by self time:")
    print(top_self(root, 12))


def profile_cohort(rows: int, out: Path, env: dict) -> None:
    work = Path(tempfile.mkdtemp(prefix="reportgen-prof-"))
    try:
        data = synth.write_csv(work / f"patients-{rows}.csv", rows, seed=5)
        started = time.perf_counter()
        root, _ = sample(
            [
                "-m",
                "reportgen",
                "cohort",
                str(data),
                "-o",
                str(work / "out"),
                "--format",
                "html,pdf,json",
            ],
            out,
            "cohort",
            env,
        )
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n## Cold `reportgen cohort --format html,pdf,json`, {rows:,} rows ({profiler()}; "
        f"process wall {wall:.1f} s, {root.time:.1f} s sampled)"
    )
    print(stage_table(root, COHORT_STAGES, 1, "ms"))
    print()
    print(bucket_table(root))
    print("\nTop functions by self time:")
    print(top_self(root, 15))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--reports", type=int, default=100, help="reports profiled (100; 0 = skip)")
    parser.add_argument("--cold", action="store_true", help="also profile --help and validate")
    parser.add_argument("--only-cold", action="store_true", help="only the cold profiles")
    parser.add_argument(
        "--cohort",
        type=int,
        metavar="ROWS",
        help="also profile `reportgen cohort` (html,pdf,json) on ROWS rows",
    )
    parser.add_argument("--out", type=Path, help="keep the raw samples in this directory")
    parser.add_argument("--child-patient", type=int, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child_patient:
        child_patient(opts.child_patient)
        return
    out = opts.out or Path(tempfile.mkdtemp(prefix="reportgen-prof-out-"))
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SOURCE_DATE_EPOCH="1704067200")
    print(f"raw samples in {out}")
    if not opts.only_cold and not (opts.cohort and opts.reports == 0):
        profile_patient(opts.reports, out, env)
    if opts.cold or opts.only_cold:
        profile_cold(out, env)
    if opts.cohort:
        profile_cohort(opts.cohort, out, env)
    if not opts.out:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
