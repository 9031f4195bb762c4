"""Tests for reportgen.summary: the seed case series' figures, edge cases and properties."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from reportgen.rules import load_rules
from reportgen.summary import summarise_cohort

RULE_IDS = load_rules().rule_ids

pytestmark = pytest.mark.filterwarnings("error")

# Seed Table 1 (Iio et al., J Med Cases 2022): no, age, BMI, gravida, para, smoking,
# hospital days, MgSO4 days, cumulative dose (g), YAM (%), fracture.
SEED_ROWS = [
    (1, 20, 18.4, 1, 0, "never", 44, 37, 1260, 62, False),
    (2, 36, 22.5, 2, 1, "before_pregnancy", 97, 85, 3756, 67, True),
    (3, 34, 18.1, 1, 0, "never", 71, 58, 2484, 73, False),
    (4, 27, 20.8, 1, 0, "before_pregnancy", 63, 36, 1464, 75, False),
    (5, 41, 21.4, 3, 0, "never", 63, 57, 2556, 84, False),
    (6, 30, 20.9, 2, 1, "never", 28, 13, 336, 87, False),
    (7, 28, 21.9, 2, 1, "never", 33, 14, 168, 89, False),
    (8, 27, 25.4, 1, 0, "never", 11, 11, 456, 91, False),
    (9, 27, 19.9, 1, 0, "before_pregnancy", 71, 31, 1488, 99, False),
]
SEED_COLUMNS = [
    "patient_id",
    "age_years",
    "bmi_kg_m2",
    "gravida",
    "para",
    "smoking",
    "hospital_days",
    "mgso4_days",
    "mgso4_total_g",
    "yam_percent",
    "fracture",
]


def _seed() -> pd.DataFrame:
    df = pd.DataFrame(SEED_ROWS, columns=SEED_COLUMNS)
    df["patient_id"] = df["patient_id"].astype(str)
    for column in ("age_years", "bmi_kg_m2", "mgso4_days", "mgso4_total_g", "yam_percent"):
        df[column] = df[column].astype(float)
    for column in ("gravida", "para", "hospital_days"):
        df[column] = df[column].astype("Int64")
    df["family_history"] = pd.array([False] * 9, dtype="boolean")
    df["classification"] = ["osteoporosis"] * 2 + ["low_bone_mass"] * 2 + ["normal"] * 5
    df["flag_mgso4_long_term"] = "present"
    high = {1, 2, 3, 4, 5, 9}
    df["flag_mgso4_high_cumulative_dose"] = [
        "present" if i in high else "absent" for i in range(1, 10)
    ]
    df["flag_smoking"] = ["present" if s != "never" else "absent" for s in df["smoking"]]
    df["flag_family_history"] = "absent"
    return df


@pytest.fixture(scope="module")
def seed() -> dict:
    return summarise_cohort(_seed())


def _row(summary: dict, variable: str) -> dict:
    return next(r for r in summary["table1"]["rows"] if r["variable"] == variable)


def _assoc(summary: dict, name: str) -> dict:
    return next(a for a in summary["associations"] if a["name"] == name)


def _walk(value, key=None):
    """Yield (key, value) for every leaf of a nested dict/list."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value


# --- the seed's figures (clinical-rules.md §5) --------------------------------------------


def test_seed_counts(seed):
    assert seed["n"] == 9
    assert seed["classification_counts"] == {"normal": 5, "low_bone_mass": 2, "osteoporosis": 2}
    assert seed["unclassified"] == 0
    assert seed["low_bone_mass_or_worse"]["count"] == 4
    assert seed["low_bone_mass_or_worse"]["percent"] == pytest.approx(44.4, abs=0.05)
    assert seed["low_bone_mass_or_worse"]["percent"] == pytest.approx(400 / 9)


def test_seed_means_and_ranges(seed):
    assert seed["means"]["age_years"] == pytest.approx(30.0)
    assert seed["ranges"]["age_years"] == {"min": 20.0, "max": 41.0}
    assert seed["means"]["bmi_kg_m2"] == pytest.approx(21.03, abs=0.005)
    assert round(seed["means"]["bmi_kg_m2"], 1) == 21.0
    assert seed["means"]["mgso4_days"] == pytest.approx(38.0)
    assert seed["ranges"]["mgso4_days"] == {"min": 11.0, "max": 85.0}
    # The paper's 1,552 g: the nine doses sum to 13,968 g.
    assert seed["means"]["mgso4_total_g"] == pytest.approx(1552.0, abs=0.1)
    assert seed["ranges"]["mgso4_total_g"] == {"min": 168.0, "max": 3756.0}
    assert seed["sd"]["age_years"] == pytest.approx(np.std([r[1] for r in SEED_ROWS], ddof=1))
    assert seed["medians"]["yam_percent"] == 84.0
    assert all(v == 0 for v in seed["missing"].values())


