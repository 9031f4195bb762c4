"""The cohort summary's content (issue 5): the seed Table 1 reproduced from data, in the JSON
and in the PDF text; Table 1 layout; a 10,000-row cohort.

Expected figures are computed here from the input CSV with the standard library and scipy
(never read back from reportgen), then checked against the figures the issue states.

PDF text is checked for words and their order (``words_in_order``) within a stretch of the
report (a section, a table, its header), never for where a line wraps or how far apart two
columns are: the layout is pinned by the golden HTML (tests/test_golden.py).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import statistics
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pikepdf
import pypdf
import pytest
from conftest import Reportgen, words_in_order
from scipy import stats

from reportgen.cohort_context import half_up, num, p_value, share

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "input" / "case_series_2020.csv"
BIG_N = 10_000


# --- helpers ------------------------------------------------------------------------------


def start(run_reportgen: Reportgen, *args: object) -> subprocess.Popen:
    """``reportgen cohort ARGS`` in a fresh process, started now, awaited by ``finish`` (the
    seed and the large cohort render side by side to keep the suite short)."""
    return run_reportgen.popen(
        "cohort", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


def pdf_text(path: Path) -> str:
    """The PDF's text in drawing order (pypdf: a table cell by cell, row by row, a cell's lines
    in order), with ₄→4, − → -, NBSP → space."""
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    return text.replace("\u2084", "4").replace("\u2212", "-").replace("\u00a0", " ")


def between(text: str, start: str, end: str) -> str:
    """The stretch of ``text`` from ``start`` up to the next ``end``: one section or table,
    so that a check on it cannot be met by words elsewhere in the report."""
    first = text.index(start)
    return text[first : text.index(end, first + len(start))]


def paper(value: float, decimals: int = 1) -> str:
    """How a paper prints a number: round half up, thousands separators (independent of
    reportgen's own formatter)."""
    exact = Decimal(str(round(value, 9)))
    rounded = exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return f"{rounded:,}".replace("-", "\u2212")


def jos2012(yam: float, fracture: bool) -> str:
    """Bone status by the JOS 2012 criteria (clinical-rules §1) for vertebral fractures."""
    if fracture or yam <= 70:
        return "osteoporosis"
    return "low_bone_mass" if yam < 80 else "normal"


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


# --- the seed case series -----------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_rows() -> list[dict]:
    with SEED.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        for key in (
            "age_years",
            "bmi_kg_m2",
            "hospital_days",
            "mgso4_days",
            "mgso4_total_g",
            "yam_percent",
        ):
            row[key] = float(row[key])
        row["fracture"] = row["fracture"] == "yes"
        row["status"] = jos2012(row["yam_percent"], row["fracture"])
    return rows


@pytest.fixture(scope="module")
def launched(run_reportgen, tmp_path_factory) -> dict:
    """Start both renders at once: the seed and a 10,000-row synthetic cohort."""
    seed_dir = tmp_path_factory.mktemp("seed")
    big_dir = tmp_path_factory.mktemp("big")
    expected = synthetic_cohort(big_dir / "big.csv", BIG_N)
    runs = {
        "seed": (start(run_reportgen, SEED, "-o", seed_dir / "out"), seed_dir / "out"),
        "big": (start(run_reportgen, big_dir / "big.csv", "-o", big_dir / "out"), big_dir / "out"),
    }
    yield {"runs": runs, "expected": expected}
    for process, _ in runs.values():
        if process.poll() is None:  # a failed test left it running
            process.kill()
            process.communicate()


@pytest.fixture(scope="module")
def seed_run(launched) -> dict:
    process, outdir = launched["runs"]["seed"]
    code, stderr = finish(process)
    assert code == 0, stderr
    return {
        "dir": outdir,
        "json": json.loads((outdir / "cohort-summary.json").read_text("utf-8")),
        "text": pdf_text(outdir / "cohort-summary.pdf"),
        "html": (outdir / "cohort-summary.html").read_text("utf-8"),
    }


@pytest.mark.slow
def test_seed_bone_status_counts(seed_rows, seed_run):
    counts = {
        k: sum(r["status"] == k for r in seed_rows)
        for k in ("normal", "low_bone_mass", "osteoporosis")
    }
    assert len(seed_rows) == 9
    assert counts == {"normal": 5, "low_bone_mass": 2, "osteoporosis": 2}  # issue 5
    low = sum(r["yam_percent"] < 80 for r in seed_rows)
    assert (low, paper(100 * low / 9)) == (4, "44.4")

    summary = seed_run["json"]
    assert summary["n"] == 9
    assert summary["classification_counts"] == counts
    assert summary["low_bone_mass_or_worse"]["count"] == 4
    assert summary["low_bone_mass_or_worse"]["percent"] == pytest.approx(100 * 4 / 9)
    assert summary["yam_below_threshold"] == {
        "threshold_pct": 80.0,
        "count": 4,
        "denominator": 9,
        "percent": pytest.approx(100 * 4 / 9),
    }

    text = seed_run["text"]
    assert "9 row(s) read, 9 analysed" in flat(text)
    assert words_in_order(
        between(text, "1. Bone status", "2. Table 1"),
        "Status (JOS 2012) n % of 9 measured",
        "Normal 5 55.6 %",
        "Low bone mass 2 22.2 %",
        "Osteoporosis 2 22.2 %",
        "Low bone mass or worse 4/9 = 44.4 %",
        "YAM < 80 % 4/9 = 44.4 %",
    )
    assert words_in_order(
        between(text, "Key figures", "1. Bone status"),
        "Patients analysed 9",
        "Bone status (JOS 2012) 5 normal · 2 low bone mass · 2 osteoporosis",
        "Low bone mass or worse 4/9 = 44.4 %",
        "YAM < 80 % 4/9 = 44.4 %",
    )


@pytest.mark.slow
def test_seed_means_and_ranges(seed_rows, seed_run):
    means = {
        k: statistics.fmean(r[k] for r in seed_rows)
        for k in ("age_years", "bmi_kg_m2", "mgso4_days", "mgso4_total_g")
    }
    days = [r["mgso4_days"] for r in seed_rows]
    # the figures, recomputed from Table 1
    assert paper(means["age_years"]) == "30.0"
    assert paper(means["bmi_kg_m2"]) == "21.0"
    assert paper(means["mgso4_days"]) == "38.0"
    assert (min(days), max(days)) == (11, 85)
    assert paper(means["mgso4_total_g"], 0) == "1,552"

    summary = seed_run["json"]
    for key, value in means.items():
        assert summary["means"][key] == pytest.approx(value)
    assert summary["ranges"]["mgso4_days"] == {"min": 11.0, "max": 85.0}
    assert summary["ranges"]["age_years"] == {"min": 20.0, "max": 41.0}
    assert summary["sd"]["age_years"] == pytest.approx(
        statistics.stdev(r["age_years"] for r in seed_rows)
    )

    text = seed_run["text"]
    assert words_in_order(
        between(text, "Key figures", "1. Bone status"),
        "Age (years) mean 30.0 (range 20–41)",
        "BMI (kg/m²) mean 21.0 (range 18.1–25.4)",
        "MgSO4 tocolysis (days) mean 38.0 (range 11–85)",
        "Cumulative MgSO4 dose mean 1,552 g (range 168–3,756)",
    )
    # and in Table 1, each row's Overall column first: mean (SD), ... range
    sd = {
        k: paper(statistics.stdev(r[k] for r in seed_rows), 0 if k == "mgso4_total_g" else 1)
        for k in means
    }
    assert words_in_order(
        between(text, "2. Table 1", "3. Risk-flag prevalence"),
        f"Age (years) mean (SD) 30.0 ({sd['age_years']})",
        "range 20–41",
        f"BMI (kg/m²) mean (SD) 21.0 ({sd['bmi_kg_m2']})",
        "range 18.1–25.4",
        f"MgSO4 tocolysis (days) mean (SD) 38.0 ({sd['mgso4_days']})",
        "range 11–85",
        f"Cumulative MgSO4 dose (g) mean (SD) 1,552 ({sd['mgso4_total_g']})",
        "range 168–3,756",
    )


@pytest.mark.slow
def test_seed_low_yam_group(seed_rows, seed_run):
    group = [r for r in seed_rows if r["status"] != "normal"]
    age = statistics.fmean(r["age_years"] for r in group)
    bmi = statistics.fmean(r["bmi_kg_m2"] for r in group)
    assert (len(group), paper(age), paper(bmi)) == (4, "29.3", "20.0")  # 29.25, 19.95 half up

    summary = seed_run["json"]
    assert summary["low_yam_group"]["n"] == 4
    assert summary["low_yam_group"]["means"]["age_years"] == pytest.approx(age)
    assert summary["low_yam_group"]["means"]["bmi_kg_m2"] == pytest.approx(bmi)

    text = seed_run["text"]
    assert words_in_order(
        between(text, "Key figures", "1. Bone status"),
        "Low bone mass or worse (n = 4) mean age 29.3 years · mean BMI 20.0 kg/m²",
    )
    # Table 1, third column (Low bone mass or worse, n = 4), after Overall and Normal
    normal = [r for r in seed_rows if r["status"] == "normal"]

    def cells(key: str) -> str:
        return " ".join(
            f"{paper(statistics.fmean(r[key] for r in rows))} "
            f"({paper(statistics.stdev(r[key] for r in rows))})"
            for rows in (seed_rows, normal, group)
        )

    table1 = between(text, "2. Table 1", "3. Risk-flag prevalence")
    assert cells("age_years").endswith("29.3 (7.3)")
    assert words_in_order(table1, f"Age (years) mean (SD) {cells('age_years')} 0")
    assert words_in_order(table1, f"BMI (kg/m²) mean (SD) {cells('bmi_kg_m2')} 0")
    # each group's n printed with its heading
    assert words_in_order(
        between(table1, "Variable", "Age (years)"),
        "Overall n = 9 Normal n = 5 Low bone mass or worse n = 4 Missing",
    )
    columns = summary["table1"]["columns"]
    assert [(c["label"], c["n"]) for c in columns][2] == ("Low bone mass or worse", 4)


@pytest.mark.slow
def test_seed_spearman(seed_rows, seed_run):
    yam = [r["yam_percent"] for r in seed_rows]
    expected = {
        "dose_vs_yam": stats.spearmanr([r["mgso4_total_g"] for r in seed_rows], yam),
        "days_vs_yam": stats.spearmanr([r["mgso4_days"] for r in seed_rows], yam),
    }
    shown = {k: (paper(v.statistic, 2), paper(v.pvalue, 2)) for k, v in expected.items()}
    assert shown == {"dose_vs_yam": ("\u22120.42", "0.26"), "days_vs_yam": ("\u22120.75", "0.02")}

    by_name = {a["name"]: a for a in seed_run["json"]["associations"]}
    for name, result in expected.items():
        got = by_name[name]
        assert got["test"] == "Spearman rank correlation"
        assert got["n"] == 9
        assert got["statistic"] == pytest.approx(result.statistic)
        assert got["p_value"] == pytest.approx(result.pvalue)

    text = seed_run["text"]
    assert words_in_order(
        between(text, "Key figures", "1. Bone status"),
        "Cumulative MgSO4 dose vs YAM Spearman ρ = -0.42, p = 0.26 (n = 9)",
        "MgSO4 days vs YAM Spearman ρ = -0.75, p = 0.02 (n = 9)",
    )
    associations = between(text, "4. Cumulative MgSO4 dose and bone mass", "5. Charts")
    assert words_in_order(
        associations,
        "Association Test Statistic p n",
        "Cumulative MgSO4 dose vs YAM Spearman rank correlation ρ = -0.42 0.26 9 In 9",
        "MgSO4 days vs YAM Spearman rank correlation ρ = -0.75 0.02 9 In 9",
    )
    # one plain sentence each, which does not claim cause
    assert "this could be chance (p = 0.26)" in flat(text)
    assert "does not show cause" in flat(text)


@pytest.mark.slow
def test_seed_fisher(seed_rows, seed_run):
    high = [r["mgso4_total_g"] > 1000 for r in seed_rows]
    low = [r["yam_percent"] < 80 for r in seed_rows]
    table = [
        [
            sum(h and y for h, y in zip(high, low, strict=True)),
            sum(h and not y for h, y in zip(high, low, strict=True)),
        ],
        [
            sum(y and not h for h, y in zip(high, low, strict=True)),
            sum(not h and not y for h, y in zip(high, low, strict=True)),
        ],
    ]
    expected = stats.fisher_exact(table)
    assert paper(expected.pvalue, 2) == "0.17"

    fisher = {a["name"]: a for a in seed_run["json"]["associations"]}[
        "dose_above_threshold_vs_low_yam"
    ]
    assert fisher["test"] == "Fisher's exact test"
    assert fisher["table"]["counts"] == table
    assert fisher["p_value"] == pytest.approx(expected.pvalue)
    assert fisher["n"] == 9

    text = seed_run["text"]
    assert words_in_order(
        between(text, "Key figures", "1. Bone status"),
        "Dose > 1,000 g vs YAM < 80 % Fisher's exact p = 0.17 (n = 9)",
    )
    assert words_in_order(
        between(text, "4. Cumulative MgSO4 dose and bone mass", "5. Charts"),
        "Association Test Statistic p n",
        "Dose > 1,000 g vs YAM < 80 % Fisher's exact test OR not estimable (a zero cell) 0.17 9",
    )
    (a, b), (c, d) = table
    assert words_in_order(
        between(text, "Fisher's exact test: counts", "5. Charts"),
        "YAM < 80 % YAM ≥ 80 % Total",
        f"Dose > 1,000 g {a} {b} {a + b}",
        f"Dose ≤ 1,000 g {c} {d} {c + d}",
        f"Total {a + c} {b + d} 9",
    )
    assert table == [[4, 2], [0, 3]]


@pytest.mark.slow
def test_table1_layout(seed_rows, seed_run):
    """tableone/gtsummary layout: n per column, mean (SD) / median [IQR] / range, n/N (%),
    missing counts, the test named per row with its p, a small-n caution."""
    text = seed_run["text"]
    table1 = between(text, "2. Table 1", "3. Risk-flag prevalence")
    assert words_in_order(
        between(table1, "Variable", "Age (years)"),
        "Variable Statistic Overall n = 9 Normal n = 5 Low bone mass or worse n = 4",
        "Missing p Test",
    )
    normal = [r for r in seed_rows if r["status"] == "normal"]
    worse = [r for r in seed_rows if r["status"] != "normal"]
    age_p = stats.mannwhitneyu(
        [r["age_years"] for r in normal], [r["age_years"] for r in worse]
    ).pvalue
    smoking_p = stats.fisher_exact(
        [
            [sum(r["smoking"] == "never" for r in g), sum(r["smoking"] != "never" for r in g)]
            for g in (normal, worse)
        ]
    ).pvalue
    assert (paper(age_p, 2), paper(smoking_p, 2)) == ("0.90", "0.52")
    # the row's Missing, p and test after its three columns; then median [IQR]
    assert words_in_order(
        table1,
        f"Age (years) mean (SD) 30.0 (6.2) 30.6 (5.9) 29.3 (7.3) 0 {paper(age_p, 2)}",
        "Mann–Whitney U median [IQR] 28.0 [27.0–34.0]",
    )
    assert words_in_order(
        table1,
        "Smoking Never 6/9 (66.7 %) 4/5 (80.0 %) 2/4 (50.0 %)",
        f"0 {paper(smoking_p, 2)} Fisher's exact",
    )
    assert words_in_order(table1, "Parity (para) 0 6/9 (66.7 %)")
    assert "n = 9: tests have very low power" in flat(table1)
    # fracture_sites is blank for the 8 patients without a fracture: not missing (v2), since
    # a site is only expected where there is a fracture
    missing = seed_run["json"]["missing_by_column"]
    assert missing["fracture_sites"] == 0
    assert set(missing.values()) == {0}
    assert words_in_order(
        between(text, "Missing values per column", "Data-quality flags"),
        "fracture_sites 0 0.0 % dxa_site",
    )


@pytest.mark.slow
def test_risk_flags_and_dose_bands(seed_rows, seed_run):
    long_term = sum(r["mgso4_days"] > 8 for r in seed_rows)
    high_dose = sum(r["mgso4_total_g"] > 1000 for r in seed_rows)
    flags = seed_run["json"]["risk_flag_counts"]
    assert flags["mgso4_long_term"] == {
        "present": long_term,
        "absent": 9 - long_term,
        "not_assessed": 0,
    }
    assert flags["mgso4_high_cumulative_dose"]["present"] == high_dose == 6
    assert flags["heparin"] == {"present": 0, "absent": 0, "not_assessed": 9}
    text = seed_run["text"]
    risk = between(text, "3. Risk-flag prevalence", "Not recorded = ")
    assert words_in_order(
        risk,
        "Risk rule Present when Present, n/ recorded (%) Absent Not recorded",
        f"Long-term MgSO4 tocolysis mgso4_long_term mgso4_days > 8 days {long_term}/9 (100.0 %)"
        f" {9 - long_term} 0",
        "High cumulative MgSO4 dose † mgso4_high_cumulative_dose mgso4_total_g > 1,000 g",
        f"{high_dose}/9 (66.7 %) {9 - high_dose} 0 Low BMI",
        "Heparin exposure heparin heparin = yes 0 0 9",
    )

    def band(row: dict) -> str:
        return (
            "low"
            if row["mgso4_total_g"] < 500
            else ("mid" if row["mgso4_total_g"] <= 1000 else "high")
        )

    expected = {
        b: {
            k: sum(band(r) == b and r["status"] == k for r in seed_rows)
            for k in ("normal", "low_bone_mass", "osteoporosis")
        }
        for b in ("low", "mid", "high")
    }
    got = seed_run["json"]["dose_bands"]["bands"]
    assert [b["label"] for b in got] == ["< 500 g", "500–1,000 g", "> 1,000 g"]
    assert [b["classification_counts"] for b in got] == list(expected.values())
    low, high = expected["low"], expected["high"]
    assert words_in_order(
        between(text, "4. Cumulative MgSO4 dose and bone mass", "A dose equal to an edge"),
        "Cumulative MgSO4 dose n Normal Low bone mass Osteoporosis Low or worse, n/N (%)",
        f"< 500 g 3 {low['normal']} {low['low_bone_mass']} {low['osteoporosis']} 0/3 (0.0 %)",
        "500–1,000 g 0",
        f"> 1,000 g 6 {high['normal']} {high['low_bone_mass']} {high['osteoporosis']} 4/6 (66.7 %)",
    )


@pytest.mark.slow
def test_charts_and_listing(seed_rows, seed_run):
    html = seed_run["html"]
    for number in (1, 2, 3):
        assert f'alt="Figure {number}.' in html
    with pikepdf.open(seed_run["dir"] / "cohort-summary.pdf") as pdf:
        images = [
            obj
            for obj in pdf.objects
            if isinstance(obj, pikepdf.Stream)
            and obj.get("/Subtype") == "/Image"
            and obj.get("/ImageMask") is None
        ]
    assert len(images) >= 3  # the status bar chart and the two scatter plots
    listing = between(seed_run["text"], "6. Case listing", "7. Data quality")
    assert "All 9 patients" in listing
    assert words_in_order(
        listing,
        "ID Age BMI G P Smoking Hosp. days MgSO4 days Dose (g) YAM % Fracture Status",
        "1 20 18.4 1 0 never 44 37 1,260 62 no Osteoporosis",
        "2 36 22.5 2 1 before pregnancy 97 85 3,756 67 yes (T7;T12) Osteoporosis",
        "3 34 18.1",
    )
    with (seed_run["dir"] / "cohort-cases.csv").open(newline="", encoding="utf-8") as stream:
        cases = list(csv.DictReader(stream))
    assert [c["patient_id"] for c in cases] == [r["patient_id"] for r in seed_rows]
    assert [c["classification"] for c in cases] == [r["status"] for r in seed_rows]


@pytest.mark.slow
def test_pdf_embeds_the_json(seed_run):
    with pikepdf.open(seed_run["dir"] / "cohort-summary.pdf") as pdf:
        attached = {name: spec.get_file().read_bytes() for name, spec in pdf.attachments.items()}
    assert attached == {"report.json": (seed_run["dir"] / "cohort-summary.json").read_bytes()}


# --- number formatting --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "decimals", "shown"),
    [
        (29.25, 1, "29.3"),
        (19.95, 1, "20.0"),
        (19.949999999999996, 1, "20.0"),
        (44.44444444444444, 1, "44.4"),
        (1552.0, 0, "1,552"),
        (1195.4, 0, "1,195"),
        (2.5, 0, "3"),
        (-0.04, 1, "0.0"),
        (-0.41666666666666663, 2, "\u22120.42"),
        (None, 1, "—"),
    ],
)
def test_half_up(value, decimals, shown):
    assert half_up(value, decimals) == shown


