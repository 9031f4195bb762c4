"""The status box's left bar keeps the colour of the bone status that matters most.

A low Z-score (ISCD "below the expected range for age") turns the bar amber on a normal or
low-bone-mass result, but never hides the red of osteoporosis (a clinical-review finding:
the amber rule used to win over the red one by source order)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
from PIL import Image

RED = (0xB0, 0x3A, 0x2E)  # templates/report.css .summary.osteoporosis
AMBER = (0xA8, 0x64, 0x00)  # .summary.iscd-below
pytestmark = pytest.mark.slow


def _tallest_bar(png: Path) -> tuple[int, tuple[int, int, int] | None]:
    """The tallest vertical run of one of the two colours in the page's left quarter."""
    image = Image.open(png).convert("RGB")
    width, height = image.size
    pixels = image.load()
    best: tuple[int, tuple[int, int, int] | None] = (0, None)
    for colour in (RED, AMBER):
        for x in range(width // 4):
            run = 0
            for y in range(height):
                if all(abs(a - b) < 25 for a, b in zip(pixels[x, y], colour, strict=True)):
                    run += 1
                    best = max(best, (run, colour), key=lambda b: b[0])
                else:
                    run = 0
    return best


@pytest.mark.parametrize(
    ("yam", "colour"), [("65", RED), ("75", AMBER), ("90", AMBER)], ids=["op", "lbm", "normal"]
)
def test_status_bar_colour_with_a_low_z_score(run_reportgen, tmp_path, yam, colour):
    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            ["patient_id", "age_years", "bmi_kg_m2", "mgso4_days", "mgso4_total_g"]
            + ["yam_percent", "z_score", "fracture"]
        )
        writer.writerow(["p", "31", "21", "20", "900", yam, "-2.5", "no"])
    result = run_reportgen("-q", "patient", source, "-o", tmp_path / "out", "--format", "pdf")
    assert result.exit_code == 0, result.output
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "50",
            "-f",
            "1",
            "-l",
            "1",
            "-png",
            str(tmp_path / "out" / "patient-p.pdf"),
            str(tmp_path / "page"),
        ],
        check=True,
    )
    height, found = _tallest_bar(tmp_path / "page-1.png")
    assert height >= 60  # the status box's bar, not a badge
    assert found == colour