def test_seed_low_yam_group(seed):
    group = seed["low_yam_group"]
    assert group["n"] == 4
    assert group["means"]["age_years"] == pytest.approx(29.25)
    # The paper prints 29.3 (29.25 rounded half up); the template does the rounding.
    assert group["means"]["bmi_kg_m2"] == pytest.approx(19.95)


def test_seed_spearman(seed):
    dose = _assoc(seed, "dose_vs_yam")
    assert dose["test"] == "Spearman rank correlation"
    assert dose["n"] == 9
    assert dose["statistic"] == pytest.approx(-0.42, abs=0.005)
    assert dose["p_value"] == pytest.approx(0.26, abs=0.01)
    assert "could be chance" in dose["sentence"]
    assert "ρ = −0.42" in dose["sentence"]
    assert "p = 0.26" in dose["sentence"]
    days = _assoc(seed, "days_vs_yam")
    assert days["statistic"] == pytest.approx(-0.75, abs=0.005)
    assert days["p_value"] == pytest.approx(0.02, abs=0.005)
    assert "cause" in days["sentence"]  # says it does not show cause


def test_seed_fisher(seed):
    fisher = _assoc(seed, "dose_above_threshold_vs_low_yam")
    assert fisher["test"] == "Fisher's exact test"
    assert fisher["table"]["counts"] == [[4, 2], [0, 3]]
    assert fisher["p_value"] == pytest.approx(0.17, abs=0.005)
    assert fisher["p_value"] == pytest.approx(stats.fisher_exact([[4, 2], [0, 3]]).pvalue)
    assert fisher["odds_ratio"] is None
    assert fisher["statistic"] is None
    assert "zero" in fisher["odds_ratio_note"]
    assert "not estimable" in fisher["sentence"]


def test_seed_risk_flags(seed):
    flags = seed["risk_flag_counts"]
    assert list(flags) == list(RULE_IDS)
    assert flags["mgso4_long_term"] == {"present": 9, "absent": 0, "not_assessed": 0}
    assert flags["mgso4_high_cumulative_dose"] == {"present": 6, "absent": 3, "not_assessed": 0}
    assert flags["smoking"]["present"] == 3
    assert flags["heparin"] == {"present": 0, "absent": 0, "not_assessed": 9}


def test_seed_dose_bands(seed):
    bands = seed["dose_bands"]["bands"]
    assert [b["label"] for b in bands] == ["< 500 g", "500–1,000 g", "> 1,000 g"]
    assert [b["n"] for b in bands] == [3, 0, 6]
    assert bands[0]["classification_counts"] == {"normal": 3, "low_bone_mass": 0, "osteoporosis": 0}
    assert bands[2]["classification_counts"] == {"normal": 2, "low_bone_mass": 2, "osteoporosis": 2}
    # The high band is the risk rule: same patients as flag_mgso4_high_cumulative_dose.
    assert bands[2]["n"] == seed["risk_flag_counts"]["mgso4_high_cumulative_dose"]["present"]
    assert bands[2]["above_threshold"]
    assert not bands[1]["above_threshold"]


def test_seed_table1(seed):
    table = seed["table1"]
    assert [(c["key"], c["n"]) for c in table["columns"]] == [
        ("overall", 9),
        ("normal", 5),
        ("low_bone_mass_or_worse", 4),
    ]
    age = _row(seed, "age_years")
    assert age["kind"] == "continuous"
    assert age["stats"]["low_bone_mass_or_worse"]["mean"] == pytest.approx(29.25)
    expected = stats.mannwhitneyu([41, 30, 28, 27, 27], [20, 36, 34, 27], alternative="two-sided")
    assert age["test"]["name"] == "Mann–Whitney U test"
    assert age["test"]["p_value"] == pytest.approx(expected.pvalue)
    smoking = _row(seed, "smoking")
    levels = {lv["level"]: lv["counts"] for lv in smoking["levels"]}
    assert levels["before_pregnancy"]["overall"] == {"count": 3, "percent": pytest.approx(100 / 3)}
    assert levels["before_pregnancy"]["low_bone_mass_or_worse"]["count"] == 2
    assert smoking["denominator"] == {"overall": 9, "normal": 5, "low_bone_mass_or_worse": 4}
    assert smoking["test"]["name"] == "Fisher's exact test"  # empty level dropped: 2 x 2
    assert smoking["test"]["p_value"] == pytest.approx(stats.fisher_exact([[4, 2], [1, 2]]).pvalue)
    parity = _row(seed, "parity")
    assert [lv["counts"]["overall"]["count"] for lv in parity["levels"]] == [6, 3]
    for variable in ("yam_percent", "fracture"):
        assert _row(seed, variable)["test"]["p_value"] is None
        assert _row(seed, variable)["test"]["reason"]
    assert any("n = 9" in c for c in table["cautions"])


