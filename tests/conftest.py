"""Shared fixtures: paths to the sample and test inputs, the rule set, the ``reportgen``
command (``run_reportgen``), synthetic cohorts and the hypothesis profiles."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

from reportgen.cli import cli
from reportgen.rules import RuleSet, load_rules

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SAMPLE_CSV = ROOT / "input" / "case_series_2020.csv"
INDEX_JSON = ROOT / "input" / "index_case_2.json"
EPOCH = "1704067200"  # SOURCE_DATE_EPOCH of every CLI run: 2024-01-01T00:00:00Z

# Hypothesis profiles: "fast" (at most FAST_EXAMPLES examples a test) in the fast run,
# ``pytest`` with the default ``-m "not slow"``; "full" in any other run, as ``scripts/test``'s
# ``-m "slow or not slow"``. REPORTGEN_HYPOTHESIS=fast|full chooses by hand. No deadline in
# either: timing is not a test's business here (benchmarks/ checks it).
FAST_EXAMPLES = 10
settings.register_profile("fast", max_examples=FAST_EXAMPLES, deadline=None)
settings.register_profile("full", deadline=None)

# The seed's Table 1 (Iio et al., J Med Cases 2022;13:47), typed in from the paper, not from
# the sample file: case -> (MgSO4 days, cumulative g, YAM %, fracture).
SEED_TABLE1 = {
    "1": (37, 1260, 62, False),
    "2": (85, 3756, 67, True),
    "3": (58, 2484, 73, False),
    "4": (36, 1464, 75, False),
    "5": (57, 2556, 84, False),
    "6": (13, 336, 87, False),
    "7": (14, 168, 89, False),
    "8": (11, 456, 91, False),
    "9": (31, 1488, 99, False),
}

MINIMAL_COLUMNS = [
    "patient_id",
    "age_years",
    "bmi_kg_m2",
    "mgso4_days",
    "mgso4_total_g",
    "yam_percent",
    "fracture",
]


@pytest.fixture(scope="session", autouse=True)
def _plate_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Chart plates are cached in a temporary directory, never in the user's (issue 19);
    subprocesses inherit it."""
    saved = os.environ.get("REPORTGEN_CACHE_DIR")
    os.environ["REPORTGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("reportgen-cache"))
    yield
    if saved is None:
        del os.environ["REPORTGEN_CACHE_DIR"]
    else:
        os.environ["REPORTGEN_CACHE_DIR"] = saved


class Reportgen:
    """The ``reportgen`` command as tests run it, with SOURCE_DATE_EPOCH set (``EPOCH``).

    Calling it runs the CLI in this process (Click's runner: fast; ``stdout``, ``stderr`` and
    ``output`` kept apart). ``subprocess`` runs the installed command in a fresh interpreter,
    for what only a real process shows (exit on a signal, pipes, start-up); ``command`` and
    ``environ`` build the same run for a ``subprocess.Popen`` of a test's own.
    """

    def __call__(
        self,
        *args: object,
        env: Mapping[str, str | None] | None = None,
        input: str | bytes | None = None,  # noqa: A002 (CliRunner's name)
        traceback_expected: bool = False,
    ) -> Result:
        """Run ``reportgen ARGS`` in this process. An uncaught exception, an exit status other
        than 0, 1 or 2, or a traceback in the output fails the test (unless
        ``traceback_expected``, for ``-v``): a traceback is a bug, never a message."""
        result = CliRunner().invoke(
            cli,
            [str(a) for a in args],
            env={"SOURCE_DATE_EPOCH": EPOCH, **(env or {})},
            input=input,
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(
                "uncaught " + "".join(traceback.format_exception(result.exception))
            ) from result.exception
        assert result.exit_code in (0, 1, 2), result.output
        if not traceback_expected:
            assert "Traceback" not in result.output, result.output
        return result

    def command(self, *args: object) -> list[str]:
        """The argv of ``reportgen ARGS``: the installed script, else ``python -m reportgen``."""
        script = Path(sys.executable).with_name("reportgen")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "reportgen"]
        return [*command, *map(str, args)]

    def environ(self, **extra: str) -> dict[str, str]:
        """This process's environment with SOURCE_DATE_EPOCH set, and ``extra``."""
        return {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, **extra}

    def popen(self, *args: object, env: Mapping[str, str] | None = None, **options: Any) -> Popen:
        """Start ``reportgen ARGS`` (stdin closed); ``options`` go to ``subprocess.Popen``
        (stdout, stderr, start_new_session ...). The caller waits for it, or kills it."""
        return subprocess.Popen(
            self.command(*args),
            env=self.environ(**(env or {})),
            stdin=subprocess.DEVNULL,
            **options,
        )

    def subprocess(
        self, *args: object, timeout: float = 600, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``reportgen ARGS`` in a fresh process (stdin closed, stdout/stderr captured as
        text, not a terminal); ``env`` adds to the environment."""
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env=self.environ(**env),
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture(scope="session")
def run_reportgen() -> Reportgen:
    """The ``reportgen`` command: ``run_reportgen("validate", path)`` in this process,
    ``run_reportgen.subprocess(...)`` in a fresh one (see ``Reportgen``)."""
    return Reportgen()


def pytest_configure(config: pytest.Config) -> None:
    """Load the hypothesis profile before the test modules (and their decorators) are read."""
    fast_run = config.getoption("markexpr") == "not slow"
    _PROFILE[0] = os.environ.get("REPORTGEN_HYPOTHESIS", "fast" if fast_run else "full")
    settings.load_profile(_PROFILE[0])


_PROFILE = ["full"]


def examples(full: int) -> int:
    """``max_examples`` for a property test that wants ``full`` examples: all of them in the
    full run, at most FAST_EXAMPLES in the fast run."""
    return min(full, FAST_EXAMPLES) if _PROFILE[0] == "fast" else full


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    """The shipped rule set (jos2012)."""
    return load_rules()


@pytest.fixture(scope="session")
def rules_jos2000() -> RuleSet:
    """The shipped rule set with the 2000 criteria (osteoporosis at YAM < 70 %)."""
    return load_rules(criteria="jos2000")


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write ``rows`` (lists of cells) under ``header`` to a CSV in tmp_path; returns its path."""

    def write(
        rows: list[list[object]], header: list[str] | None = None, name: str = "input.csv"
    ) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(header or MINIMAL_COLUMNS)
            writer.writerows(rows)
        return path

    return write


def base_record(**values: object) -> dict[str, object]:
    """A valid plain record (normal bone status, no flags fired) with ``values`` overriding."""
    record: dict[str, object] = {
        "patient_id": "t1",
        "age_years": 30,
        "bmi_kg_m2": 22.0,
        "mgso4_days": 3,
        "mgso4_total_g": 100.0,
        "yam_percent": 95.0,
        "fracture": False,
        "smoking": "never",
        "family_history": False,
    }
    record.update(values)
    return record


SYNTHETIC_COLUMNS = [*MINIMAL_COLUMNS, "notes"]


def write_cohort(path: Path, count: int) -> Path:
    """A valid synthetic cohort of ``count`` patients P000, P001, ... (varied values, a note
    each) as CSV at ``path``; for batch, crash and operability drills."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(SYNTHETIC_COLUMNS)
        for i in range(count):
            writer.writerow(
                [
                    f"P{i:03d}",
                    20 + i % 20,
                    f"{18 + i % 7}.5",
                    5 + i % 50,
                    100 + 37 * i,
                    60 + i % 40,
                    "yes" if i % 9 == 0 else "no",
                    f"note {i}",
                ]
            )
    return path


def group_alive(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in process group ``pgid`` (a run and its workers)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def words_in_order(text: str, *phrases: str) -> bool:
    """Whether the words of ``phrases`` occur in ``text`` in this order, whatever the line
    breaks and spacing between them: a content check on extracted PDF text that does not pin
    how a line wraps (the layout is pinned by the golden HTML, tests/test_golden.py)."""
    position = 0
    for word in " ".join(phrases).split():
        position = text.find(word, position)
        if position < 0:
            return False
        position += len(word)
    return True
