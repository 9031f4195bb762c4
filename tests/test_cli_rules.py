"""``reportgen rules``: the rule set in force, readable and as JSON; a bad ``--rules`` file is
a one-line error with exit 1. The wording of each rules-file error is pinned in test_rules.py
(where it is made); here it must reach stderr unchanged, as ``Error: <the RulesError>``."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLE_CSV

from reportgen.errors import RulesError
from reportgen.rules import load_rules


def _ok(result):
    assert result.exit_code == 0, result.output
    return result


def _refusal(path) -> str:
    """What the CLI must print for a bad rules file: the library's message, one line."""
    with pytest.raises(RulesError) as refused:
        load_rules(path)
    return f"Error: {refused.value}\n"


def test_rules_text_lists_ids_conditions_and_evidence(run_reportgen, rules):
    out = _ok(run_reportgen("rules")).stdout
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


def test_rules_json_parses_and_has_every_rule(run_reportgen, rules):
    """Every rule of the set in force (the contract's ids are pinned in test_rules.py)."""
    data = json.loads(_ok(run_reportgen("rules", "--json")).stdout)
    assert [r["id"] for r in data["risk_rules"]] == [r.rule_id for r in rules.risk_rules]
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


def test_rules_with_override_file(run_reportgen, tmp_path):
    path = tmp_path / "dose.toml"
    path.write_text("[risk.mgso4_high_cumulative_dose]\nthreshold = 1500\n", encoding="utf-8")
    text = _ok(run_reportgen("rules", "--rules", path)).stdout
    assert "present when mgso4_total_g > 1,500 g" in text
    assert "+local." in text.splitlines()[0]  # the version says the rules were changed
    data = json.loads(_ok(run_reportgen("rules", "--rules", path, "--json")).stdout)
    dose = next(r for r in data["risk_rules"] if r["id"] == "mgso4_high_cumulative_dose")
    assert dose["threshold"] == 1500
    assert data["version"].startswith(
        json.loads(run_reportgen("rules", "--json").stdout)["version"] + "+local."
    )


def test_rules_criteria_option(run_reportgen):
    data = json.loads(_ok(run_reportgen("rules", "--criteria", "jos2000", "--json")).stdout)
    assert data["criteria"] == "jos2000"
    assert "YAM < 70 %" in data["bone_status"]["osteoporosis"]


@pytest.mark.parametrize(
    "text",
    [
        "[risk.mgso4_high_cumulative_dose]\nthreshhold = 1500\n",  # unknown key
        "[risk.mgso4_high_cumulative_dose]\nthreshold = -1500\n",  # negative
        "[bone_status]\nyam_osteoporosis_max_pct = 85\n",  # bands out of order
        '[risk.mgso4_high_cumulative_dose]\nthreshold = "high"\n',  # not a number
        "not toml at all",
    ],
    ids=["unknown-key", "negative", "bands", "not-a-number", "not-toml"],
)
def test_rules_bad_file_is_one_line_exit_1(run_reportgen, tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    for args in (["rules", "--rules", path], ["rules", "--rules", path, "--json"]):
        result = run_reportgen(*args)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.startswith(f"Error: {path}: ")
        assert result.stderr == _refusal(path)


def test_rules_missing_file_is_exit_1(run_reportgen, tmp_path):
    path = tmp_path / "absent.toml"
    result = run_reportgen("rules", "--rules", path)
    assert result.exit_code == 1
    assert result.stderr == _refusal(path)


def test_bad_rules_file_refuses_patient_run(run_reportgen, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[risk.low_bmi]\nthreshold = -1\n", encoding="utf-8")
    out = tmp_path / "out"
    result = run_reportgen(
        "patient", SAMPLE_CSV, "-o", out, "--format", "json", "--rules", path, "--workers", "1"
    )
    assert result.exit_code == 1
    assert result.stderr == _refusal(path)
    assert not out.exists()  # nothing written
