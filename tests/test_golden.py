"""Golden HTML snapshots: the sample patient (index case 2 from ``input/index_case_2.json``,
and patient 2 of ``input/case_series_2020.csv``) and the cohort summary of the sample, in
English and Japanese, compared byte for byte with ``tests/golden/`` under SOURCE_DATE_EPOCH
(set by ``run_reportgen``). They pin the layout: which blocks, rows, words and classes a report
has and in what order; the PDF is the same HTML (tests on PDF text check content, not lines).

After an intended change, regenerate and review the diff like code::

    REPORTGEN_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_golden.py
    git diff tests/golden/

Charts: the HTML embeds each chart as a base64 PNG (80-100 KB of a 120 KB report). In the
snapshot each ``data:…;base64,…`` URI is replaced by the sha256 and size of its decoded bytes
(``data:image/png;sha256=…;bytes=…``): the comparison stays exact for every image byte, and a
diff stays readable (a changed chart shows as one changed hash, not as kilobytes of base64).
What a chart shows is tested in test_charts.py.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import os
import re
from pathlib import Path

import pytest
from conftest import INDEX_JSON, SAMPLE_CSV, Reportgen

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("REPORTGEN_UPDATE_GOLDEN") == "1"
DIFF_LINES = 60  # a failing test shows this much of the unified diff
_DATA_URI = re.compile(r"data:([\w/+.-]+);base64,([A-Za-z0-9+/=]+)")

# snapshot name -> (reportgen arguments before -o, the file the run writes)
CASES = {
    f"{name}.{lang}.html": ([*args, "--lang", lang], written)
    for lang in ("en", "ja")
    for name, args, written in [
        (
            "patient-2-index",
            ["patient", INDEX_JSON, "--format", "html", "--workers", "1"],
            "patient-2.html",
        ),
        (
            "patient-2-series",
            ["patient", SAMPLE_CSV, "--id", "2", "--format", "html", "--workers", "1"],
            "patient-2.html",
        ),
        ("cohort-summary", ["cohort", SAMPLE_CSV, "--format", "html"], "cohort-summary.html"),
    ]
}


def snapshot(html: bytes) -> bytes:
    """The HTML with each base64 data URI replaced by its media type, sha256 and size."""

    def digest(match: re.Match[str]) -> str:
        data = base64.b64decode(match.group(2))
        return f"data:{match.group(1)};sha256={hashlib.sha256(data).hexdigest()};bytes={len(data)}"

    return _DATA_URI.sub(digest, html.decode("utf-8")).encode("utf-8")


def unified_diff(expected: bytes, actual: bytes, name: str) -> str:
    """The first DIFF_LINES lines of a unified diff from the snapshot to this run."""
    lines = list(
        difflib.unified_diff(
            expected.decode("utf-8").splitlines(),
            actual.decode("utf-8").splitlines(),
            f"tests/golden/{name}",
            "this run",
            lineterm="",
        )
    )
    shown = "\n".join(line[:300] for line in lines[:DIFF_LINES])
    more = len(lines) - DIFF_LINES
    return shown + (f"\n... ({more} more diff lines)" if more > 0 else "")


@pytest.mark.parametrize("name", sorted(CASES))
def test_html_matches_the_golden_snapshot(run_reportgen: Reportgen, tmp_path, name):
    args, written = CASES[name]
    result = run_reportgen(*args, "-o", tmp_path)
    assert result.exit_code == 0, result.stderr
    actual = snapshot((tmp_path / written).read_bytes())
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(actual)
        return
    assert path.exists(), f"no snapshot {path}: run with REPORTGEN_UPDATE_GOLDEN=1 and review it"
    expected = path.read_bytes()
    if actual != expected:
        pytest.fail(
            f"{written} differs from tests/golden/{name}; if the change is intended, run "
            "REPORTGEN_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py and "
            f"review `git diff tests/golden/`.\n{unified_diff(expected, actual, name)}",
            pytrace=False,
        )


def test_snapshot_keeps_image_bytes_exact_and_text_unchanged():
    """The snapshot replaces only data URIs, by a digest of their decoded bytes."""

    def page(png: bytes) -> bytes:
        uri = "data:image/png;base64," + base64.b64encode(png).decode()
        return f'<p>Ä</p><img src="{uri}">'.encode()

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    assert (
        snapshot(page(png))
        == (
            f'<p>Ä</p><img src="data:image/png;sha256={hashlib.sha256(png).hexdigest()};'
            f'bytes={len(png)}">'
        ).encode()
    )
    assert snapshot(page(png[:-1] + b"\x00")) != snapshot(page(png))  # one byte changed


def test_no_snapshot_is_left_without_a_case():
    assert sorted(p.name for p in GOLDEN.glob("*.html")) == sorted(CASES)
