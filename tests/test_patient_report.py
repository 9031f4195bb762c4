"""Per-patient discharge reports (issue 4) through the real command line.

Each module-scoped fixture runs ``reportgen patient`` once in a fresh process
(``run_reportgen.subprocess``); the tests read what it wrote:
the manifest, the PDF text (pypdf), the HTML source and its parse tree.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pypdf
import pytest

from reportgen import __version__
from reportgen.rules import load_rules

pytestmark = pytest.mark.slow  # PDFs of the sample (27 reports); test_golden.py pins the HTML
ROOT = Path(__file__).resolve().parent.parent
SEED_CSV = ROOT / "input" / "case_series_2020.csv"
INDEX_CASE = ROOT / "input" / "index_case_2.json"
GENERATED_AT = "2024-01-01T00:00:00Z"  # conftest.EPOCH, set by run_reportgen
NOTE = "<b>x</b> & {{ 7*7 }}"
FOOTER_MAX_Y_PT = 20 / 25.4 * 72  # the @page bottom margin (20 mm), where the footer lives


def text_of(raw: str) -> str:
    return re.sub(r"\s+", " ", raw).strip()


def pdf_pages(path: Path) -> list[str]:
    """Each page's text, whitespace normalised."""
    return [text_of(page.extract_text()) for page in pypdf.PdfReader(path).pages]


def pdf_text(path: Path) -> str:
    return " ".join(pdf_pages(path))


def footer_texts(path: Path) -> list[str]:
    """The text in each page's bottom margin (the running footer), whitespace normalised."""
    footers = []
    for page in pypdf.PdfReader(path).pages:
        parts: list[str] = []

        def visit(text, cm, tm, font, size, parts=parts):
            y = cm[1] * tm[4] + cm[3] * tm[5] + cm[5]  # text origin in page space (pt)
            if text.strip() and y < FOOTER_MAX_Y_PT:
                parts.append(text)

        page.extract_text(visitor_text=visit)
        footers.append(text_of(" ".join(parts)))
    return footers


