"""The rule set: shipped as data with a name, version and evidence; overridable in part by a
TOML/JSON file; anything unknown or nonsensical in that file is a RulesError."""

from __future__ import annotations

import json
import re

import pytest

from reportgen.errors import RulesError
from reportgen.rules import load_rules

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
# contract.md §3 (v2)
RECOMMENDATION_IDS = {
    "specialist_referral",
    "consider_weaning",
    "ask_about_breastfeeding",
    "calcium_vitamin_d",
    "nutrition_guidance",
    "rehabilitation",
    "dxa_follow_up",
    "secondary_cause_workup",
    "bisphosphonate_caution",
    "monitor_calcium_in_future_tocolysis",
    # contract §5 (v2): before the DXA, back pain, labs
    "plan_postpartum_dxa",
    "monitor_calcium_during_tocolysis",
    "vertebral_fracture_imaging",
    "correct_abnormal_labs",
}


def _write(tmp_path, text: str, name: str = "rules.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_rules_identity(rules):
    assert rules.name == "reportgen-plo-default"
    assert re.fullmatch(r"\d{4}\.\d+\.\d+", rules.version)
    assert rules.criteria == "jos2012"
    assert rules.label == f"{rules.name} {rules.version} (jos2012)"
    assert len(rules.digest) == 64


def test_default_rules_have_every_contract_id_with_evidence(rules):
    assert {r.rule_id for r in rules.risk_rules} == CONTRACT_RULE_IDS
    assert {r.rec_id for r in rules.recommendations} == RECOMMENDATION_IDS
    for rule in rules.risk_rules:
        assert rule.evidence.strip()
        assert rule.label.strip()
    assert "Soen" in rules.bone_evidence
    assert "ISCD" in rules.iscd_evidence


@pytest.mark.parametrize(
    ("rule_id", "condition"),
    [
        ("mgso4_long_term", "mgso4_days > 8 days"),
        ("mgso4_high_cumulative_dose", "mgso4_total_g > 1,000 g"),
        ("low_bmi", "bmi_kg_m2 < 18.5 kg/m²"),
        ("smoking", "smoking ≠ never"),
        ("family_history", "family_history = yes"),
        ("vitamin_d_deficiency", "vitamin_d_ng_ml < 20 ng/mL"),
        ("prolonged_bed_rest", "bed_rest_days > 14 days"),
        ("lactation", "breastfeeding = yes"),
        ("glucocorticoid", "glucocorticoid = yes"),
        ("heparin", "heparin = yes"),
    ],
)
def test_default_conditions_match_clinical_rules(rules, rule_id, condition):
    """clinical-rules.md §3, written out here rather than read from the rule file."""
    assert rules.risk_rule(rule_id).condition == condition


def test_default_bone_thresholds(rules):
    assert (rules.yam_osteoporosis_max_pct, rules.yam_normal_min_pct) == (70.0, 80.0)
    assert rules.z_below_expected_max == -2.0


def test_dose_hypothesis_is_labelled_as_such(rules):
    assert "hypothesis" in rules.risk_rule("mgso4_high_cumulative_dose").caveat.lower()


def test_criteria_parameter(rules_jos2000):
    assert rules_jos2000.criteria == "jos2000"
    with pytest.raises(RulesError, match="criteria must be one of jos2012, jos2000"):
        load_rules(criteria="who1994")


def test_override_changes_only_what_it_names(tmp_path, rules):
    path = _write(tmp_path, "[risk.mgso4_high_cumulative_dose]\nthreshold = 1500\n")
    custom = load_rules(path)
    assert custom.risk_rule("mgso4_high_cumulative_dose").threshold == 1500
    assert (
        custom.risk_rule("mgso4_high_cumulative_dose").evidence
        == rules.risk_rule("mgso4_high_cumulative_dose").evidence
    )
    for rule in rules.risk_rules:
        if rule.rule_id != "mgso4_high_cumulative_dose":
            assert custom.risk_rule(rule.rule_id) == rule
    assert custom.name == rules.name
    # A local change is named as such: the shipped version plus a digest of the override.
    assert re.fullmatch(re.escape(rules.version) + r"\+local\.[0-9a-f]{8}", custom.version)
    assert custom.digest != rules.digest


def test_override_version_is_stable_and_distinct(tmp_path):
    a = load_rules(_write(tmp_path, "[risk.mgso4_high_cumulative_dose]\nthreshold = 1500\n"))
    b = load_rules(
        _write(tmp_path, "[risk.mgso4_high_cumulative_dose]\nthreshold = 1500\n", "again.toml")
    )
    c = load_rules(
        _write(tmp_path, "[risk.mgso4_high_cumulative_dose]\nthreshold = 2000\n", "other.toml")
    )
    assert a.version == b.version != c.version


def test_override_name_and_version_given(tmp_path):
    path = _write(
        tmp_path,
        'name = "hospital-x"\nversion = "3"\ncriteria = "jos2000"\n'
        "[bone_status]\nyam_normal_min_pct = 78\n",
    )
    custom = load_rules(path)
    assert (custom.name, custom.version, custom.criteria) == ("hospital-x", "3", "jos2000")
    assert custom.yam_normal_min_pct == 78


@pytest.mark.parametrize(
    "name",
    [
        "reportgen\u2011plo\u2011default",  # non-breaking hyphens: reads as the shipped name
        "Reportgen PLO Default",
        "my-rules",  # renamed, but keeping the shipped version number
    ],
)
def test_a_look_alike_or_renamed_override_with_the_shipped_version_is_local(tmp_path, rules, name):
    """Once a look-alike name kept the shipped version and dropped the high-dose flag."""
    path = _write(
        tmp_path, f'name = "{name}"\n[risk.mgso4_high_cumulative_dose]\nthreshold = 5000\n'
    )
    custom = load_rules(path)
    assert re.fullmatch(re.escape(rules.version) + r"\+local\.[0-9a-f]{8}", custom.version)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('name = "reportgen-plo-default\u200b"\n', "name"),  # zero-width space
        ('name = ""\n', "name"),
        ('version = " "\n', "version"),
        ('version = "1\u202e2"\n', "version"),  # right-to-left override
    ],
)
def test_hidden_or_empty_rule_set_names_are_refused(tmp_path, body, key):
    path = _write(tmp_path, body + "[risk.low_bmi]\nthreshold = 18\n")
    with pytest.raises(RulesError, match=f"{re.escape(str(path))}: {key} must be non-empty text"):
        load_rules(path)


