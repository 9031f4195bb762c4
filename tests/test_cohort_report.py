"""The cohort summary's content (issue 5): the seed Table 1 reproduced from data, in the JSON
and in the PDF text; Table 1 layout; a 10,000-row cohort.

Expected figures are computed here from the input CSV with the standard library and scipy
(never read back from reportgen), then checked against the figures the issue states.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pikepdf
import pypdf
import pytest
from scipy import stats

from reportgen.cohort_context import half_up, num, p_value, share

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "input" / "case_series_2020.csv"
EPOCH = "1704067200"  # 2024-01-01T00:00:00Z
BIG_N = 10_000


# --- helpers ------------------------------------------------------------------------------


class Run:
    """The real command line in a fresh interpreter, started now, awaited by ``finish``
    (the seed and the large cohort render side by side to keep the suite short)."""

    def __init__(self, *args: str):
        env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reportgen", "cohort", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def finish(self) -> tuple[int, str, float]:
        _, stderr = self.process.communicate(timeout=300)
        return self.process.returncode, stderr, time.monotonic() - self.started


def pdf_text(path: Path) -> str:
    """The PDF's text (pdftotext -layout, else pypdf), with ₄→4, − → -, NBSP → space."""
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
    else:  # pragma: no cover - poppler-utils is installed by scripts/setup-system
        text = "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    return text.replace("\u2084", "4").replace("\u2212", "-").replace("\u00a0", " ")


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
def launched(tmp_path_factory) -> dict:
    """Start both renders at once: the seed and a 10,000-row synthetic cohort."""
    seed_dir = tmp_path_factory.mktemp("seed")
    big_dir = tmp_path_factory.mktemp("big")
    expected = synthetic_cohort(big_dir / "big.csv", BIG_N)
    runs = {
        "seed": (Run(str(SEED), "-o", str(seed_dir / "out")), seed_dir / "out"),
        "big": (Run(str(big_dir / "big.csv"), "-o", str(big_dir / "out")), big_dir / "out"),
    }
    yield {"runs": runs, "expected": expected}
    for process, _ in runs.values():
        if process.process.poll() is None:  # a failed test left it running
            process.process.kill()
            process.process.communicate()


@pytest.fixture(scope="module")
def seed_run(launched) -> dict:
    process, outdir = launched["runs"]["seed"]
    code, stderr, _ = process.finish()
    assert code == 0, stderr
    return {
        "dir": outdir,
        "json": json.loads((outdir / "cohort-summary.json").read_text("utf-8")),
        "text": pdf_text(outdir / "cohort-summary.pdf"),
        "html": (outdir / "cohort-summary.html").read_text("utf-8"),
    }


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
    assert "9 analysed" in text
    assert re.search(r"Normal\s+5\s+55\.6 %", text)
    assert re.search(r"Low bone mass\s+2\s+22\.2 %", text)
    assert re.search(r"Osteoporosis\s+2\s+22\.2 %", text)
    assert re.search(r"YAM < 80 %\s+4/9 = 44\.4 %", text)
    assert re.search(r"Low bone mass or worse\s+4/9 = 44\.4 %", text)
    assert "5 normal · 2 low bone mass · 2" in text


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
    assert "Age (years) mean 30.0 (range 20–41)" in flat(text)
    assert "BMI (kg/m²) mean 21.0 (range 18.1–25.4)" in flat(text)
    assert "MgSO4 tocolysis (days) mean 38.0 (range 11–85)" in flat(text)
    assert "Cumulative MgSO4 dose mean 1,552 g (range 168–3,756)" in flat(text)
    # and in Table 1 (Overall column first)
    assert re.search(r"Age \(years\)\s+mean \(SD\)\s+30\.0 \(", text)
    assert re.search(r"BMI \(kg/m²\)\s+mean \(SD\)\s+21\.0 \(", text)
    assert re.search(r"MgSO4 tocolysis\s+mean \(SD\)\s+38\.0 \(", text)
    assert re.search(r"Cumulative MgSO4\s+mean \(SD\)\s+1,552 \(", text)
    assert re.search(r"range\s+11–85\s", text)


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
    assert "mean age 29.3 years · mean BMI 20.0" in text
    # Table 1, third column (Low bone mass or worse, n = 4)
    assert re.search(r"Age \(years\)\s+mean \(SD\)\s+\S+ \(\S+\)\s+\S+ \(\S+\)\s+29\.3 \(", text)
    assert re.search(r"BMI \(kg/m²\)\s+mean \(SD\)\s+\S+ \(\S+\)\s+\S+ \(\S+\)\s+20\.0 \(", text)
    assert re.search(r"Low bone mass or\s.*\n.*n = 4", text)


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
    assert "Spearman ρ = -0.42, p = 0.26 (n = 9)" in text
    assert "Spearman ρ = -0.75, p = 0.02 (n = 9)" in text
    assert re.search(
        r"Cumulative MgSO4 dose vs YAM\s+Spearman rank correlation\s+ρ = -0\.42"
        r"\s+0\.26\s+9",
        text,
    )
    assert re.search(
        r"MgSO4 days vs YAM\s+Spearman rank correlation\s+ρ = -0\.75\s+0\.02\s+9", text
    )
    # one plain sentence each, which does not claim cause
    assert "this could be chance (p = 0.26)" in flat(text)
    assert "does not show cause" in flat(text)


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
    assert "Fisher's exact p = 0.17 (n = 9)" in text
    assert re.search(
        r"Dose > 1,000 g vs YAM < 80 %\s+Fisher's exact test\s+OR not estimable "
        r"\(a zero cell\)\s+0\.17\s+9",
        text,
    )
    assert re.search(r"Dose > 1,000 g\s+4\s+2\s+6", text)
    assert re.search(r"Dose ≤ 1,000 g\s+0\s+3\s+3", text)