def test_display_helpers():
    assert num(-0.75, 2) == "\u22120.75"
    assert share(4, 9) == "4/9 (44.4 %)"
    assert share(5123, 10000) == "5,123/10,000 (51.2 %)"
    assert share(0, 0) == "0/0"
    assert p_value(0.1666) == "0.17"
    assert p_value(0.0199) == "0.02"
    assert p_value(0.0042) == "0.004"
    assert p_value(0.00004) == "<\u00a00.001"
    assert p_value(None) == "—"


# --- a 10,000-row cohort ------------------------------------------------------------------


def synthetic_cohort(path: Path, n: int) -> dict:
    """n valid, invented patients; some rows carry data-quality problems or missing values.
    Returns what the test expects: ids, flag counts, missing counts."""
    rng = np.random.default_rng(5)
    days = rng.integers(9, 90, n)
    hospital = days + rng.integers(0, 30, n)
    over = rng.random(n) < 0.01  # more MgSO4 days than hospital days
    hospital = np.where(over, days - 1, hospital)
    grams = np.round(days * rng.uniform(24, 46, n))
    rate_bad = rng.random(n) < 0.005  # above 48 g/day x days + 6 g
    grams = np.where(rate_bad, days * 60.0, grams)
    fracture = rng.random(n) < 0.05
    gravida = rng.integers(1, 5, n)
    gravida_blank = rng.random(n) < 0.1
    ids = [f"SYN-{i:05d}" for i in range(1, n + 1)]
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            [
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
                "fracture_sites",
                "dxa_site",
            ]
        )
        ages = rng.integers(18, 46, n)
        bmis = np.round(rng.uniform(16, 35, n), 1)
        yams = np.round(rng.uniform(55, 115, n), 1)
        smoking = rng.choice(["never", "never", "never", "before_pregnancy"], n)
        for i in range(n):
            writer.writerow(
                [
                    ids[i],
                    int(ages[i]),
                    bmis[i],
                    "" if gravida_blank[i] else int(gravida[i]),
                    "" if gravida_blank[i] else int(rng.integers(0, gravida[i])),
                    smoking[i],
                    int(hospital[i]),
                    int(days[i]),
                    f"{grams[i]:.0f}",
                    yams[i],
                    "yes" if fracture[i] else "no",
                    "T12" if fracture[i] else "",
                    "L1-L4",
                ]
            )
    return {
        "ids": ids,
        "days_over_hospital": int(over.sum()),
        "rate": int(np.sum(grams > 48 * days + 6)),
        "gravida_missing": int(gravida_blank.sum()),
    }


