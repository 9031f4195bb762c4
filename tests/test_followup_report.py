"""The follow-up patient report end to end: --scans, the JSON, the pages, the CLI's errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pypdf
import pytest
from conftest import INDEX_JSON, ROOT, SAMPLE_CSV

SCANS = ROOT / "input" / "follow_up_scans.csv"


@pytest.fixture(scope="module")
def follow_up_dir(run_reportgen, tmp_path_factory) -> Path:
    """The sample: index case 2 with three visits (illustrative scans)."""
    outdir = tmp_path_factory.mktemp("follow-up")
    result = run_reportgen("patient", INDEX_JSON, "--scans", SCANS, "-o", outdir)
    assert result.exit_code == 0, result.output
    return outdir


@pytest.mark.slow
def test_sample_json_follow_up(follow_up_dir):
    document = json.loads((follow_up_dir / "patient-2.json").read_text("utf-8"))
    assert document["report_kind"] == "follow_up"
    assert document["classification"] == "osteoporosis"  # T7/T12 fractures: whatever the BMD
    assert document["scan_status"]["latest"]["scan_date"] == "2021-06-14"
    assert document["scan_status"]["first"]["yam_percent"] == 67
    entries = {(e["site"], e["basis"], e["to"]): e for e in document["follow_up"]}
    spine = entries[("L1-L4", "baseline", "2021-06-14")]
    assert spine["change_percent"] == pytest.approx(13.20, abs=0.01)
    assert (spine["lsc_percent"], spine["verdict"]) == (5.3, "increase")
    assert entries[("L1-L4", "previous", "2021-06-14")]["verdict"] == "no_significant_change"
    assert entries[("femoral_neck", "baseline", "2021-06-14")]["lsc_percent"] == 6.9
    assert entries[("total_hip", "baseline", "2021-06-14")]["verdict"] == "no_significant_change"
    assert {x["precision_source"] for x in document["lsc"]} == {"iscd_default"}


@pytest.mark.slow
def test_sample_pdf_is_a_readable_follow_up_report(follow_up_dir):
    reader = pypdf.PdfReader(follow_up_dir / "patient-2.pdf")
    assert len(reader.pages) <= 3
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Follow-up bone-health report" in text
    assert "Status at the first scan (2020-06-10)" in text
    # T7/T12 decide, not the YAM (76 % alone is low bone mass): a clinical read found it
    assert "decided by the recorded fragility fracture, whatever the BMD; the lowest %YAM: " in (
        " ".join(text.split())
    )
    assert "significant increase" in text
    assert "no change beyond the LSC" in text
    assert "ISCD minimum acceptable precision (default)" in text
    assert "Reviewed by" in reader.pages[-1].extract_text()


_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")


@pytest.mark.slow
def test_the_english_follow_up_report_has_no_japanese_text(follow_up_dir):
    """Every heading goes through the catalogue: the age-matched column was once hard-coded
    as 同年齢比較 in the English report. (The sample's own data is all in English.)"""
    text = " ".join(
        p.extract_text() for p in pypdf.PdfReader(follow_up_dir / "patient-2.pdf").pages
    )
    assert _JAPANESE.findall(text) == []
    assert "Age-matched" in text


@pytest.mark.slow
def test_follow_up_report_is_deterministic(run_reportgen, follow_up_dir, tmp_path):
    result = run_reportgen(
        "patient", INDEX_JSON, "--scans", SCANS, "-o", tmp_path, "--format", "html,json"
    )
    assert result.exit_code == 0, result.output
    for name in ("patient-2.html", "patient-2.json"):
        assert (tmp_path / name).read_bytes() == (follow_up_dir / name).read_bytes()


@pytest.mark.slow
def test_patient_without_scans_gets_no_follow_up_section(run_reportgen, tmp_path):
    result = run_reportgen(
        "patient",
        SAMPLE_CSV,
        "--scans",
        SCANS,
        "-o",
        tmp_path,
        "--format",
        "html,json",
        "--id",
        "2",
        "--id",
        "5",
    )
    assert result.exit_code == 0, result.output
    five = (tmp_path / "patient-5.html").read_text("utf-8")
    assert "DXA results" not in five
    assert "Postpartum bone-health report" in five
    assert "follow_up" not in json.loads((tmp_path / "patient-5.json").read_text("utf-8"))
    assert "Follow-up bone-health report" in (tmp_path / "patient-2.html").read_text("utf-8")


def test_device_change_and_excluded_vertebra_in_the_report(run_reportgen, tmp_path):
    scans = tmp_path / "scans.csv"
    scans.write_text(
        "patient_id,scan_date,site,bmd_g_cm2,yam_percent,device,excluded_vertebrae\n"
        "5,2020-06-10,L1-L4,0.900,84,Hologic Horizon A,L3\n"
        "5,2021-06-10,L1-L4,0.990,92,GE Lunar Prodigy,L3\n",
        "utf-8",
    )
    result = run_reportgen(
        "patient",
        SAMPLE_CSV,
        "--scans",
        scans,
        "-o",
        tmp_path / "out",
        "--id",
        "5",
        "--format",
        "html,json",
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "patient-5.html").read_text("utf-8")
    assert "not compared: device changed" in html  # in the table; the details on page 1:
    assert (
        "Scans not compared, no verdict: different device (Hologic Horizon A → GE Lunar "
        "Prodigy) at L1–L4 (L3 excluded)"
    ) in html
    assert "L1–L4 (L3 excluded)" in html
    document = json.loads((tmp_path / "out" / "patient-5.json").read_text("utf-8"))
    assert all(e["verdict"] is None for e in document["follow_up"])
    assert "dxa_not_comparable" in [q["id"] for q in document["data_quality"]]


@pytest.mark.slow
def test_scan_errors_are_located_and_block_only_that_patient(run_reportgen, tmp_path):
    scans = tmp_path / "scans.csv"
    scans.write_text(
        "patient_id,scan_date,site,bmd_g_cm2\n"
        "2,2020-06-10,L1-L4,0.712\n"
        "2,2020-06-10,L1-L4,0.713\n"
        "42,2020-06-10,L1-L4,0.8\n",
        "utf-8",
    )
    result = run_reportgen(
        "patient", SAMPLE_CSV, "--scans", scans, "-o", tmp_path / "out", "--format", "json"
    )
    assert result.exit_code == 1
    assert f"{scans}:3:site: duplicate scan: L1-L4 on 2020-06-10 (first in row 2)" in result.output
    assert f"{scans}:4:patient_id: not in the main input: '42'" in result.output
    assert "no report: her scans" in result.output
    written = sorted(p.name for p in (tmp_path / "out").glob("patient-*.json"))
    assert "patient-2.json" not in written
    assert len(written) == 8


def test_validate_with_scans(run_reportgen, tmp_path):
    result = run_reportgen("validate", INDEX_JSON, "--scans", SCANS)
    assert result.exit_code == 0, result.output
    bad = tmp_path / "scans.csv"
    bad.write_text("patient_id,scan_date,site,bmd_g_cm2\n2,2020-06-10,L3,0.7\n", "utf-8")
    result = run_reportgen("validate", INDEX_JSON, "--scans", bad)
    assert result.exit_code == 1
    assert f"{bad}:2:site: a lumbar site needs at least two vertebrae" in result.output


@pytest.mark.slow
def test_facility_precision_is_named(run_reportgen, tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text(
        '[dxa]\nreference = "JSBMR/JOS Japanese female reference (Hologic)"\n'
        '[dxa.precision_percent]\n"L1-L4" = 1.0\n',
        "utf-8",
    )
    result = run_reportgen(
        "patient",
        INDEX_JSON,
        "--scans",
        SCANS,
        "--settings",
        settings,
        "-o",
        tmp_path / "out",
        "--format",
        "html,json",
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "patient-2.html").read_text("utf-8")
    assert "L1–L4 2.8 % (2.77 × 1 %, facility precision)" in html
    assert "JSBMR/JOS Japanese female reference (Hologic)" in html
    document = json.loads((tmp_path / "out" / "patient-2.json").read_text("utf-8"))
    spine = [e for e in document["follow_up"] if e["site"] == "L1-L4"]
    assert {e["lsc_percent"] for e in spine} == {2.8}
    # 0.768 → 0.806 is +4.9 %: beyond the facility's 2.8 %, within the ISCD default 5.3 %
    assert [e["verdict"] for e in spine if e["basis"] == "previous"] == ["increase", "increase"]


@pytest.mark.slow
def test_cohort_follow_up_section(run_reportgen, tmp_path):
    scans = tmp_path / "scans.csv"
    scans.write_text(
        "patient_id,scan_date,site,bmd_g_cm2,yam_percent,device\n"
        "1,2020-06-10,L1-L4,0.700,62,A\n1,2021-06-10,L1-L4,0.770,68,A\n"
        "2,2020-06-10,L1-L4,0.712,67,A\n2,2021-06-10,L1-L4,0.690,65,A\n"
        "3,2020-06-10,L1-L4,0.800,73,A\n3,2021-06-10,L1-L4,0.820,75,A\n"
        "4,2020-06-10,L1-L4,0.800,75,A\n4,2020-12-10,L1-L4,0.900,84,B\n",
        "utf-8",
    )
    result = run_reportgen(
        "cohort", SAMPLE_CSV, "--scans", scans, "-o", tmp_path / "out", "--format", "json,html"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "cohort-summary.json").read_text("utf-8"))
    follow_up = summary["follow_up"]
    assert (follow_up["patients_with_scans"], follow_up["patients_with_follow_up"]) == (4, 4)
    assert follow_up["median_interval_days"] == 365
    (spine,) = follow_up["sites"]
    assert (
        spine["gained"],
        spine["lost"],
        spine["no_significant_change"],
        spine["not_comparable"],
    ) == (1, 0, 2, 1)  # +10 %, −3.1 %, +2.5 %, device change
    assert spine["median_change_percent"] == pytest.approx(2.5)
    assert "Follow-up DXA" in (tmp_path / "out" / "cohort-summary.html").read_text("utf-8")


def test_patient_json_with_its_own_scans(run_reportgen, tmp_path):
    document = json.loads(INDEX_JSON.read_text("utf-8"))
    document["scans"] = [
        {"scan_date": "2020-06-10", "site": "L1-L4", "bmd_g_cm2": 0.712, "yam_percent": 67},
        {"scan_date": "2021-06-14", "site": "L1-L4", "bmd_g_cm2": 0.760, "yam_percent": 71.5},
    ]
    source = tmp_path / "patient.json"
    source.write_text(json.dumps(document), "utf-8")
    result = run_reportgen("patient", source, "-o", tmp_path / "out", "--format", "json")
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "out" / "patient-2.json").read_text("utf-8"))
    (previous, baseline) = written["follow_up"]
    assert previous["change_percent"] == pytest.approx(6.7416, abs=1e-3)
    assert previous["verdict"] == baseline["verdict"] == "increase"
    assert "scans" not in written["input"]


