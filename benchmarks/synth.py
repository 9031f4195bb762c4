"""Synthetic, realistic (but entirely invented) long-tocolysis patients for the benchmarks.

Ranges follow the seed case series and the input contract: age 18-45 years, BMI 16-35,
MgSO4 0-120 days, cumulative dose = days x 24-46 g/day (+/- a little noise, never above the
48 g/day + 6 g plausibility limit), YAM 55-115 %, about 5 % fragility fractures with sites,
optional columns (gravida/para, smoking, DXA site, BMD/T/Z, vitamin D, ...) present on some
rows only, free-text notes on some rows and admission/delivery/discharge/DXA dates on most.

    python benchmarks/synth.py 1000 /tmp/patients.csv     # write a CSV (seed 2024)
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

COLUMNS = [
    "patient_id",
    "name",
    "age_years",
    "bmi_kg_m2",
    "height_cm",
    "weight_kg",
    "gravida",
    "para",
    "smoking",
    "family_history",
    "hospital_days",
    "bed_rest_days",
    "mgso4_days",
    "mgso4_total_g",
    "yam_percent",
    "fracture",
    "fracture_sites",
    "dxa_site",
    "bmd_g_cm2",
    "t_score",
    "z_score",
    "admission_date",
    "delivery_date",
    "discharge_date",
    "dxa_date",
    "breastfeeding",
    "vitamin_d_ng_ml",
    "glucocorticoid",
    "heparin",
    "notes",
]
_SITES = ["T12", "L1", "L2;L3", "T7;T12", "L1;L2;L4", "rib", "hip", "sacrum", "T11;L1"]
_NOTES = [
    "Tocolysis for threatened preterm labour; ritodrine switched to MgSO4.",
    "Back pain since week 2 postpartum.\nReferred to orthopaedics.",
    "Breastfeeding exclusively; calcium 600 mg/day advised.",
    "Patient asked for a copy of the DXA result <for her GP> & the midwife.",
    "Twin pregnancy; bed rest for most of the admission.",
]
_SMOKING = ["never"] * 8 + ["before_pregnancy", "during_pregnancy"]
_GIVEN = ["Aiko", "Emi", "Haruka", "Yui", "Sara", "Mina", "Laura", "Nadia", "Chloé", "Ingrid"]
_FAMILY = ["Sato", "Suzuki", "Takahashi", "Tanaka", "Ito", "Müller", "García", "Okafor", "Lee"]


def patients(n: int, seed: int = 2024) -> list[dict[str, str]]:
    """``n`` rows of strings keyed by :data:`COLUMNS` (empty string = not recorded).

    Vectorised (10^5 rows in about a second); deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)

    def maybe(p: float) -> np.ndarray:
        return rng.random(n) < p

    def pick(options: list[str]) -> np.ndarray:
        return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]

    def fmt(values: np.ndarray, spec: str, mask: np.ndarray) -> list[str]:
        return [
            format(v, spec) if m else ""
            for v, m in zip(values.tolist(), mask.tolist(), strict=True)
        ]

    def keep(values: np.ndarray, mask: np.ndarray) -> list[str]:
        return [v if m else "" for v, m in zip(values.tolist(), mask.tolist(), strict=True)]

    def yes_no(flags: np.ndarray, mask: np.ndarray) -> list[str]:
        return [
            ("yes" if f else "no") if m else ""
            for f, m in zip(flags.tolist(), mask.tolist(), strict=True)
        ]

    every = np.ones(n, dtype=bool)
    cols: dict[str, list[str]] = {}
    cols["patient_id"] = [f"P{i + 1:06d}" for i in range(n)]
    names = pick(_GIVEN) + " " + pick(_FAMILY)
    cols["name"] = keep(names, maybe(0.6))
    cols["age_years"] = fmt(rng.integers(18, 46, n), "d", every)
    bmi = np.clip(rng.normal(21.5, 3.2, n), 16, 35)
    direct = maybe(0.85)  # else BMI is derived from height and weight
    height = np.clip(rng.normal(158, 6, n), 140, 185)
    cols["bmi_kg_m2"] = fmt(bmi, ".1f", direct)
    cols["height_cm"] = fmt(height, ".1f", ~direct)
    cols["weight_kg"] = fmt(bmi * (height / 100) ** 2, ".1f", ~direct)
    gravida = rng.integers(1, 5, n)
    para = np.floor(rng.random(n) * gravida).astype(int)  # 0 .. gravida - 1
    has_gp = maybe(0.8)
    cols["gravida"] = fmt(gravida, "d", has_gp)
    cols["para"] = fmt(para, "d", has_gp)
    cols["smoking"] = keep(pick(_SMOKING), maybe(0.7))
    cols["family_history"] = yes_no(maybe(0.1), maybe(0.5))
    days = np.clip(rng.gamma(1.6, 22.0, n), 0, 120).astype(int)
    grams = days * rng.uniform(24, 46, n) * (1 + rng.normal(0, 0.02, n))
    grams = np.clip(grams, 0, 48 * days + 6)
    cols["mgso4_days"] = fmt(days, "d", every)
    cols["mgso4_total_g"] = fmt(grams, ".0f", every)
    hospital = days + rng.integers(2, 30, n)
    cols["hospital_days"] = fmt(hospital, "d", maybe(0.9))
    cols["bed_rest_days"] = fmt(
        np.floor(rng.random(n) * np.maximum(days, 1)).astype(int), "d", maybe(0.3)
    )
    yam = np.clip(rng.normal(96 - grams / 220, 11), 55, 115)
    cols["yam_percent"] = fmt(yam, ".0f", every)
    fracture = maybe(0.05)
    cols["fracture"] = ["yes" if f else "no" for f in fracture.tolist()]
    cols["fracture_sites"] = keep(pick(_SITES), fracture & maybe(0.85))
    cols["dxa_site"] = pick(["L1-L4"] * 8 + ["L2-L4", ""]).tolist()
    has_bmd = maybe(0.6)
    cols["bmd_g_cm2"] = fmt(1.12 * yam / 100, ".3f", has_bmd)
    cols["t_score"] = fmt((yam - 100) / 10.5, ".1f", has_bmd)
    cols["z_score"] = fmt((yam - 100) / 11 + 0.2, ".1f", has_bmd)
    dated = maybe(0.75)
    epoch = np.datetime64("2019-01-01")
    admitted = epoch + rng.integers(0, 5 * 365, n).astype("timedelta64[D]")
    delivered = admitted + np.maximum(0, days + rng.integers(-2, 6, n)).astype("timedelta64[D]")
    discharged = admitted + hospital.astype("timedelta64[D]")
    scanned = delivered + rng.integers(3, 60, n).astype("timedelta64[D]")
    cols["admission_date"] = fmt(admitted.astype(str), "s", dated)
    cols["delivery_date"] = fmt(delivered.astype(str), "s", dated)
    cols["discharge_date"] = fmt(discharged.astype(str), "s", dated)
    cols["dxa_date"] = fmt(scanned.astype(str), "s", dated & maybe(0.8))
    cols["breastfeeding"] = yes_no(maybe(0.7), maybe(0.4))
    cols["vitamin_d_ng_ml"] = fmt(np.clip(rng.normal(18, 7, n), 4, 60), ".1f", maybe(0.3))
    drugs = maybe(0.3)
    cols["glucocorticoid"] = yes_no(maybe(0.15), drugs)
    cols["heparin"] = yes_no(maybe(0.1), drugs)
    cols["notes"] = keep(pick(_NOTES), maybe(0.2))
    return [
        dict(zip(COLUMNS, values, strict=True))
        for values in zip(*(cols[c] for c in COLUMNS), strict=True)
    ]


def write_csv(path: Path, n: int, seed: int = 2024) -> Path:
    """Write ``n`` synthetic patients to ``path`` (UTF-8 CSV with a header row)."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(patients(n, seed))
    return path


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(f"patients-{count}.csv")
    print(write_csv(target, count))