@pytest.fixture(scope="module")
def big_run(launched) -> dict:
    process, outdir = launched["runs"]["big"]
    code, stderr = finish(process)
    assert code == 0, stderr
    return {
        "dir": outdir,
        "expected": launched["expected"],
        "text": pdf_text(outdir / "cohort-summary.pdf"),
    }


@pytest.mark.slow
def test_big_cohort_renders_into_few_pages(big_run):
    # the command's time: benchmarks/check_timing.py
    assert len(pypdf.PdfReader(big_run["dir"] / "cohort-summary.pdf").pages) <= 40


@pytest.mark.slow
def test_big_cohort_listing_capped_but_csv_complete(big_run):
    outdir, ids = big_run["dir"], big_run["expected"]["ids"]
    with (outdir / "cohort-cases.csv").open(newline="", encoding="utf-8") as stream:
        cases = list(csv.DictReader(stream))
    assert len(cases) == BIG_N
    assert [c["patient_id"] for c in cases] == ids

    manifest = json.loads((outdir / "manifest.json").read_text("utf-8"))
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == {
        "cohort-cases.csv",
        "cohort-summary.html",
        "cohort-summary.json",
        "cohort-summary.pdf",
    }
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256((outdir / name).read_bytes()).hexdigest()
    assert listed["cohort-cases.csv"]["format"] == "csv"

    text = big_run["text"]
    assert "Showing the first 200 of 10,000 patients" in text
    assert "cohort-cases.csv" in text
    listing = text[text.index("6. Case listing") : text.index("7. Data quality")]
    assert sorted(set(re.findall(r"SYN-\d{5}", listing))) == ids[:200]
    html = (outdir / "cohort-summary.html").read_text("utf-8")
    listing = html[html.index('<table class="data listing">') : html.index("7. Data quality")]
    assert sorted(set(re.findall(r"SYN-\d{5}", listing))) == ids[:200]
    assert json.loads((outdir / "cohort-summary.json").read_text("utf-8"))["n"] == BIG_N