def test_single_visit_shows_every_site_without_a_follow_up_title(run_reportgen, tmp_path):
    scans = tmp_path / "scans.csv"
    scans.write_text(
        "patient_id,scan_date,site,bmd_g_cm2,yam_percent,age_matched_percent\n"
        "5,2020-06-10,L1-L4,0.900,84,88\n5,2020-06-10,total_hip,0.700,78,81\n",
        "utf-8",
    )
    result = run_reportgen(
        "patient",
        SAMPLE_CSV,
        "--scans",
        scans,
        "-o",
        tmp_path / "out",
        "--id",
        "5",
        "--format",
        "html,json",
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "patient-5.html").read_text("utf-8")
    assert "Postpartum bone-health report" in html
    assert "DXA results</h2>" in html
    assert "Age-matched %</th>" in html
    document = json.loads((tmp_path / "out" / "patient-5.json").read_text("utf-8"))
    # the total hip (78 %) decides: low bone mass although the main input said YAM 84
    assert (document["classification"], document["report_kind"]) == (
        "low_bone_mass",
        "single_visit",
    )
    assert document["scan_status"]["latest"]["site"] == "total_hip"
    assert document["follow_up"] == []


@pytest.mark.slow
def test_patient_without_scans_renders_the_same_bytes(run_reportgen, tmp_path):
    """--scans changes nothing for a patient who has none (HTML, PDF and JSON)."""
    plain = run_reportgen("patient", SAMPLE_CSV, "-o", tmp_path / "plain", "--id", "5")
    with_scans = run_reportgen(
        "patient", SAMPLE_CSV, "--scans", SCANS, "-o", tmp_path / "scans", "--id", "5", "--id", "2"
    )
    assert plain.exit_code == with_scans.exit_code == 0
    for suffix in ("html", "pdf", "json"):
        name = f"patient-5.{suffix}"
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "scans" / name).read_bytes()