def test_table1_layout(seed_run):
    """tableone/gtsummary layout: n per column, mean (SD) / median [IQR] / range, n/N (%),
    missing counts, the test named per row with its p, a small-n caution."""
    text = seed_run["text"]
    assert re.search(
        r"Overall\s+Normal\s+worse\s*\n.*n\s*=\s*9\s+n\s*=\s*5\s+n\s*=\s*4\s+"
        r"Missing\s+p\s+Test",
        text,
    )
    assert re.search(r"Age \(years\)\s+mean \(SD\).*\s0\s+0\.\d\d\s+Mann–Whitney U", text)
    assert re.search(r"median \[IQR\]\s+28\.0 \[27\.0–34\.0\]", text)
    assert re.search(
        r"Smoking\s+Never\s+6/9 \(66\.7 %\)\s+4/5 \(80\.0 %\)\s+2/4 \(50\.0 %\)"
        r"\s+0\s+\d\.\d\d\s+Fisher's exact",
        text,
    )
    assert re.search(r"Parity \(para\)\s+0\s+6/9 \(66\.7 %\)", text)
    assert "n = 9: tests have very low power" in text
    # fracture_sites is blank for the 8 patients without a fracture: not missing (v2), since
    # a site is only expected where there is a fracture
    missing = seed_run["json"]["missing_by_column"]
    assert missing["fracture_sites"] == 0
    assert set(missing.values()) == {0}
    assert not re.search(r"fracture_sites\s+8\s+88\.9 %", text)


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
    assert re.search(r"Long-term MgSO4 tocolysis.*9/9 \(100\.0 %\)\s+0\s+0", text)
    assert re.search(r"High cumulative MgSO4 dose.*6/9 \(66\.7 %\)\s+3\s+0", text)
    assert re.search(r"Heparin exposure heparin\s+heparin = yes\s+0\s+0\s+9", text)

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
    assert re.search(r"< 500 g\s+3\s+3\s+0\s+0\s+0/3 \(0\.0 %\)", text)
    assert re.search(r"> 1,000 g\s+6\s+2\s+2\s+2\s+4/6 \(66\.7 %\)", text)


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
    text = seed_run["text"]
    assert "All 9 patients" in text
    assert re.search(
        r"\n2\s+36\s+22\.5\s+2\s+1\s+before pregnancy\s+97\s+85\s+3,756\s+67\s+"
        r"yes \(T7;T12\)\s+Osteoporosis",
        text,
    )
    with (seed_run["dir"] / "cohort-cases.csv").open(newline="", encoding="utf-8") as stream:
        cases = list(csv.DictReader(stream))
    assert [c["patient_id"] for c in cases] == [r["patient_id"] for r in seed_rows]
    assert [c["classification"] for c in cases] == [r["status"] for r in seed_rows]


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
    code, stderr, elapsed = process.finish()
    assert code == 0, stderr
    return {
        "dir": outdir,
        "elapsed": elapsed,
        "expected": launched["expected"],
        "text": pdf_text(outdir / "cohort-summary.pdf"),
    }


@pytest.mark.slow
def test_big_cohort_renders_quickly_into_few_pages(big_run):
    # a guard, not a benchmark: the whole command, interpreter start-up included
    assert big_run["elapsed"] < 60
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
    assert re.search(
        rf"More MgSO4 days than hospital\s+{expected['days_over_hospital']:,}\s", big_run["text"]
    )
    assert re.search(rf"Cumulative MgSO4 above the\s+{expected['rate']:,}\s", big_run["text"])
    text = flat(big_run["text"])
    share_text = paper(100 * expected["gravida_missing"] / BIG_N)
    assert f"gravida {expected['gravida_missing']:,} {share_text} %" in text
    # Table 1 says how many have a value where some are missing
    assert f"n with a value {BIG_N - expected['gravida_missing']:,}" in text


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