@pytest.mark.slow
def test_big_cohort_data_quality(big_run):
    expected = big_run["expected"]
    summary = json.loads((big_run["dir"] / "cohort-summary.json").read_text("utf-8"))
    flags = {q["id"]: q for q in summary["data_quality"]}
    assert flags["mgso4_days_exceed_hospital_days"]["count"] == expected["days_over_hospital"]
    assert flags["implausible_dose_rate"]["count"] == expected["rate"]
    assert summary["missing_by_column"]["gravida"] == expected["gravida_missing"]
    flags_table = between(big_run["text"], "Data-quality flags", "Data-quality flags are")
    assert words_in_order(
        flags_table,
        "Flag Patients",
        "Cumulative MgSO4 above the plausible rate implausible_dose_rate",
        f"{expected['rate']:,} cumulative MgSO4",
        "More MgSO4 days than hospital days mgso4_days_exceed_hospital_days · information",
        f"{expected['days_over_hospital']:,} MgSO4 days (",
    )
    text = flat(big_run["text"])
    share_text = paper(100 * expected["gravida_missing"] / BIG_N)
    assert f"gravida {expected['gravida_missing']:,} {share_text} %" in text
    # Table 1 says how many have a value where some are missing
    assert f"n with a value {BIG_N - expected['gravida_missing']:,}" in text