def test_override_json_file(tmp_path):
    path = _write(tmp_path, json.dumps({"risk": {"low_bmi": {"threshold": 18}}}), "r.json")
    assert load_rules(path).risk_rule("low_bmi").threshold == 18


def test_override_may_add_optional_keys_to_any_entry(tmp_path):
    """caveat/flags exist only on some shipped entries but are valid on every one."""
    path = _write(
        tmp_path,
        '[risk.low_bmi]\ncaveat = "local audit"\n'
        '[recommendations.dxa_follow_up]\nflags = ["low_bmi"]\n',
    )
    custom = load_rules(path)
    assert custom.risk_rule("low_bmi").caveat == "local audit"
    assert next(r for r in custom.recommendations if r.rec_id == "dxa_follow_up").flags == (
        "low_bmi",
    )


def test_criteria_argument_overrides_file(tmp_path):
    path = _write(tmp_path, 'criteria = "jos2000"\n')
    assert load_rules(path, criteria="jos2012").criteria == "jos2012"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[risk.mgso4_high_cumulative_dose]\nthreshhold = 1500\n",
            "unknown key 'risk.mgso4_high_cumulative_dose.threshhold'",
        ),
        ("colour = 'red'\n", "unknown key 'colour'"),
        ("[risk.coffee]\nthreshold = 3\n", "unknown key 'risk.coffee'"),
        ("[bone_status]\nyam_low_pct = 75\n", "unknown key 'bone_status.yam_low_pct'"),
        ("[recommendations.yoga]\ntext = 'yoga'\n", "unknown key 'recommendations.yoga'"),
        (
            "[risk.lactation]\nthreshold = 1\n",
            "'risk.lactation.threshold' has no meaning for a yes/no rule",
        ),
    ],
)
def test_unknown_keys_are_errors(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(RulesError, match=f"^{re.escape(f'{path}: {message}')}$"):
        load_rules(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[risk.mgso4_high_cumulative_dose]\nthreshold = -1000\n",
            "'risk.mgso4_high_cumulative_dose.threshold' must not be negative (-1000)",
        ),
        (
            "[risk.mgso4_long_term]\nthreshold = -1\n",
            "'risk.mgso4_long_term.threshold' must not be negative (-1)",
        ),
        (
            '[risk.mgso4_high_cumulative_dose]\nthreshold = "1,500 g"\n',
            "'risk.mgso4_high_cumulative_dose.threshold' must be a number, not '1,500 g'",
        ),
        (
            "[risk.low_bmi]\nthreshold = true\n",
            "'risk.low_bmi.threshold' must be a number, not True",
        ),
        (
            "[risk.low_bmi]\nthreshold = nan\n",
            "'risk.low_bmi.threshold' must be a finite number, not nan",
        ),
        (
            "[risk.low_bmi]\nthreshold = 185\n",
            "'risk.low_bmi.threshold' 185 is outside the plausible range of bmi_kg_m2 (12–60)",
        ),
        ("[risk.smoking]\nthreshold = 0\n", "'risk.smoking.threshold' must be text, not 0"),
        (
            "[bone_status]\nyam_osteoporosis_max_pct = 80\n",
            "need 20 <= bone_status.yam_osteoporosis_max_pct (80) < bone_status.yam_normal_min_pct "
            "(80) <= 150 (the plausible YAM range)",
        ),
        (
            "[bone_status]\nyam_normal_min_pct = 65\n",
            "need 20 <= bone_status.yam_osteoporosis_max_pct (70) < bone_status.yam_normal_min_pct "
            "(65) <= 150 (the plausible YAM range)",
        ),
        (
            '[bone_status]\nyam_normal_min_pct = "80"\n',
            "'bone_status.yam_normal_min_pct' must be a number, not '80'",
        ),
        (
            "[data_quality]\nmgso4_max_g_per_day = 0\n",
            "'data_quality.mgso4_max_g_per_day' 0 is outside 1–500",
        ),
        ("version = 2\n", "'version' must be text, not 2"),
        ('criteria = "who"\n', "criteria must be one of jos2012, jos2000, not 'who'"),
        (
            '[risk.low_bmi]\noperator = "=<"\n',
            "'risk.low_bmi.operator' must be one of > >= < <= != is_true",
        ),
        ('[risk.low_bmi]\ninput = "bmi"\n', "'risk.low_bmi.input' 'bmi' is not an input column"),
        (
            '[risk.heparin]\noperator = ">"\nthreshold = 1\n',
            "'risk.heparin.operator' '>' does not fit heparin (boolean)",
        ),
        (
            '[recommendations.dxa_follow_up]\nstatuses = "osteoporosis"\n',
            "'recommendations.dxa_follow_up.statuses' must be a list of text, not 'osteoporosis'",
        ),
        (
            '[recommendations.dxa_follow_up]\nstatuses = ["osteopenia"]\n',
            "'recommendations.dxa_follow_up.statuses' has 'osteopenia'; use normal, low_bone_mass, "
            "osteoporosis, not_measured",
        ),
        (
            '[recommendations.consider_weaning]\nrequires_flag = "breastfeeding"\n',
            "'recommendations.consider_weaning' names 'breastfeeding', which is not a risk rule id",
        ),
        ("risk = 3\n", "'risk' must be a table"),
    ],
)
def test_nonsensical_values_are_errors(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(RulesError, match=f"^{re.escape(f'{path}: {message}')}$"):
        load_rules(path)


@pytest.mark.parametrize(
    ("content", "name", "start"),
    [
        ("threshold = = 3", "bad.toml", "not valid TOML: "),
        ("{not json", "bad.json", "not valid JSON: "),
        ("[1, 2]", "list.json", "a rules file must be a table of keys"),
    ],
)
def test_unreadable_rules_files(tmp_path, content, name, start):
    path = _write(tmp_path, content, name)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"{path}: {start}")