# --- edge cases ---------------------------------------------------------------------------


def test_missing_values_counted_and_excluded():
    df = _seed()
    df.loc[[0, 1], "age_years"] = np.nan
    df["bmi_kg_m2"] = df["bmi_kg_m2"].astype(object)
    df.loc[2, "bmi_kg_m2"] = None
    df["smoking"] = df["smoking"].astype("string")
    df.loc[3, "smoking"] = pd.NA
    df["para"] = df["para"].astype("Int64")
    df.loc[4, "para"] = pd.NA
    out = summarise_cohort(df)
    assert out["missing"]["age_years"] == 2
    assert out["means"]["age_years"] == pytest.approx(np.mean([r[1] for r in SEED_ROWS[2:]]))
    assert out["missing"]["bmi_kg_m2"] == 1
    assert out["missing"]["para"] == 1
    age = _row(out, "age_years")["stats"]
    assert age["low_bone_mass_or_worse"]["missing"] == 2
    assert age["low_bone_mass_or_worse"]["mean"] == pytest.approx((34 + 27) / 2)
    smoking = _row(out, "smoking")
    assert smoking["missing"]["overall"] == 1
    assert smoking["denominator"]["overall"] == 8
    assert smoking["missing"]["low_bone_mass_or_worse"] == 1


def test_all_normal_cohort():
    df = _seed()
    df["classification"] = "normal"
    df["yam_percent"] = df["yam_percent"] + 40
    df["fracture"] = False
    out = summarise_cohort(df)
    assert out["low_bone_mass_or_worse"] == {"count": 0, "percent": 0.0}
    fisher = _assoc(out, "dose_above_threshold_vs_low_yam")
    assert fisher["p_value"] is None
    assert "YAM < 80" in fisher["reason"]
    assert fisher["table"]["counts"] == [[0, 6], [0, 3]]
    assert out["table1"]["columns"][2]["n"] == 0
    assert _row(out, "age_years")["test"]["reason"].startswith("no patient")
    assert _row(out, "age_years")["stats"]["low_bone_mass_or_worse"]["mean"] is None
    assert any("not compared" in c for c in out["table1"]["cautions"])
    json.dumps(out, allow_nan=False)


def test_single_patient():
    out = summarise_cohort(_seed().iloc[[1]])
    assert out["n"] == 1
    assert out["sd"]["age_years"] is None
    assert out["means"]["age_years"] == 36.0
    for name in ("dose_vs_yam", "days_vs_yam"):
        assert _assoc(out, name)["statistic"] is None
        assert "fewer than 3" in _assoc(out, name)["reason"]
    assert _assoc(out, "dose_above_threshold_vs_low_yam")["p_value"] is None
    json.dumps(out, allow_nan=False)


def test_empty_cohort_and_minimal_columns():
    empty = summarise_cohort(_seed().iloc[[]])
    assert empty["n"] == 0
    assert empty["low_bone_mass_or_worse"]["percent"] is None
    json.dumps(empty, allow_nan=False)
    minimal = _seed()[["patient_id", "age_years", "yam_percent", "fracture", "classification"]]
    out = summarise_cohort(minimal)
    assert out["dose_bands"]["missing"] == 9
    assert all(a["p_value"] is None for a in out["associations"])
    assert out["risk_flag_counts"]["mgso4_long_term"]["not_assessed"] == 9


def test_constant_column_spearman_undefined():
    df = _seed()
    df["mgso4_days"] = 30.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = summarise_cohort(df)
    days = _assoc(out, "days_vs_yam")
    assert days["statistic"] is None
    assert "constant" in days["reason"]


def test_dose_band_boundaries():
    df = _seed().iloc[:5].copy()
    df["mgso4_total_g"] = [499.9, 500.0, 1000.0, 1000.01, np.nan]
    out = summarise_cohort(df)
    assert [b["n"] for b in out["dose_bands"]["bands"]] == [1, 2, 1]
    assert out["dose_bands"]["missing"] == 1
    shifted = summarise_cohort(df, dose_threshold_g=1200.0, dose_band_edges_g=(500.0,))
    labels = [b["label"] for b in shifted["dose_bands"]["bands"]]
    assert labels == ["< 500 g", "500–1,200 g", "> 1,200 g"]