@pytest.mark.slow
def test_v2_cohort_caveats(seed_run):
    """clinical-rules §6 (v2): the small-sample caveat stands in the key-figures box, and the
    report says that testing the 1,000 g threshold on Iio's own nine patients is circular."""
    text = " ".join(seed_run["text"].split())
    box = text[text.index("Key figures") : text.index("1. Bone status")]
    assert "Small sample (n = 9)" in box
    assert seed_run["json"]["seed_patients_included"] == 9
    assert any("circular" in c for c in seed_run["json"]["cautions"])
    assert "from whom it was proposed: testing it on them is circular" in text
    assert sum("circular" in c for c in seed_run["json"]["cautions"]) == 1


@pytest.mark.slow
def test_p_values_read_the_same_in_sentences_and_cells(seed_run):
    """clinical-rules §6: one formatter, so a p-value reads the same in its sentence, its
    table cell and the PDF (the review found 0.04 in a sentence and 0.05 in the cell)."""
    from reportgen import formatting as fmt

    text = " ".join(seed_run["text"].split())
    tested = [a for a in seed_run["json"]["associations"] if a["p_value"] is not None]
    assert tested
    for association in tested:
        shown = fmt.p_value(association["p_value"])
        assert shown in association["sentence"]
        assert f"p = {shown}" in text or f"p {shown}" in text


def test_listing_alignment_comes_from_the_column_table():
    """Numeric columns are right-aligned by the context's column table, not by position in
    the template (issue 18)."""
    from reportgen.cohort_context import LISTING_COLUMNS

    numeric = {key for key, _label, is_numeric in LISTING_COLUMNS if is_numeric}
    assert numeric == {
        "age_years",
        "bmi_kg_m2",
        "gravida",
        "para",
        "hospital_days",
        "mgso4_days",
        "mgso4_total_g",
        "yam_percent",
    }
    template = (ROOT / "templates" / "cohort.html").read_text("utf-8")
    assert "loop.index0 <=" not in template
