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
from datetime import date, timedelta
from pathlib import Path

import numpy as np

COLUMNS = [
    "patient_id", "name", "age_years", "bmi_kg_m2", "height_cm", "weight_kg", "gravida", "para",
    "smoking", "family_history", "hospital_days", "bed_rest_days", "mgso4_days", "mgso4_total_g",
    "yam_percent", "fracture", "fracture_sites", "dxa_site", "bmd_g_cm2", "t_score", "z_score",
    "admission_date", "delivery_date", "discharge_date", "dxa_date", "breastfeeding",
    "vitamin_d_ng_ml", "glucocorticoid", "heparin", "notes",
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


def _maybe(rng: np.random.Generator, p: float) -> bool:
    return bool(rng.random() < p)


def patients(n: int, seed: int = 2024) -> list[dict[str, str]]:
    """``n`` rows of strings keyed by :data:`COLUMNS` (empty string = not recorded)."""
    rng = np.random.default_rng(seed)
    rows = []
    start = date(2019, 1, 1)
    for i in range(n):
        row = dict.fromkeys(COLUMNS, "")
        row["patient_id"] = f"P{i + 1:06d}"
        if _maybe(rng, 0.6):
            row["name"] = f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}"
        row["age_years"] = str(int(rng.integers(18, 46)))
        bmi = float(np.clip(rng.normal(21.5, 3.2), 16, 35))
        if _maybe(rng, 0.85):
            row["bmi_kg_m2"] = f"{bmi:.1f}"
        else:  # BMI derived from height and weight
            height = float(np.clip(rng.normal(158, 6), 140, 185))
            row["height_cm"] = f"{height:.1f}"
            row["weight_kg"] = f"{bmi * (height / 100) ** 2:.1f}"
        if _maybe(rng, 0.8):
            gravida = int(rng.integers(1, 5))
            row["gravida"] = str(gravida)
            row["para"] = str(int(rng.integers(0, gravida)))
        if _maybe(rng, 0.7):
            row["smoking"] = str(rng.choice(_SMOKING))
        if _maybe(rng, 0.5):
            row["family_history"] = "yes" if _maybe(rng, 0.1) else "no"
        days = int(np.clip(rng.gamma(1.6, 22.0), 0, 120))
        per_day = rng.uniform(24, 46)
        grams = days * per_day * (1 + rng.normal(0, 0.02)) if days else 0.0
        grams = float(np.clip(grams, 0, 48 * days + 6))
        row["mgso4_days"] = str(days)
        row["mgso4_total_g"] = f"{grams:.0f}"
        hospital = days + int(rng.integers(2, 30))
        if _maybe(rng, 0.9):
            row["hospital_days"] = str(hospital)
        if _maybe(rng, 0.3):
            row["bed_rest_days"] = str(int(rng.integers(0, max(1, days))))
        yam = float(np.clip(rng.normal(96 - grams / 220, 11), 55, 115))
        row["yam_percent"] = f"{yam:.0f}"
        fracture = _maybe(rng, 0.05)
        row["fracture"] = "yes" if fracture else "no"
        if fracture and _maybe(rng, 0.85):
            row["fracture_sites"] = str(rng.choice(_SITES))
        row["dxa_site"] = "L1-L4" if _maybe(rng, 0.8) else ("L2-L4" if _maybe(rng, 0.5) else "")
        if _maybe(rng, 0.6):
            row["bmd_g_cm2"] = f"{1.12 * yam / 100:.3f}"
            row["t_score"] = f"{(yam - 100) / 10.5:.1f}"
            row["z_score"] = f"{(yam - 100) / 11 + 0.2:.1f}"
        if _maybe(rng, 0.75):
            admitted = start + timedelta(days=int(rng.integers(0, 5 * 365)))
            delivered = admitted + timedelta(days=max(0, days + int(rng.integers(-2, 6))))
            row["admission_date"] = admitted.isoformat()
            row["delivery_date"] = delivered.isoformat()
            row["discharge_date"] = (admitted + timedelta(days=hospital)).isoformat()
            if _maybe(rng, 0.8):
                row["dxa_date"] = (delivered + timedelta(days=int(rng.integers(3, 60)))).isoformat()
        if _maybe(rng, 0.4):
            row["breastfeeding"] = "yes" if _maybe(rng, 0.7) else "no"
        if _maybe(rng, 0.3):
            row["vitamin_d_ng_ml"] = f"{float(np.clip(rng.normal(18, 7), 4, 60)):.1f}"
        if _maybe(rng, 0.3):
            row["glucocorticoid"] = "yes" if _maybe(rng, 0.15) else "no"
            row["heparin"] = "yes" if _maybe(rng, 0.1) else "no"
        if _maybe(rng, 0.2):
            row["notes"] = str(rng.choice(_NOTES))
        rows.append(row)
    return rows


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