def test_missing_rules_file(tmp_path):
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules(tmp_path / "absent.toml")


def test_default_rules_are_specification_v2(rules):
    assert rules.data["specification"].startswith("clinical-rules v2")
    assert rules.t_osteoporosis_max == -2.5
    assert rules.secondary_cause_rules == ("heparin", "glucocorticoid", "prolonged_bed_rest")


@pytest.mark.parametrize(
    ("content", "start"),
    [
        (
            '[recommendations.dxa_follow_up]\nfacts = ["weather"]\n',
            "'recommendations.dxa_follow_up' names 'weather', which is not a fact",
        ),
        (
            '[recommendations.dxa_follow_up]\nvariants = [{ when = "breastfeeding" }]\n',
            "'recommendations.dxa_follow_up.variants' entries must be tables",
        ),
        (
            '[secondary_causes]\nrules = ["smoking_x"]\n',
            "'secondary_causes.rules' names 'smoking_x'",
        ),
        ("[bone_status]\nt_score_osteoporosis_max = -0.5\n", "need -8 <= bone_status.t_score"),
    ],
)
def test_v2_override_errors(tmp_path, content, start):
    path = _write(tmp_path, content)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"{path}: {start}")


# --- one definition of each fact (issue 18) ------------------------------------------------


def test_rule_ids_are_the_rule_files_in_its_order(rules):
    """``RuleSet.rule_ids`` is the rule file's ``[risk.*]`` tables, in the file's order."""
    import tomllib
    from importlib import resources

    text = resources.files("reportgen.rules").joinpath("default.toml").read_text("utf-8")
    assert rules.rule_ids == tuple(tomllib.loads(text)["risk"])
    assert set(rules.rule_ids) == CONTRACT_RULE_IDS