def test_deidentified_cohort_withholds_unknown_scan_ids(run_reportgen, tmp_path):
    scans = tmp_path / "scans.csv"
    scans.write_text(
        "patient_id,scan_date,site,bmd_g_cm2\n"
        "MRN-4242,2020-06-10,L1-L4,0.712\n2,2020-06-10,L1-L4,0.712\n"
        "2,2021-06-10,L1-L4,0.800\n",
        "utf-8",
    )
    result = run_reportgen(
        "cohort",
        SAMPLE_CSV,
        "--scans",
        scans,
        "-o",
        tmp_path / "out",
        "--format",
        "json",
        "--deidentify",
        "--skip-invalid",
    )
    assert result.exit_code == 0, result.output
    assert "MRN-4242" not in result.output
    assert "MRN-4242" not in (tmp_path / "out" / "cohort-summary.json").read_text("utf-8")
    assert "MRN-4242" not in (tmp_path / "out" / "manifest.json").read_text("utf-8")


@pytest.mark.slow
def test_a_long_follow_up_stays_on_three_pages(run_reportgen, tmp_path):
    """Five visits × four sites with a device change and an excluded vertebra: the report
    shows each site's latest change (every interval stays in the JSON) on at most 3 pages."""
    header = (
        "patient_id,scan_date,site,bmd_g_cm2,yam_percent,age_matched_percent,t_score,"
        "z_score,device,excluded_vertebrae"
    )
    rows = [header]
    sites = (
        ("L1-L4", 0.712, 67),
        ("femoral_neck", 0.650, 82),
        ("total_hip", 0.742, 84),
        ("radius_1_3", 0.640, 88),
    )
    for visit, day in enumerate(
        ("2020-06-10", "2020-12-14", "2021-06-14", "2021-12-13", "2022-06-13")
    ):
        device = "Hologic Horizon A" if visit < 3 else "GE Lunar iDXA"
        for site, bmd, yam in sites:
            excluded = "L2" if site == "L1-L4" and visit == 4 else ""
            rows.append(
                f"2,{day},{site},{bmd * (1 + 0.03 * visit):.3f},{yam + 2 * visit},,"
                f"{-2.9 + 0.3 * visit:.1f},{-2.7 + 0.3 * visit:.1f},{device},{excluded}"
            )
    scans = tmp_path / "scans.csv"
    scans.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_reportgen("patient", INDEX_JSON, "--scans", scans, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    reader = pypdf.PdfReader(tmp_path / "out" / "patient-2.pdf")
    assert len(reader.pages) <= 3
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert "Each site's latest scan is shown" in text
    document = json.loads((tmp_path / "out" / "patient-2.json").read_text("utf-8"))
    assert len(document["follow_up"]) > 8  # every interval is still in the JSON


def test_no_scans_no_follow_up_context():
    from reportgen.followup_context import follow_up_context

    assert follow_up_context(None, {}, None) is None


def test_many_visits_show_the_first_and_the_latest_five(run_reportgen, tmp_path):
    """9,000 scan rows once made a 65 s, thousands-of-rows PDF; the table now shows the first
    visit and the latest five (the JSON keeps every scan)."""
    rows = ["patient_id,scan_date,site,bmd_g_cm2,yam_percent"]
    days = [f"{2000 + year}-06-10" for year in range(20)]
    rows += [f"2,{day},L1-L4,{0.700 + 0.002 * i:.3f},{67 + i % 5}" for i, day in enumerate(days)]
    scans = tmp_path / "scans.csv"
    scans.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = run_reportgen(
        "patient", INDEX_JSON, "--scans", scans, "-o", out, "--format", "html,json"
    )
    assert result.exit_code == 0, result.output
    html = (out / "patient-2.html").read_text("utf-8")
    table = html[html.index('<table class="data dxa-results">') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr") == 1 + 6
    for day in ("2000-06-10", *days[-5:]):
        assert day in table
    assert "2014-06-10" not in table
    assert "The first visit and the latest 5 of 20 are shown" in html
    document = json.loads((out / "patient-2.json").read_text("utf-8"))
    assert len(document["scans"]) == 20


def test_a_significant_decrease_stands_on_page_1_and_brings_the_dxa_forward(
    run_reportgen, tmp_path
):
    """A clinical review found ongoing loss beyond the LSC answered with "repeat in 12 months:
    bone usually recovers" and nothing on page 1."""
    scans = tmp_path / "scans.csv"
    scans.write_text(
        "patient_id,scan_date,site,bmd_g_cm2,yam_percent\n"
        "2,2020-06-10,L1-L4,0.800,75\n2,2020-12-14,L1-L4,0.740,69\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = run_reportgen(
        "patient", INDEX_JSON, "--scans", scans, "-o", out, "--format", "json,html"
    )
    assert result.exit_code == 0, result.output
    document = json.loads((out / "patient-2.json").read_text("utf-8"))
    (statement,) = [
        s for s in document["page1_statements"] if s["id"] == "dxa_significant_decrease"
    ]
    assert statement["text"].startswith(
        "Significant decrease beyond the LSC at the latest scan: L1–L4 −7.5 % since 2020-06-10 "
        "(LSC 5.3 %)"
    )
    assert "repeat the DXA sooner" in statement["text"]
    # the main row's YAM (67 %) is in neither scan (75, 69): said, the scans decide
    (main,) = [s for s in document["page1_statements"] if s["id"] == "main_yam_not_in_scans"]
    assert main["text"].startswith("The main input's YAM 67 % matches no scan; the scans decide")
    texts = document["recommendation_texts"]
    follow_up = next(t for t in texts if t["id"] == "dxa_follow_up")
    assert follow_up["text"].startswith("Repeat the DXA sooner than the usual 12 months")
