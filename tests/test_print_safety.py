"""Print safety (issue 17): a fully populated patient with the longest allowed notes, in the
PDF and in a browser's print of the HTML (headless Chromium): the patient id and name on
every page, and a last page that never holds the sign-off lines alone.

Notes of every length from 0 to the longest allowed in steps of 100 characters: without
``break-before: avoid`` on the sign-off, some of them (400, 600, 7,600 and 7,800 characters
with the first layout; 5,600 and 5,700 after the risk factors became blocks; which ones
depends on every line above) left it alone on the last page."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import EPOCH
from pypdf import PdfReader

from reportgen import api
from reportgen.input_text import MAX_CELL_CHARS

NAME = "Hanako Yamada-Longname"
WORDS = (
    "Back pain since week 30; MgSO4 continued for threatened preterm labour; calcium "
    "checked weekly; physiotherapy advised; breastfeeding planned. "
)
NOTE_LENGTHS = tuple(range(0, MAX_CELL_CHARS + 1, 100))  # 101 reports
FULL = {
    "name": NAME,
    "age_years": "34",
    "bmi_kg_m2": "17.9",
    "height_cm": "158",
    "weight_kg": "44.7",
    "gravida": "3",
    "para": "2",
    "smoking": "during_pregnancy",
    "family_history": "yes",
    "hospital_days": "95",
    "mgso4_days": "85",
    "mgso4_total_g": "3756",
    "yam_percent": "67",
    "fracture": "yes",
    "fracture_sites": "T7;T12",
    "dxa_site": "L1-L4",
    "bmd_g_cm2": "0.702",
    "t_score": "-2.9",
    "z_score": "-2.6",
    "dxa_date": "2020-03-20",
    "delivery_date": "2020-02-01",
    "admission_date": "2019-11-01",
    "discharge_date": "2020-02-04",
    "bed_rest_days": "60",
    "breastfeeding": "yes",
    "vitamin_d_ng_ml": "12",
    "glucocorticoid": "yes",
    "heparin": "yes",
}
SIGN_OFF = {"Reviewed by (name)", "Signature", "Date"}
CHROMIUM = Path("/usr/bin/chromium")


def _pid(length: int) -> str:
    return f"N{length:05d}"


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """Every column filled, notes up to the loader's limit (MAX_CELL_CHARS)."""
    work = tmp_path_factory.mktemp("print")
    source = work / "full.csv"
    with source.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, ["patient_id", *FULL, "notes"], lineterminator="\n")
        writer.writeheader()
        for length in NOTE_LENGTHS:
            notes = (WORDS * (length // len(WORDS) + 1))[:length]
            writer.writerow({"patient_id": _pid(length), **FULL, "notes": notes})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        result = api.build_patient_reports(source, work / "out", formats=("html", "pdf"), workers=2)
    assert result.ok, [str(p) for p in result.problems]
    assert len(result.files) == 2 * len(NOTE_LENGTHS)
    return work / "out"


def _pages(pdf: Path) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(pdf).pages]


def _images_on_last_page(pdf: Path) -> int:
    """Charts are images: content that text extraction does not show. Counted as the page's
    own ``Do`` operators: WeasyPrint shares one resource dictionary (every image) between
    pages, so ``page.images`` lists them on every page."""
    contents = PdfReader(pdf).pages[-1].get_contents()
    return 0 if contents is None else contents.get_data().count(b" Do")


def _content_words(page: str, pid: str) -> list[str]:
    """Words of a page other than the sign-off labels, the running header and the footer
    (text extraction may put them on one line)."""
    for label in SIGN_OFF:
        page = page.replace(label, " ")
    page = re.sub(rf"Patient {re.escape(pid)}[^\n]*", " ", page)
    return re.sub(r"Page \d+ of \d+", " ", page).split()


def _assert_print_safe(pages: list[str], pid: str, images_on_last: int) -> None:
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert f"Patient {pid} · {NAME}" in text, f"page {number} has no patient line"
    last = pages[-1]
    assert all(label in last for label in SIGN_OFF), "the sign-off is not on the last page"
    assert images_on_last or len(_content_words(last, pid)) >= 3, (
        f"the sign-off stands alone:\n{last}"
    )


@pytest.mark.slow
def test_pdf_has_the_patient_on_every_page_and_no_lonely_sign_off(reports):
    failures = []
    for length in NOTE_LENGTHS:
        pdf = reports / f"patient-{_pid(length)}.pdf"
        try:
            _assert_print_safe(_pages(pdf), _pid(length), _images_on_last_page(pdf))
        except AssertionError as exc:
            failures.append(f"notes of {length} characters: {str(exc).splitlines()[0]}")
    assert failures == []


def test_css_string_escapes_anything_an_id_holds():
    from reportgen.render import css_string

    hostile = 'x"; } body { display: none } </style><script>'
    escaped = str(css_string(hostile))
    assert re.fullmatch(r'"[A-Za-z0-9 \\]*"', escaped), escaped


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
@pytest.mark.parametrize("length", [400, MAX_CELL_CHARS])
def test_browser_print_has_the_patient_on_every_page(reports, tmp_path, length):
    """Chromium's own header/footer off (--no-pdf-header-footer), as many users print: the
    id must come from the report's CSS."""
    html = reports / f"patient-{_pid(length)}.html"
    pdf = tmp_path / "printed.pdf"
    process = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            html.as_uri(),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # only the group this test started
            process.wait(timeout=30)
    assert pdf.exists(), "Chromium printed nothing"
    pages = _pages(pdf)
    if shutil.which("pdftotext"):  # poppler keeps Chromium's lines in reading order
        pages = [
            subprocess.run(
                ["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for n in range(1, len(pages) + 1)
        ]
    _assert_print_safe(pages, _pid(length), _images_on_last_page(pdf))