def test_rules_json_lists_the_rule_sets_ids_in_order(rules):
    """``reportgen rules --json`` derives its ids from the rule set, in its order."""
    from click.testing import CliRunner

    from reportgen.cli import cli

    result = CliRunner().invoke(cli, ["rules", "--json"])
    assert result.exit_code == 0, result.output
    assert tuple(r["id"] for r in json.loads(result.stdout)["risk_rules"]) == rules.rule_ids


def test_cohort_flag_counts_follow_the_rule_sets_ids(rules):
    """The cohort summary's risk_flag_counts are keyed by the rule set's ids, in its order."""
    import pandas as pd

    from reportgen.summary import summarise_cohort

    frame = pd.DataFrame({"classification": ["normal"], "flag_low_bmi": ["present"]})
    counts = summarise_cohort(frame, rules)["risk_flag_counts"]
    assert tuple(counts) == rules.rule_ids
    assert counts["low_bmi"] == {"present": 1, "absent": 0, "not_assessed": 0}


def test_threshold_reads_the_numeric_threshold(rules, tmp_path):
    assert rules.threshold("mgso4_high_cumulative_dose") == 1000.0
    assert rules.threshold("mgso4_long_term") == 8.0
    path = _write(tmp_path, "[risk.mgso4_high_cumulative_dose]\nthreshold = 1200\n")
    assert load_rules(path).threshold("mgso4_high_cumulative_dose") == 1200.0
    with pytest.raises(TypeError, match="smoking"):
        rules.threshold("smoking")  # text threshold ("never")


def test_seed_threshold_is_the_shipped_one(rules, tmp_path):
    """The seed-hypothesis caveats hold for the shipped threshold only, and print its value."""
    from reportgen.rules.seed import is_seed_threshold, seed_threshold_caveat

    assert is_seed_threshold(rules.threshold("mgso4_high_cumulative_dose"))
    assert not is_seed_threshold(1200.0)
    assert seed_threshold_caveat(rules).startswith("The 1,000 g cumulative-dose threshold")
    path = _write(tmp_path, "[risk.mgso4_high_cumulative_dose]\nthreshold = 1200\n")
    assert seed_threshold_caveat(load_rules(path)) is None


def test_recommendation_statuses_are_the_bone_statuses(tmp_path):
    """A recommendation may name any BoneStatus value (including not_measured), nothing else."""
    from reportgen.models import BoneStatus

    path = _write(tmp_path, '[recommendations.dxa_follow_up]\nstatuses = ["not_measured"]\n')
    assert load_rules(path).recommendations
    path = _write(tmp_path, '[recommendations.dxa_follow_up]\nstatuses = ["osteopenia"]\n', "b")
    with pytest.raises(RulesError) as error:
        load_rules(path)
    assert str(error.value).endswith(", ".join(s.value for s in BoneStatus))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (  # it flagged never-smokers and left smokers in pregnancy unflagged
            '[risk.smoking]\nthreshold = "during_pregnancy"\n',
            "'risk.smoking.threshold' for '!=' must be 'never'",
        ),
        ('[risk.smoking]\ninput = "notes"\n', "'risk.smoking.operator' '!=' does not fit notes"),
    ],
)
def test_a_smoking_override_cannot_invert_the_rule(tmp_path, body, message):
    with pytest.raises(RulesError, match=re.escape(message)):
        load_rules(_write(tmp_path, body))


@pytest.mark.parametrize(
    "body",
    [
        "[bone_status]\nyam_osteoporosis_max_pct = 69.99999999\n",
        "[risk.low_bmi]\nthreshold = 18.499\n",
    ],
)
def test_thresholds_with_more_decimals_than_printed_are_refused(tmp_path, body):
    """At 69.99999999 the badge read "Low bone mass" for YAM 70 under a bar printing "≤ 70 %"."""
    with pytest.raises(RulesError, match="has more than two decimals"):
        load_rules(_write(tmp_path, body))


def test_two_decimals_are_kept(tmp_path):
    assert (
        load_rules(_write(tmp_path, "[risk.low_bmi]\nthreshold = 18.49\n"))
        .risk_rule("low_bmi")
        .threshold
        == 18.49
    )
