"""The table of clinical scenarios (tests/data/clinical_scenarios.toml), end to end.

Every scenario goes through the real loader (a CSV file, as a clinic would give it), the rules,
the JSON and the HTML; the ones marked ``pdf = true`` also through WeasyPrint, and their page 1
is read back from the PDF.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tomllib
from functools import cache
from pathlib import Path

import pytest
from pypdf import PdfReader

from reportgen import __version__
from reportgen.api import load_input
from reportgen.assess import assess_record, assessment_json
from reportgen.context import patient_context
from reportgen.frames import records_from_frame
from reportgen.report_charts import draw_patient_charts
from reportgen.reports import ReportRenderer
from reportgen.rules import load_rules

DATA = Path(__file__).parent / "data" / "clinical_scenarios.toml"
DOCUMENT = tomllib.loads(DATA.read_text("utf-8"))
BASE, SCENARIOS = DOCUMENT["base"], DOCUMENT["scenario"]
IDS = [f"{i:02d}-{s['name'][:48]}" for i, s in enumerate(SCENARIOS, 1)]


def test_the_table_is_large_and_covers_every_finding():
    assert len(SCENARIOS) >= 30
    assert {s["finding"] for s in SCENARIOS} >= set(range(1, 11)) | {13, 14, 15}
    assert sum(bool(s.get("pdf")) for s in SCENARIOS) >= 6


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


@cache
def _records(tmp: str) -> dict[str, dict]:
    """All scenarios as one CSV file (the union of their columns; blank = not recorded)."""
    rows = [{**BASE, **s["input"], "patient_id": f"s{i}"} for i, s in enumerate(SCENARIOS, 1)]
    columns = list(dict.fromkeys(c for row in rows for c in row))
    path = Path(tmp) / "scenarios.csv"
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows([[_cell(row.get(c)) for c in columns] for row in rows])
    table = load_input(path)
    assert not table.errors, [str(p) for p in table.errors]
    return {r["patient_id"]: r for r in records_from_frame(table.valid_frame)}


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> dict[str, dict]:
    return _records(str(tmp_path_factory.mktemp("scenarios")))


def _assessed(records: dict, index: int):
    scenario = SCENARIOS[index - 1]
    rules = load_rules(criteria=scenario.get("criteria"))
    assessment = assess_record(records[f"s{index}"], rules)
    return scenario, rules, assessment


@pytest.mark.parametrize("index", range(1, len(SCENARIOS) + 1), ids=IDS)
def test_scenario(records, index):
    scenario, rules, assessment = _assessed(records, index)
    data = assessment_json(
        assessment,
        rules,
        tool_version="t",
        generated_at="2026-01-01T00:00:00Z",
        source_name="scenarios.csv",
    )
    assert data["classification"] == scenario["class"]
    assert set(data["risk_flags"]) == set(scenario["flags"])
    assert set(data["recommendations"]) == set(scenario["recs"])
    assert data["secondary_causes"] == scenario.get("secondary", [])
    assert [s["id"] for s in data["page1_statements"]] == scenario["statements"]
    assert set(scenario.get("not_assessed", [])) <= set(data["not_assessed"])
    # the JSON is what the FHIR and chart integrations read: plain JSON, nothing lost
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    if scenario.get("shown") or scenario.get("not_shown"):
        html = _html(assessment, rules)
        words = _text(html)
        for text in scenario.get("shown", []):
            assert text in html or text in words, text
        for text in scenario.get("not_shown", []):
            assert text not in html, text
            assert text not in words, text


def _text(html: str) -> str:
    """What a reader sees: tags dropped, no-break spaces as spaces, white space folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("\u00a0", " ").split())


def _context(assessment, rules, renderer):
    return patient_context(
        assessment,
        rules,
        renderer.settings,
        charts=draw_patient_charts(assessment, rules),
        generated_at="2026-01-01T00:00:00Z",
        tool_version=__version__,
        source="scenarios.csv",
        json_name="patient.json",
    )


@cache
def _renderer() -> ReportRenderer:
    return ReportRenderer(None)


def _html(assessment, rules) -> str:
    renderer = _renderer()
    return renderer.engine.html("patient.html", _context(assessment, rules, renderer))


PDF_SCENARIOS = [i for i, s in enumerate(SCENARIOS, 1) if s.get("pdf")]


@pytest.mark.slow
@pytest.mark.parametrize("index", PDF_SCENARIOS, ids=[IDS[i - 1] for i in PDF_SCENARIOS])
def test_page_one_of_the_pdf(records, index):
    """What changes how the result reads stands on page 1 of the printed report."""
    scenario, rules, assessment = _assessed(records, index)
    renderer = _renderer()
    _, pdf = renderer.document(
        "patient.html",
        _context(assessment, rules, renderer),
        json_bytes=b"{}",
        generated_at="2026-01-01T00:00:00Z",
        identifier=f"scenario-{index}",
    )
    page1 = " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split()).lower()
    for text in scenario.get("page1", []):
        assert " ".join(text.split()).lower() in page1, text
    for statement in assessment.statements:
        if statement.severity == "warning":
            assert " ".join(statement.text.split())[:60].lower() in page1, statement.text
    assert "fired" not in page1
