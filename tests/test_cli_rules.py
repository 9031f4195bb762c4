"""``reportgen rules``: the rule set in force, readable and as JSON; a bad ``--rules`` file is
a one-line error with exit 1."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLE_CSV

from reportgen.cli import cli

CONTRACT_RULE_IDS = {
    "mgso4_long_term",
    "mgso4_high_cumulative_dose",
    "low_bmi",
    "smoking",
    "family_history",
    "vitamin_d_deficiency",
    "prolonged_bed_rest",
    "lactation",
    "glucocorticoid",
    "heparin",
}


def _ok(result):
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    return result


def test_rules_text_lists_ids_conditions_and_evidence(runner, rules):
    out = _ok(runner.invoke(cli, ["rules"])).stdout
    assert out.startswith(
        f"Rule set {rules.name} {rules.version} (criteria jos2012; "
        "clinical-rules v2 (2026-11-30))\n"
    )
    for rule in rules.risk_rules:
        assert f"{rule.rule_id}" in out
        assert f"present when {rule.condition}" in out
        assert f"evidence: {rule.evidence}" in out
    assert "present when mgso4_total_g > 1,000 g" in out
    assert "caveat: " in out  # the dose rule is labelled a hypothesis
    assert "YAM ≤ 70 %" in out
    assert "YAM < 80 %" in out
    for rec in rules.recommendations:
        assert rec.rec_id in out


def test_rules_json_parses_and_has_every_contract_id(runner, rules):
    data = json.loads(_ok(runner.invoke(cli, ["rules", "--json"])).stdout)
    assert {r["id"] for r in data["risk_rules"]} == CONTRACT_RULE_IDS
    assert (data["name"], data["version"], data["criteria"]) == (
        rules.name,
        rules.version,
        "jos2012",
    )
    for rule in data["risk_rules"]:
        assert rule["evidence"]
        assert rule["condition"]
        assert rule["label"]
    dose = next(r for r in data["risk_rules"] if r["id"] == "mgso4_high_cumulative_dose")
    assert (dose["operator"], dose["threshold"], dose["unit"]) == (">", 1000, "g")
    assert data["bone_status"]["yam_osteoporosis_max_pct"] == 70
    assert data["bone_status"]["yam_normal_min_pct"] == 80
    assert data["iscd"]["z_below_expected_max"] == -2.0
    assert {r["id"] for r in data["recommendations"]} >= {"specialist_referral", "consider_weaning"}


def test_rules_with_override_file(runner, tmp_path):
    path = tmp_path / "dose.toml"
    path.write_text("[risk.mgso4_high_cumulative_dose]\nthreshold = 1500\n", encoding="utf-8")
    text = _ok(runner.invoke(cli, ["rules", "--rules", str(path)])).stdout
    assert "present when mgso4_total_g > 1,500 g" in text
    assert "+local." in text.splitlines()[0]  # the version says the rules were changed
    data = json.loads(_ok(runner.invoke(cli, ["rules", "--rules", str(path), "--json"])).stdout)
    dose = next(r for r in data["risk_rules"] if r["id"] == "mgso4_high_cumulative_dose")
    assert dose["threshold"] == 1500
    assert data["version"].startswith(
        json.loads(runner.invoke(cli, ["rules", "--json"]).stdout)["version"] + "+local."
    )


def test_rules_criteria_option(runner):
    data = json.loads(_ok(runner.invoke(cli, ["rules", "--criteria", "jos2000", "--json"])).stdout)
    assert data["criteria"] == "jos2000"
    assert "YAM < 70 %" in data["bone_status"]["osteoporosis"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[risk.mgso4_high_cumulative_dose]\nthreshhold = 1500\n",
            "unknown key 'risk.mgso4_high_cumulative_dose.threshhold'",
        ),
        (
            "[risk.mgso4_high_cumulative_dose]\nthreshold = -1500\n",
            "'risk.mgso4_high_cumulative_dose.threshold' must not be negative (-1500)",
        ),
        (
            "[bone_status]\nyam_osteoporosis_max_pct = 85\n",
            "need 20 <= bone_status.yam_osteoporosis_max_pct (85) < bone_status.yam_normal_min_pct "
            "(80) <= 150 (the plausible YAM range)",
        ),
        (
            '[risk.mgso4_high_cumulative_dose]\nthreshold = "high"\n',
            "'risk.mgso4_high_cumulative_dose.threshold' must be a number, not 'high'",
        ),
        ("not toml at all", None),
    ],
)
def test_rules_bad_file_is_one_line_exit_1(runner, tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    for args in (["rules", "--rules", str(path)], ["rules", "--rules", str(path), "--json"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith(f"Error: {path}: ")
        if message:
            assert result.stderr == f"Error: {path}: {message}\n"


def test_rules_missing_file_is_exit_1(runner, tmp_path):
    result = runner.invoke(cli, ["rules", "--rules", str(tmp_path / "absent.toml")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "cannot read rules file" in result.stderr


def test_bad_rules_file_refuses_patient_run(runner, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[risk.low_bmi]\nthreshold = -1\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(
        cli,
        [
            "patient",
            str(SAMPLE_CSV),
            "-o",
            str(out),
            "--format",
            "json",
            "--rules",
            str(path),
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr == f"Error: {path}: 'risk.low_bmi.threshold' must not be negative (-1)\n"
    assert not out.exists()  # nothing written
