"""Bounded memory and time (issue 16, class 1): every attack input runs in a child process
under ``RLIMIT_AS`` = 1 GiB, so a regression fails with MemoryError instead of exhausting the
machine, and must end with a clean result or a located refusal (in seconds: checked by
benchmarks/check_timing.py, not here).

Before issue 16 (same inputs, ``reportgen validate``, capped at 3 GiB): the 100,000-row CSV
with one 9,999-character note asked for 3.7 GiB; 60,000 distinct numbers plus one 9,999-digit
cell 2.2 GiB; a 4.7 KB XLSX with a cell at XFD20000 2.6 GB and 15 s; a 200 KB XLSX with a
200 MB shared string 2.1 GB; 1.1 M rows of XLSX 30 s before the row limit; 1,000,000 rows of
junk 130 s and > 2 GB of problems. Figures after: docs/decisions.md, "Hostile input II".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Reportgen
from hostile.corpus import VALID, Entry, memory_attacks

from reportgen import input_text, loaders
from reportgen.errors import InputError

LIMIT_BYTES = 2**30  # RLIMIT_AS for the child: the 1 GB promise
PEAK_LIMIT_KB = 1_000_000  # and its peak RSS stays under 1 GB

_CHILD = """
import json, resource, subprocess, sys
limit = int(sys.argv[1])
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
done = subprocess.run(sys.argv[2:], capture_output=True, text=True, preexec_fn=cap,
                      timeout=300)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps([done.returncode, done.stdout, done.stderr, peak]))
"""


def run_limited(run_reportgen: Reportgen, *args: object) -> tuple[int, str, str, int]:
    """``reportgen ARGS`` under RLIMIT_AS, through a wrapper that sets the limit and reads the
    peak RSS (what ``run_reportgen.subprocess`` cannot give): (status, stdout, stderr, peak RSS
    KB). How long it takes is checked by benchmarks/check_timing.py (a refusal "in seconds")."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(LIMIT_BYTES), *run_reportgen.command(*args)],
        capture_output=True,
        text=True,
        env=run_reportgen.environ(),
        timeout=400,
        check=True,
    )
    status, out, err, peak = json.loads(done.stdout)
    return status, out, err, peak


@pytest.fixture(scope="module")
def attacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Entry]]:
    """The attack files, written once (generating them takes ~10 s)."""
    directory = tmp_path_factory.mktemp("memory")
    found = {}
    for entry in memory_attacks():
        path = directory / entry.name
        path.write_bytes(entry.data)
        found[entry.name] = (path, Entry(entry.name, b"", entry.valid))
    return found


def _entries() -> list:
    names = [
        "long_note_100k.csv",
        "long_junk_number.csv",
        "cell_at_xfd20000.xlsx",
        "rows_1100000.xlsx",
        "shared_string_200mb.xlsx",
        "shared_string_40mb.xlsx",
    ]
    return [pytest.param(name, id=name) for name in names]


@pytest.mark.slow
@pytest.mark.parametrize("name", _entries())
def test_attack_stays_under_one_gigabyte(run_reportgen, attacks, name):
    path, entry = attacks[name]
    status, out, err, peak = run_limited(run_reportgen, "validate", path)
    assert "Traceback" not in err, err[-2000:]
    assert peak < PEAK_LIMIT_KB, f"peak RSS {peak} KB"
    if entry.valid:
        assert status == 0, out + err
        assert err.strip() == f"{path}: OK"
    else:
        assert status == 1, out + err
        first = out.splitlines()[0]
        assert first.startswith(f"{path}:0:-: " if entry.valid is None else f"{path}:"), first


def _csv(path: Path, header: list[str], rows: int, cell: str) -> Path:
    line = ",".join([cell] * len(header)) + "\n"
    with path.open("w", encoding="utf-8") as stream:
        stream.write(",".join(header) + "\n")
        for _ in range(rows):
            stream.write(line)
    return path


@pytest.mark.slow
def test_a_million_rows_of_junk_are_refused_quickly(run_reportgen, tmp_path):
    """Every cell wrong: refused once past MAX_PROBLEMS, not listed a million times."""
    path = _csv(tmp_path / "junk.csv", list(VALID), 1_000_000, "abc")
    status, out, err, peak = run_limited(run_reportgen, "validate", path)
    assert status == 1, err[-2000:]
    assert out.startswith(f"{path}:0:-: more than 100,000 problems, the first: row 2, ")
    assert peak < PEAK_LIMIT_KB


@pytest.mark.slow
def test_too_many_cells_are_refused_before_parsing(run_reportgen, tmp_path):
    columns = [f"c{i}" for i in range(100)]
    path = _csv(tmp_path / "wide.csv", columns, input_text.MAX_CELLS // 100 + 1, "1")
    status, out, err, peak = run_limited(run_reportgen, "validate", path)
    assert status == 1, err[-2000:]
    assert out.startswith(f"{path}:0:-: 100 columns × ")
    assert f"the limit is {input_text.MAX_CELLS:,} cells" in out
    assert peak < PEAK_LIMIT_KB


@pytest.mark.slow
def test_json_with_millions_of_values_is_refused_before_parsing(run_reportgen, tmp_path):
    path = tmp_path / "ones.json"
    path.write_bytes(b"[" + b",".join([b"{}"] * (input_text.MAX_JSON_VALUES + 1)) + b"]")
    status, out, err, peak = run_limited(run_reportgen, "validate", path)
    assert status == 1, err[-2000:]
    assert out.startswith(f"{path}:0:-: about ")
    assert peak < PEAK_LIMIT_KB


def test_a_wide_header_is_refused(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(input_text.MAX_COLUMNS + 1)) + "\n1\n", "utf-8")
    with pytest.raises(InputError, match=r":0:-: 1,001 columns; the limit is 1,000"):
        loaders.load_table(path)


def test_xlsx_cell_limit_is_checked_while_streaming():
    from hostile.corpus import to_xlsx

    from reportgen.xlsx import XlsxRefused, read_xlsx

    data = to_xlsx([{"patient_id": f"p{i}", **VALID} for i in range(3)])
    assert (
        len(
            read_xlsx(
                data, None, max_rows=10, max_columns=10, max_cell_chars=100, max_cells=100
            ).rows
        )
        == 4
    )
    with pytest.raises(XlsxRefused, match=r"more than 20 cells"):
        read_xlsx(data, None, max_rows=10, max_columns=10, max_cell_chars=100, max_cells=20)
