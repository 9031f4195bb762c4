"""Timing guards moved out of the test suite (issue 18): each a bound, not a benchmark.

The tests check what these runs produce; how long they take is checked here, where a slow
shared machine gives a clear "over the limit" line instead of a flaky test:

    .venv/bin/python benchmarks/check_timing.py            # every check (about 2-4 min)
    .venv/bin/python benchmarks/check_timing.py --only assess_frame --only summarise_cohort

Checks (wall time; limits as the tests had them):

- ``assess_frame`` on 100,000 rows <= 5 s (was tests/test_risk.py);
- ``summarise_cohort`` on 100,000 rows <= 10 s, scipy warmed (was tests/test_summary.py);
- ``reportgen cohort`` of 10,000 rows, html+pdf+json, a fresh process <= 60 s
  (was tests/test_cohort_report.py);
- ``reportgen validate`` of each memory-attack input under RLIMIT_AS = 1 GiB <= 60 s: a
  refusal "in seconds" (was tests/test_memory_limits.py, which still checks peak memory and
  the refusal itself).

Exit status 1 if any check is over its limit.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))  # tests/hostile: the attack corpus

import synth  # noqa: E402  (sibling script, not a package)

EPOCH = "1704067200"
T = TypeVar("T")
LIMIT_AS_BYTES = 2**30


def _timed(work: Callable[[], T]) -> tuple[T, float]:
    """What ``work()`` returns, and the wall seconds it took."""
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def _assessed(scratch: Path, n: int):
    from reportgen.api import load_input
    from reportgen.frame_assess import assess_frame
    from reportgen.rules import load_rules

    table = load_input(synth.write_csv(scratch / f"synthetic-{n}.csv", n))
    return assess_frame, table.frame[table.valid], load_rules()


def check_assess_frame(scratch: Path) -> list[tuple[str, float, float]]:
    assess_frame, frame, rules = _assessed(scratch, 100_000)
    _, seconds = _timed(lambda: assess_frame(frame, rules))
    return [("assess_frame, 100,000 rows", seconds, 5.0)]


def check_summarise_cohort(scratch: Path) -> list[tuple[str, float, float]]:
    from reportgen.summary import summarise_cohort

    assess_frame, frame, rules = _assessed(scratch, 100_000)
    assessed = assess_frame(frame, rules)
    summarise_cohort(assessed.iloc[:50])  # scipy's lazy imports outside the timing
    _, seconds = _timed(lambda: summarise_cohort(assessed))
    return [("summarise_cohort, 100,000 rows", seconds, 10.0)]


def _reportgen(*args: object, limit_as: bool = False) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("reportgen")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "reportgen"]

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS_BYTES, LIMIT_AS_BYTES))

    return subprocess.run(
        [*command, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH},
        preexec_fn=cap if limit_as else None,
        timeout=900,
        check=False,
    )


def check_big_cohort(scratch: Path) -> list[tuple[str, float, float]]:
    source = synth.write_csv(scratch / "cohort-10000.csv", 10_000)
    outdir = scratch / "cohort-out"
    done, seconds = _timed(
        lambda: _reportgen("cohort", source, "-o", outdir, "--format", "html,pdf,json")
    )
    if done.returncode != 0:
        raise SystemExit(f"reportgen cohort failed:\n{done.stderr[-2000:]}")
    return [("reportgen cohort, 10,000 rows, html+pdf+json (cold)", seconds, 60.0)]


def check_memory_attacks(scratch: Path) -> list[tuple[str, float, float]]:
    from hostile.corpus import memory_attacks

    found = []
    for entry in memory_attacks():
        path = scratch / entry.name
        path.write_bytes(entry.data)
        done, seconds = _timed(lambda p=path: _reportgen("validate", p, limit_as=True))
        if "Traceback" in done.stderr:
            raise SystemExit(f"validate {entry.name} crashed:\n{done.stderr[-2000:]}")
        found.append((f"reportgen validate {entry.name} (1 GiB address space)", seconds, 60.0))
        path.unlink()
    junk = scratch / "junk-1000000.csv"  # every cell wrong: refused past MAX_PROBLEMS
    with junk.open("w", encoding="utf-8") as stream:
        stream.write(
            "patient_id,age_years,bmi_kg_m2,mgso4_days,mgso4_total_g,yam_percent,fracture\n"
        )
        stream.writelines("abc,abc,abc,abc,abc,abc,abc\n" for _ in range(1_000_000))
    _, seconds = _timed(lambda: _reportgen("validate", junk, limit_as=True))
    found.append(
        ("reportgen validate, 1,000,000 rows of junk (1 GiB address space)", seconds, 60.0)
    )
    return found


CHECKS = {
    "assess_frame": check_assess_frame,
    "summarise_cohort": check_summarise_cohort,
    "big_cohort": check_big_cohort,
    "memory_attacks": check_memory_attacks,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(CHECKS), help="run only this")
    options = parser.parse_args()
    over = 0
    with tempfile.TemporaryDirectory(prefix="reportgen-timing-") as scratch:
        for name in options.only or list(CHECKS):
            for label, seconds, limit in CHECKS[name](Path(scratch)):
                verdict = "ok" if seconds <= limit else "OVER THE LIMIT"
                over += seconds > limit
                print(f"{label:<70} {seconds:7.2f} s  (limit {limit:g} s)  {verdict}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