def test_enum_and_extra_flag_columns():
    from reportgen.models import BoneStatus, FlagState

    df = _seed()
    df["classification"] = [BoneStatus(c) for c in df["classification"]]
    df["flag_mgso4_long_term"] = [FlagState.PRESENT] * 9
    df["flag_custom_rule"] = "absent"
    out = summarise_cohort(df)
    assert out["classification_counts"]["normal"] == 5
    assert out["risk_flag_counts"]["mgso4_long_term"]["present"] == 9
    assert list(out["risk_flag_counts"])[-1] == "custom_rule"


def test_deterministic(seed):
    again = summarise_cohort(_seed())
    assert json.dumps(again, allow_nan=False) == json.dumps(seed, allow_nan=False)


def _synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    yam = rng.normal(88, 10, n)
    df = pd.DataFrame(
        {
            "patient_id": np.arange(n).astype(str),
            "age_years": rng.uniform(18, 45, n),
            "bmi_kg_m2": rng.normal(21, 2.5, n),
            "gravida": pd.array(rng.integers(1, 5, n), dtype="Int64"),
            "para": pd.array(rng.integers(0, 3, n), dtype="Int64"),
            "smoking": rng.choice(["never", "before_pregnancy", "during_pregnancy"], n),
            "family_history": rng.random(n) < 0.1,
            "hospital_days": pd.array(rng.integers(9, 120, n), dtype="Int64"),
            "mgso4_days": rng.integers(9, 90, n).astype(float),
            "mgso4_total_g": rng.uniform(100, 4000, n),
            "yam_percent": yam,
            "fracture": rng.random(n) < 0.02,
            "breastfeeding": rng.random(n) < 0.7,
        }
    )
    df.loc[rng.random(n) < 0.05, "bmi_kg_m2"] = np.nan
    df["classification"] = np.where(
        yam <= 70, "osteoporosis", np.where(yam < 80, "low_bone_mass", "normal")
    )
    for rule in RULE_IDS:
        df[f"flag_{rule}"] = rng.choice(["present", "absent", "not_assessed"], n)
    return df


@pytest.mark.slow
def test_100k_rows():
    """100,000 rows summarised into plain JSON (the time: benchmarks/check_timing.py)."""
    out = summarise_cohort(_synthetic(100_000))
    assert out["n"] == 100_000
    json.dumps(out, allow_nan=False)


# --- properties ---------------------------------------------------------------------------


def _maybe(strategy):
    return st.one_of(st.none(), strategy)


_FIELDS = {
    "age_years": _maybe(st.floats(12, 60)),
    "bmi_kg_m2": _maybe(st.floats(12, 60)),
    "para": _maybe(st.integers(0, 6)),
    "smoking": st.sampled_from([None, "never", "before_pregnancy", "during_pregnancy"]),
    "family_history": _maybe(st.booleans()),
    "mgso4_days": _maybe(st.integers(0, 300).map(float)),
    "mgso4_total_g": _maybe(st.sampled_from([500.0, 1000.0]) | st.floats(0, 20000)),
    "yam_percent": _maybe(st.sampled_from([70.0, 80.0]) | st.floats(20, 150)),
    "fracture": st.booleans(),
    "breastfeeding": _maybe(st.booleans()),
    "classification": st.sampled_from([None, "normal", "low_bone_mass", "osteoporosis"]),
    "flag_low_bmi": st.sampled_from([None, "present", "absent", "not_assessed"]),
}


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(st.fixed_dictionaries(_FIELDS), max_size=25),
    dropped=st.sets(
        st.sampled_from(
            ["bmi_kg_m2", "para", "smoking", "mgso4_days", "breastfeeding", "classification"]
        )
    ),
)
def test_properties(records, dropped):
    df = pd.DataFrame(records, columns=list(_FIELDS))
    df["para"] = df["para"].astype("Int64")
    df = df.drop(columns=sorted(dropped))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = summarise_cohort(df)
    n = len(df)
    json.dumps(out, allow_nan=False)
    assert out["n"] == n
    assert sum(out["classification_counts"].values()) + out["unclassified"] == n
    assert all(sum(c.values()) == n for c in out["risk_flag_counts"].values())
    bands = out["dose_bands"]
    assert sum(b["n"] for b in bands["bands"]) + bands["missing"] == n
    columns = {c["key"]: c["n"] for c in out["table1"]["columns"]}
    assert columns["overall"] == n
    assert columns["normal"] + columns["low_bone_mass_or_worse"] + out["unclassified"] == n
    for row in out["table1"]["rows"]:
        if row["kind"] == "categorical":
            for key, size in columns.items():
                assert row["denominator"][key] + row["missing"][key] == size
    for key, value in _walk(out):
        if key == "percent" and value is not None:
            assert 0.0 <= value <= 100.0
        if key == "p_value" and value is not None:
            assert 0.0 <= value <= 1.0 + 1e-12
    assert (out["low_bone_mass_or_worse"]["percent"] is None) == (n == 0)