class Tree(HTMLParser):
    """Collects what the tests look at: tags with attributes, table rows as cell texts,
    CSS (style elements and attributes), all text."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[list[str]] = []
        self.css: list[str] = []
        self.text: list[str] = []
        self._open_rows: list[list[str]] = []
        self.rules: list[list[str]] = []  # risk-factor blocks: [name + id, state, finding]
        self._rule_depth: int | None = None  # open div count when the current block opened
        self._divs = 0
        self._in_style = False
        self.feed(source)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("style"):
            self.css.append(attributes["style"])
        if tag == "style":
            self._in_style = True
        elif tag == "tr":
            self._open_rows.append([])
        elif tag in ("td", "th") and self._open_rows:
            self._open_rows[-1].append("")
        elif tag == "br":
            self.handle_data(" ")
        classes = (attributes.get("class") or "").split()
        if tag == "div":
            self._divs += 1
            if "rule" in classes:
                self._rule_depth = self._divs
                self.rules.append([])
        elif self._rule_depth is not None and {"rule-name", "state", "finding"} & set(classes):
            self.rules[-1].append("")

    def handle_endtag(self, tag):
        if tag == "div":
            if self._rule_depth == self._divs:
                self._rule_depth = None
                self.rules[-1] = [text_of(cell) for cell in self.rules[-1]]
            self._divs -= 1
        if tag == "style":
            self._in_style = False
        elif tag == "tr" and self._open_rows:
            self.rows.append([text_of(cell) for cell in self._open_rows.pop()])

    def handle_data(self, data):
        if self._in_style:
            self.css.append(data)
            return
        self.text.append(data)
        if self._open_rows and self._open_rows[-1]:
            self._open_rows[-1][-1] += data
        if self._rule_depth is not None and self.rules[-1]:
            self.rules[-1][-1] += data

    def row_with(self, needle: str) -> list[str]:
        """The innermost table row whose first cell contains ``needle``."""
        found = [row for row in self.rows if row and needle in row[0]]
        assert found, f"no table row starting with {needle!r}"
        return found[0]

    def rule_with(self, needle: str) -> list[str]:
        """The risk-factor block whose name (label and rule id) contains ``needle``."""
        found = [rule for rule in self.rules if rule and needle in rule[0]]
        assert found, f"no risk-factor block for {needle!r}"
        return found[0]

    def charts(self) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == "img" and "chart" in (a.get("class") or "")]


def parse(path: Path) -> Tree:
    return Tree(path.read_text("utf-8"))


# ---------------------------------------------------------------------------------------------
# Module fixtures: one CLI run per input


@pytest.fixture(scope="module")
def seed_run(run_reportgen, tmp_path_factory):
    """The seed Table 1 with the default formats (html,pdf,json)."""
    outdir = tmp_path_factory.mktemp("seed")
    result = run_reportgen.subprocess("patient", SEED_CSV, "-o", outdir)
    assert result.returncode == 0, result.stderr
    return outdir, result


@pytest.fixture(scope="module")
def seed_dir(seed_run) -> Path:
    return seed_run[0]


@pytest.fixture(scope="module")
def index_dir(run_reportgen, tmp_path_factory) -> Path:
    """Patient 2 as a JSON object with an infusion record, dates and notes."""
    outdir = tmp_path_factory.mktemp("index")
    result = run_reportgen.subprocess("patient", INDEX_CASE, "-o", outdir)
    assert result.returncode == 0, result.stderr
    return outdir


@pytest.fixture(scope="module")
def generated_dir(run_reportgen, tmp_path_factory) -> Path:
    """A generated file: BMI only through height and weight, and a hostile note."""
    outdir = tmp_path_factory.mktemp("generated")
    source = outdir.parent / "generated-input.csv"
    with source.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            [
                "patient_id",
                "age_years",
                "height_cm",
                "weight_kg",
                "mgso4_days",
                "mgso4_total_g",
                "yam_percent",
                "fracture",
                "notes",
            ]
        )
        writer.writerow(["hw1", "31", "165", "60", "20", "900", "78", "no", NOTE])
    result = run_reportgen.subprocess("patient", source, "-o", outdir)
    assert result.returncode == 0, result.stderr
    return outdir


# ---------------------------------------------------------------------------------------------
# The seed Table 1: files and manifest


def test_seed_table_gives_27_reports_and_a_manifest(seed_run):
    outdir, result = seed_run
    names = sorted(p.name for p in outdir.iterdir() if not p.name.startswith("."))
    expected = sorted(f"patient-{i}.{fmt}" for i in range(1, 10) for fmt in ("html", "pdf", "json"))
    assert names == sorted([*expected, "manifest.json"])
    assert result.returncode == 0
    assert result.stdout.strip().endswith("manifest.json")


def test_seed_manifest_hashes_and_entries_are_right(seed_dir):
    manifest = json.loads((seed_dir / "manifest.json").read_text("utf-8"))
    assert manifest["tool_version"] == __version__
    assert manifest["rules_version"] == load_rules(None).version
    assert manifest["schema_version"]
    assert manifest["errors"] == []
    files = manifest["files"]
    assert len(files) == 27
    assert len({entry["path"] for entry in files}) == 27
    for entry in files:
        data = (seed_dir / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), entry["path"]
        assert entry["kind"] == "patient"
        assert entry["path"] == f"patient-{entry['patient_id']}.{entry['format']}"
    assert {(e["patient_id"], e["format"]) for e in files} == {
        (str(i), fmt) for i in range(1, 10) for fmt in ("html", "pdf", "json")
    }


def test_patient_json_agrees_with_the_rules(seed_dir):
    two = json.loads((seed_dir / "patient-2.json").read_text("utf-8"))
    eight = json.loads((seed_dir / "patient-8.json").read_text("utf-8"))
    assert two["classification"] == "osteoporosis"
    assert {"mgso4_long_term", "mgso4_high_cumulative_dose"} <= set(two["risk_flags"])
    assert "bisphosphonate_caution" in two["recommendations"]
    assert eight["classification"] == "normal"
    assert "mgso4_high_cumulative_dose" not in eight["risk_flags"]
    assert "bisphosphonate_caution" not in eight["recommendations"]
    for document in (two, eight):
        assert document["rules_version"] == load_rules(None).version


# ---------------------------------------------------------------------------------------------
# PDF content


def test_patient_2_pdf_shows_exposure_dxa_status_and_dose_rule(seed_dir):
    text = pdf_text(seed_dir / "patient-2.pdf")
    assert "Cumulative MgSO4 3,756 g" in text
    assert "Days on MgSO4 85 days" in text
    assert "YAM 67 %" in text
    assert "Osteoporosis" in text
    assert "PLO" in text
    assert "Pregnancy- and lactation-associated osteoporosis" in text
    # The > 1,000 g rule, fired, with the patient's value against its threshold.
    assert re.search(r"mgso4_high_cumulative_dose Present cumulative MgSO4 3,756 g > 1,000 g", text)
    assert "hypothesis from a nine-patient case series" in text.lower()
    # The criteria and the rule-set version.
    assert "Japanese criteria for primary osteoporosis, 2012 revision" in text
    assert load_rules(None).version in text
    assert "Fracture Yes: vertebral (T7, T12)" in text
    assert "Fragility fracture recorded: vertebral (T7, T12)" in text


def test_patient_8_pdf_shows_normal_and_no_dose_flag(seed_dir):
    text = pdf_text(seed_dir / "patient-8.pdf")
    assert "Normal" in text
    assert "YAM 91 % ≥ 80 %" in text
    assert "Pregnancy- and lactation-associated osteoporosis" not in text
    assert "cumulative MgSO4 456 g ≤ 1,000 g" in text
    assert re.search(r"mgso4_high_cumulative_dose Absent cumulative MgSO4 456 g", text)
    assert "bisphosphonate" not in text.lower()
    assert "Japanese criteria for primary osteoporosis, 2012 revision" in text


@pytest.mark.parametrize(("which", "most"), [("seed", 2), ("index", 2)])
def test_patient_2_pdf_page_count(which, most, request):
    """Two pages, the fully dated index case (infusions, timeline, notes, the v2 page-1
    statements) included: the one-block-per-rule risk factors (issue 19) keep it at two."""
    outdir = request.getfixturevalue("seed_dir" if which == "seed" else "index_dir")
    reader = pypdf.PdfReader(outdir / "patient-2.pdf")
    assert 1 <= len(reader.pages) <= most, f"{len(reader.pages)} pages"
    last = reader.pages[-1].extract_text()
    assert "Reviewed by" in last
    assert len(last.split()) > 25, "the last page holds only the sign-off"


@pytest.mark.parametrize(("where", "patient"), [("seed", "2"), ("seed", "8"), ("index", "2")])
def test_every_page_has_the_footer(where, patient, request):
    outdir = request.getfixturevalue("seed_dir" if where == "seed" else "index_dir")
    footers = footer_texts(outdir / f"patient-{patient}.pdf")
    rules_version = load_rules(None).version
    for number, footer in enumerate(footers, start=1):
        assert f"Patient {patient}" in footer, footer
        assert f"Page {number} of {len(footers)}" in footer, footer
        assert __version__ in footer, footer
        assert rules_version in footer, footer
        # The generation time (SOURCE_DATE_EPOCH), not just the day.
        assert re.search(r"2024-01-01[ T]00:00", footer), f"no generation time in {footer!r}"


# ---------------------------------------------------------------------------------------------
# Not assessed vs not fired; derived values; notes


def test_not_recorded_differs_from_absent_in_html(index_dir):
    tree = parse(index_dir / "patient-2.html")
    vitamin_d = tree.rule_with("vitamin_d_deficiency")
    low_bmi = tree.rule_with("low_bmi")
    assert vitamin_d[1] == "Not recorded"
    assert "not recorded" in vitamin_d[2].lower()
    assert low_bmi[1] == "Absent"
    assert "BMI 22.5 kg/m² ≥ 18.5 kg/m²" in low_bmi[2]
    states = {
        a.get("class")
        for t, a in tree.tags
        if t == "span" and "state" in (a.get("class") or "").split()
    }
    assert {"state not_assessed", "state absent", "state present"} <= states


def test_not_recorded_differs_from_absent_in_pdf(index_dir):
    text = pdf_text(index_dir / "patient-2.pdf")
    assert re.search(r"vitamin_d_deficiency Not recorded serum 25\(OH\)D: not recorded", text)
    assert re.search(r"low_bmi Absent BMI 22\.5 kg/m² ≥ 18\.5 kg/m²", text)
    document = json.loads((index_dir / "patient-2.json").read_text("utf-8"))
    assert "vitamin_d_deficiency" in document["not_assessed"]
    assert "low_bmi" not in document["not_assessed"] + document["risk_flags"]


def test_infusion_derived_mgso4_is_marked_derived(index_dir):
    tree = parse(index_dir / "patient-2.html")
    assert tree.row_with("Days on MgSO4")[1] == "85 days derived from infusion record"
    assert tree.row_with("Cumulative MgSO4")[1] == "3,756 g derived from infusion record"
    assert "derived" not in tree.row_with("BMI")[1]  # given, not derived
    text = pdf_text(index_dir / "patient-2.pdf")
    assert "Days on MgSO4 85 days derived from infusion record" in text
    assert "Cumulative MgSO4 3,756 g derived from infusion record" in text
    document = json.loads((index_dir / "patient-2.json").read_text("utf-8"))
    assert set(document["derived"]) == {"mgso4_days", "mgso4_total_g"}


def test_bmi_from_height_and_weight_is_marked_derived(generated_dir):
    tree = parse(generated_dir / "patient-hw1.html")
    assert tree.row_with("BMI")[1] == "22.0 kg/m² derived from height and weight"  # 60/1.65²
    assert "derived" not in tree.row_with("Cumulative MgSO4")[1]
    assert "BMI 22.0 kg/m² derived from height and weight" in pdf_text(
        generated_dir / "patient-hw1.pdf"
    )
    document = json.loads((generated_dir / "patient-hw1.json").read_text("utf-8"))
    assert document["derived"] == ["bmi_kg_m2"]
    assert document["bmi_kg_m2"] == pytest.approx(60 / 1.65**2, abs=0.05)


def test_notes_are_escaped_in_html_and_literal_in_pdf(generated_dir):
    source = (generated_dir / "patient-hw1.html").read_text("utf-8")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; {{ 7*7 }}" in source
    assert "<b>x</b>" not in source
    tree = Tree(source)
    assert not [t for t, _ in tree.tags if t in ("b", "script")]
    assert NOTE in text_of("".join(tree.text))
    text = pdf_text(generated_dir / "patient-hw1.pdf")
    assert NOTE in text
    assert "49" not in text.split("Clinical notes", 1)[1].split("Reviewed by", 1)[0]


# ---------------------------------------------------------------------------------------------
# The HTML is self-contained


_URL_ATTRIBUTES = {
    "src",
    "href",
    "srcset",
    "poster",
    "data",
    "action",
    "formaction",
    "background",
    "xlink:href",
    "manifest",
    "longdesc",
    "ping",
    "cite",
    "codebase",
}


def _all_html(*dirs: Path) -> list[Path]:
    return [path for outdir in dirs for path in sorted(outdir.glob("*.html"))]


def test_html_references_nothing_outside_itself(seed_dir, index_dir, generated_dir):
    pages = _all_html(seed_dir, index_dir, generated_dir)
    assert len(pages) == 11
    for path in pages:
        tree = parse(path)
        for tag, attributes in tree.tags:
            for name, value in attributes.items():
                if name in _URL_ATTRIBUTES:
                    value = (value or "").strip()
                    where = f"{path.name}: <{tag} {name}={value[:60]}>"
                    assert value.startswith(("data:", "#")), where
            if tag == "link":
                assert "stylesheet" not in (attributes.get("rel") or "").lower(), path.name
            assert tag not in ("base", "iframe", "object", "embed"), f"{path.name}: <{tag}>"
            if tag == "script":
                assert "src" not in attributes, path.name
            if tag == "meta" and (attributes.get("http-equiv") or "").lower() == "refresh":
                raise AssertionError(f"{path.name}: meta refresh")
        css = "\n".join(tree.css)
        assert css.strip(), f"{path.name}: no inline CSS"
        assert "@import" not in css.lower(), path.name
        for match in re.finditer(r"url\(\s*(['\"]?)([^'\")]*)", css, flags=re.IGNORECASE):
            assert match[2].strip().startswith("data:"), f"{path.name}: url({match[2][:60]})"


def test_html_charts_are_inline_pngs(seed_dir, index_dir):
    for path, expected in ((seed_dir / "patient-2.html", 2), (index_dir / "patient-2.html", 3)):
        charts = parse(path).charts()
        assert len(charts) == expected, path  # YAM zones, dose vs YAM (+ timeline with dates)
        for chart in charts:
            prefix = "data:image/png;base64,"
            assert chart["src"].startswith(prefix)
            png = base64.b64decode(chart["src"][len(prefix) :], validate=True)
            assert png.startswith(b"\x89PNG\r\n\x1a\n")
            assert len(png) > 1000
            assert chart.get("alt"), "chart without alt text"


# ---------------------------------------------------------------------------------------------
# The template context (issue 18): typed, documented, built after the charts


def _seed_assessment(patient_id: str = "2"):
    from reportgen.api import load_input
    from reportgen.assess import assess_record
    from reportgen.frames import records_from_frame

    records = records_from_frame(load_input(SEED_CSV).valid_frame)
    record = next(r for r in records if str(r["patient_id"]) == patient_id)
    rules = load_rules()
    return assess_record(record, rules), rules


def _context_of(assessment, rules, charts):
    from reportgen.context import patient_context
    from reportgen.settings import load_settings

    return patient_context(
        assessment,
        rules,
        load_settings(None),
        charts=charts,
        generated_at=GENERATED_AT,
        tool_version=__version__,
        source="case_series_2020.csv",
        json_name="patient-2.json",
    )


def test_patient_context_is_built_from_drawn_charts_without_drawing(monkeypatch):
    import dataclasses

    from reportgen import charts as charts_module
    from reportgen.context_types import PatientContext
    from reportgen.report_charts import draw_patient_charts

    assessment, rules = _seed_assessment()
    drawn = draw_patient_charts(assessment, rules)
    assert drawn.yam_zones is not None
    assert drawn.dose_vs_yam is not None
    for name in dir(charts_module):
        if name.startswith("plot_"):
            monkeypatch.setattr(charts_module, name, lambda *a, **k: pytest.fail("drew a chart"))
    context = _context_of(assessment, rules, drawn)
    assert isinstance(context, PatientContext)
    assert context.charts["yam_zones"]["uri"].startswith("data:image/png;base64,")
    assert context.charts["so_far"] is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.title = "x"  # type: ignore[misc]


def test_every_context_field_is_documented_for_template_authors():
    import dataclasses

    from reportgen import context_types

    text = (ROOT / "docs" / "templates.md").read_text("utf-8")
    for cls in (
        context_types.DocumentContext,
        context_types.PatientContext,
        context_types.FollowUpContext,
        context_types.CohortContext,
        context_types.CohortFollowUpContext,
    ):
        assert f"### `{cls.__name__}`" in text
        for field in dataclasses.fields(cls):
            assert f"| `{field.name}` |" in text, (cls.__name__, field.name)


def test_a_custom_template_reads_the_context_as_attributes_and_keys(tmp_path):
    from reportgen.render import HtmlPdfRenderer
    from reportgen.report_charts import PatientCharts

    (tmp_path / "patient.html").write_text(
        '{% extends "base.html" %}{% block content %}'
        "<p>{{ report.patient.id }}|{{ report['heading'] }}|{{ report.css|length > 0 }}"
        "|{{ report.flags[0].id }}</p>{% endblock %}",
        "utf-8",
    )
    assessment, rules = _seed_assessment()
    html = HtmlPdfRenderer(tmp_path).html(
        "patient.html", _context_of(assessment, rules, PatientCharts())
    )
    assert "<p>2|Postpartum bone-health report|True|" in html
    assert '<header class="masthead">' in html  # the shipped base.html
