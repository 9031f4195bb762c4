"""``reportgen patient --format json``: each patient's contract JSON and the manifest, the
seed's answers through the CLI, a changed rule set named in every output, invalid rows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import DATA, INDEX_JSON, SAMPLE_CSV

from reportgen.rules import load_rules

CONTRACT_KEYS = {
    "patient_id",
    "classification",
    "risk_flags",
    "not_assessed",
    "recommendations",
    "iscd_statement",
    "rules_version",
    "bmi_kg_m2",
    "mgso4_days",
    "mgso4_total_g",
    "yam_percent",
}


def _run(run_reportgen, tmp_path: Path, input_path: Path, *extra: str, name: str = "out"):
    outdir = tmp_path / name
    result = run_reportgen(
        "patient", input_path, "-o", outdir, "--format", "json", "--workers", "1", *extra
    )
    return result, outdir


def _patients(outdir: Path) -> dict[str, dict]:
    documents = [json.loads(p.read_text("utf-8")) for p in sorted(outdir.glob("patient-*.json"))]
    return {d["patient_id"]: d for d in documents}


def _manifest(outdir: Path) -> dict:
    return json.loads((outdir / "manifest.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def seed_run(run_reportgen, tmp_path_factory):
    """The sample rendered once as JSON with the shipped rules."""
    result, outdir = _run(run_reportgen, tmp_path_factory.mktemp("seed"), SAMPLE_CSV)
    assert result.exit_code == 0, result.output
    return outdir


def test_seed_json_files_and_manifest(seed_run):
    manifest = _manifest(seed_run)
    rules = load_rules()
    assert manifest["rules_version"] == rules.version
    assert manifest["rules_name"] == rules.name
    assert manifest["errors"] == []
    assert {"schema_version", "tool_version", "rules_version", "files", "errors"} <= set(manifest)
    assert sorted(f["patient_id"] for f in manifest["files"]) == [str(i) for i in range(1, 10)]
    for entry in manifest["files"]:
        assert (entry["kind"], entry["format"]) == ("patient", "json")
        data = (seed_run / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    visible = [p.name for p in seed_run.iterdir() if not p.name.startswith(".")]
    assert sorted(visible) == sorted(
        [f"patient-{i}.json" for i in range(1, 10)] + ["manifest.json"]
    )
    assert not list(seed_run.glob(".tmp-*"))  # no half-written file left behind


def test_seed_json_contract_keys(seed_run):
    for document in _patients(seed_run).values():
        assert CONTRACT_KEYS <= set(document)
        assert document["rules_version"] == load_rules().version
        assert document["iscd_statement"] is None  # no z_score column in the sample
        assert not set(document["risk_flags"]) & set(document["not_assessed"])


def test_seed_classification_and_mgso4_flags_through_cli(seed_run):
    patients = _patients(seed_run)
    assert {k: v["classification"] for k, v in patients.items()} == {
        "1": "osteoporosis",
        "2": "osteoporosis",
        "3": "low_bone_mass",
        "4": "low_bone_mass",
        "5": "normal",
        "6": "normal",
        "7": "normal",
        "8": "normal",
        "9": "normal",
    }
    assert all("mgso4_long_term" in p["risk_flags"] for p in patients.values())
    high = {k for k, v in patients.items() if "mgso4_high_cumulative_dose" in v["risk_flags"]}
    assert high == {"1", "2", "3", "4", "5", "9"}


def test_seed_not_assessed_is_listed_not_dropped(seed_run):
    """The sample has no vitamin D, bed rest, breastfeeding, glucocorticoid or heparin."""
    for document in _patients(seed_run).values():
        assert set(document["not_assessed"]) == {
            "vitamin_d_deficiency",
            "prolonged_bed_rest",
            "lactation",
            "glucocorticoid",
            "heparin",
        }
        states = {r["id"]: r["state"] for r in document["rule_results"]}
        assert {k for k, v in states.items() if v == "not_assessed"} == set(
            document["not_assessed"]
        )
        assert {k for k, v in states.items() if v == "present"} == set(document["risk_flags"])


def test_seed_patient_2_explanation(seed_run):
    document = _patients(seed_run)["2"]
    dose = next(r for r in document["rule_results"] if r["id"] == "mgso4_high_cumulative_dose")
    assert dose["state"] == "present"
    assert dose["explanation"] == "cumulative MgSO4 3,756 g > 1,000 g"
    assert dose["caveat"]
    assert document["plo"] is True
    assert document["plo_note"]


def test_seed_recommendations_for_osteoporosis_with_lactation_unknown(seed_run):
    document = _patients(seed_run)["1"]
    # v2: feeding status not recorded -> ask, never "discuss weaning" on an assumption
    assert {
        "specialist_referral",
        "ask_about_breastfeeding",
        "bisphosphonate_caution",
        "monitor_calcium_in_future_tocolysis",
    } <= set(document["recommendations"])
    assert "consider_weaning" not in document["recommendations"]
    normal = _patients(seed_run)["8"]
    assert normal["recommendations"] == [
        "monitor_calcium_during_tocolysis",
        "monitor_calcium_in_future_tocolysis",
    ]


def test_dose_threshold_1500_changes_exactly_cases_1_4_9(run_reportgen, tmp_path, seed_run):
    rules_file = tmp_path / "dose-1500.toml"
    rules_file.write_text("[risk.mgso4_high_cumulative_dose]\nthreshold = 1500\n", "utf-8")
    result, outdir = _run(run_reportgen, tmp_path, SAMPLE_CSV, "--rules", str(rules_file))
    assert result.exit_code == 0, result.output
    before, after = _patients(seed_run), _patients(outdir)
    changed = {
        pid: set(before[pid]["risk_flags"]) ^ set(after[pid]["risk_flags"]) for pid in before
    }
    assert {pid: c for pid, c in changed.items() if c} == {
        "1": {"mgso4_high_cumulative_dose"},
        "4": {"mgso4_high_cumulative_dose"},
        "9": {"mgso4_high_cumulative_dose"},
    }
    for pid in before:
        assert after[pid]["classification"] == before[pid]["classification"]
    # Every output names the rule set and the version it used.
    custom = load_rules(rules_file)
    assert custom.version != load_rules().version
    assert {d["rules_version"] for d in after.values()} == {custom.version}
    assert {d["rules_name"] for d in after.values()} == {custom.name}
    assert _manifest(outdir)["rules_version"] == custom.version
    assert _manifest(outdir)["rules_name"] == custom.name
    dose = next(r for r in after["9"]["rule_results"] if r["id"] == "mgso4_high_cumulative_dose")
    assert dose["explanation"] == "cumulative MgSO4 1,488 g ≤ 1,500 g"


def test_criteria_option_reaches_the_json(run_reportgen, tmp_path, write_csv):
    path = write_csv([["p1", "30", "21", "20", "900", "70.0", "no"]])
    _, default = _run(run_reportgen, tmp_path, path, name="a")
    _, older = _run(run_reportgen, tmp_path, path, "--criteria", "jos2000", name="b")
    assert _patients(default)["p1"]["classification"] == "osteoporosis"
    assert _patients(older)["p1"]["classification"] == "low_bone_mass"
    assert _patients(older)["p1"]["criteria"] == "jos2000"


def test_index_case_json_with_derived_mgso4(run_reportgen, tmp_path):
    infusions = json.loads(INDEX_JSON.read_text("utf-8"))["infusions"]
    result, outdir = _run(run_reportgen, tmp_path, INDEX_JSON)
    assert result.exit_code == 0, result.output
    document = _patients(outdir)["2"]
    assert document["mgso4_days"] == 85
    assert round(document["mgso4_total_g"]) == 3756
    assert round(document["mgso4_total_g"]) == round(
        sum(i["rate_g_per_h"] * (_hours(i["start"], i["end"])) for i in infusions)
    )
    assert set(document["derived"]) == {"mgso4_days", "mgso4_total_g"}
    assert document["classification"] == "osteoporosis"
    assert {"lactation", "mgso4_long_term", "mgso4_high_cumulative_dose", "smoking"} <= set(
        document["risk_flags"]
    )
    # the index case's betamethasone was the antenatal course, not systemic therapy (v2)
    assert document["input"]["antenatal_corticosteroid"] is True
    assert "glucocorticoid" in document["not_assessed"]
    assert "consider_weaning" in document["recommendations"]
    assert document["source"]["row"] == 1


def _hours(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 3600


def test_derived_bmi_is_marked(run_reportgen, tmp_path):
    result, outdir = _run(run_reportgen, tmp_path, DATA / "height_weight.csv")
    assert result.exit_code == 0, result.output
    document = _patients(outdir)["hw1"]
    assert document["bmi_kg_m2"] == pytest.approx(47 / 1.6**2, abs=0.005)  # 18.36
    assert document["derived"] == ["bmi_kg_m2"]
    assert "low_bmi" in document["risk_flags"]


def test_z_score_gives_iscd_statement_and_no_who_label(run_reportgen, tmp_path, write_csv):
    header = [
        "patient_id",
        "age_years",
        "bmi_kg_m2",
        "mgso4_days",
        "mgso4_total_g",
        "yam_percent",
        "fracture",
        "z_score",
        "t_score",
    ]
    path = write_csv(
        [
            ["z1", "30", "21", "3", "90", "72", "no", "-2.0", "-2.6"],
            ["z2", "30", "21", "3", "90", "72", "no", "-1.9", "-2.6"],
        ],
        header,
    )
    result, outdir = _run(run_reportgen, tmp_path, path)
    assert result.exit_code == 0, result.output
    patients = _patients(outdir)
    assert patients["z1"]["iscd_statement"] == "below_expected_range_for_age"
    assert patients["z2"]["iscd_statement"] == "within_expected_range_for_age"
    for document in patients.values():
        text = json.dumps(document).lower()
        assert "osteopenia" not in text  # never a WHO T-score label for these patients


def test_invalid_rows_get_no_report_valid_rows_do(run_reportgen, tmp_path):
    path = DATA / "many_problems.csv"
    result, outdir = _run(run_reportgen, tmp_path, path)
    assert result.exit_code == 1
    assert sorted(_patients(outdir)) == ["p2", "p3"]  # rows 3 and 4 are the valid ones
    errors = _manifest(outdir)["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [
        (2, "fracture"),
        (2, "yam_percent"),
        (5, "age_years"),
        (6, "patient_id"),
    ]
    assert all(e["input"] == str(path) for e in errors)
    assert any(  # located on stderr; the wording is pinned in test_validation.py
        line.startswith(f"{path}:5:age_years: ") for line in result.stderr.splitlines()
    )


def test_duplicate_column_gives_no_report(run_reportgen, tmp_path, write_csv):
    header = [
        "patient_id",
        "age_years",
        "bmi_kg_m2",
        "mgso4_days",
        "mgso4_total_g",
        "YAM (%)",
        "fracture",
        "yam_percent",
    ]
    path = write_csv([["d1", "30", "21", "9", "900", "85", "no", "65"]], header)
    result, outdir = _run(run_reportgen, tmp_path, path)
    assert result.exit_code == 1
    assert _patients(outdir) == {}
    assert [(e["row"], e["column"]) for e in _manifest(outdir)["errors"]] == [(1, "yam_percent")]


def test_unknown_columns_never_reach_the_json(run_reportgen, tmp_path):
    result, outdir = _run(run_reportgen, tmp_path, DATA / "unknown_column.csv")
    assert result.exit_code == 0, result.output
    for document in _patients(outdir).values():
        assert "blue" not in json.dumps(document)
        assert "favourite_colour" not in document["input"]


def test_selected_ids_only(run_reportgen, tmp_path):
    result, outdir = _run(run_reportgen, tmp_path, SAMPLE_CSV, "--id", "2", "--id", "9")
    assert result.exit_code == 0, result.output
    assert sorted(_patients(outdir)) == ["2", "9"]


def test_existing_files_are_not_replaced(run_reportgen, tmp_path):
    result, outdir = _run(run_reportgen, tmp_path, SAMPLE_CSV, "--id", "2")
    assert result.exit_code == 0
    before = (outdir / "patient-2.json").read_bytes()
    again, _ = _run(run_reportgen, tmp_path, SAMPLE_CSV, "--id", "2", "--criteria", "jos2000")
    assert again.exit_code == 1
    assert "already exist" in again.stderr
    assert (outdir / "patient-2.json").read_bytes() == before


@pytest.mark.slow
def test_reproducible_with_source_date_epoch(run_reportgen, tmp_path):
    """Two runs with the same SOURCE_DATE_EPOCH (set by ``run_reportgen``): the same bytes."""
    _, first = _run(run_reportgen, tmp_path, SAMPLE_CSV, name="one")
    _, second = _run(run_reportgen, tmp_path, SAMPLE_CSV, name="two")
    for path in first.iterdir():
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name