# --- one definition of each fact (issue 18) ------------------------------------------------


def test_thresholds_come_from_the_rule_set(tmp_path):
    """The dose threshold and the YAM limit are the rule set's; the seed caution only for
    the shipped threshold, with its value."""
    shipped = summarise_cohort(_seed())
    assert shipped["parameters"] == {
        "dose_threshold_g": load_rules().threshold("mgso4_high_cumulative_dose"),
        "dose_band_edges_g": [500.0, 1000.0],
        "yam_low_pct": load_rules().yam_normal_min_pct,
    }
    assert any("The > 1,000 g cumulative-dose threshold" in c for c in shipped["cautions"])
    path = tmp_path / "rules.toml"
    path.write_text(
        "[risk.mgso4_high_cumulative_dose]\nthreshold = 1200\n"
        "[bone_status]\nyam_normal_min_pct = 75.0\n",
        "utf-8",
    )
    other = summarise_cohort(_seed(), load_rules(path))
    assert other["parameters"]["dose_threshold_g"] == 1200.0
    assert other["parameters"]["yam_low_pct"] == 75.0
    assert other["dose_bands"]["bands"][-1]["lower_g"] == 1200.0
    assert not any("circular" in c for c in other["cautions"])


def test_status_classes_are_the_one_label_table():
    from reportgen.models import STATUS_LABELS, BoneStatus
    from reportgen.summary import CLASSES

    assert CLASSES == tuple(STATUS_LABELS)
    assert CLASSES == tuple(s.value for s in BoneStatus if s is not BoneStatus.NOT_MEASURED)


def test_yes_no_words_are_the_input_contracts():
    """A frame given directly is read with the schema's yes/no words (parse_yes_no): every
    word the input accepts, in any case and width, and nothing else."""
    from reportgen.columns import FALSE_WORDS, TRUE_WORDS

    words = sorted(TRUE_WORDS) + sorted(FALSE_WORDS) + ["ＹＥＳ", " No ", "\u2212", "maybe"]
    expected = [True] * len(TRUE_WORDS) + [False] * len(FALSE_WORDS) + [True, False, False, None]
    df = pd.DataFrame({"heparin": pd.Series(words, dtype=object)})
    df["classification"] = "normal"
    row = _row(summarise_cohort(df), "heparin")
    yes, no = (level["counts"]["overall"]["count"] for level in row["levels"])
    assert (yes, no) == (expected.count(True), expected.count(False))
    assert row["missing"]["overall"] == 1  # "maybe"


def test_cohort_report_status_labels_come_from_the_one_table(monkeypatch, tmp_path):
    """The cohort page's status words are models.STATUS_LABELS (translated at use)."""
    from reportgen import api, charts
    from reportgen.models import STATUS_LABELS

    monkeypatch.setitem(STATUS_LABELS, "low_bone_mass", "Thin bones")
    monkeypatch.setenv("REPORTGEN_CACHE_DIR", "")  # no plate with these words on disk
    charts.clear_cache()  # nor in memory
    try:
        api.build_cohort_report(
            Path(__file__).parent.parent / "input" / "case_series_2020.csv",
            tmp_path,
            formats=("html",),
        )
    finally:
        charts.clear_cache()
    html = (tmp_path / "cohort-summary.html").read_text("utf-8")
    assert "2 thin bones · 2 osteoporosis" in html  # the overview
    assert "<td>Thin bones</td>" in html  # the case listing
    assert '<th class="num">Thin bones</th>' in html  # the dose bands' heading
    assert "Low bone mass<" not in html


def test_smoking_levels_are_the_schemas_statuses():
    from reportgen.columns import SMOKING_WORDS
    from reportgen.summary.table1 import SMOKING_LEVELS

    assert tuple(SMOKING_LEVELS) == tuple(dict.fromkeys(SMOKING_WORDS.values()))
