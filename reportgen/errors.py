"""The exceptions a user can cause; the CLI turns them into one-line messages."""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

WITHHELD_SOURCE = "(file name withheld: --deidentify)"
# More problems than this in one file is the wrong file, delimiter or encoding, not data to
# list: 1,000,000 rows of junk made 5,000,000 problems, 130 s and > 2 GB (issue 16).
MAX_PROBLEMS = 100_000
_QUOTED_VALUE = re.compile(r""":\s*(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*$""")


@dataclass(frozen=True, order=True, slots=True)
class Problem:
    """One located input problem: ``INPUT:ROW:COLUMN: message``.

    ``row`` is the spreadsheet row (header = 1, first patient = 2) or, for JSON,
    the list position from 1; 0 means the file as a whole.
    """

    input: str
    row: int
    column: str
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.input}:{self.row}:{self.column}: {prefix}{self.message}"

    @property
    def order(self) -> tuple[int, bool, list[str | int]]:
        """Row, errors before warnings, then column with numbers in number order
        (``infusions[2]`` before ``infusions[10]``)."""
        parts = re.split(r"(\d+)", self.column)
        return self.row, self.severity != "error", [int(p) if p.isdigit() else p for p in parts]

    def redacted(self) -> Problem:
        """The problem without the offending cell value or the file name (--deidentify)."""
        return replace(self, input=WITHHELD_SOURCE, message=_QUOTED_VALUE.sub("", self.message))

    def as_dict(self) -> dict[str, object]:
        return {
            "input": self.input,
            "row": self.row,
            "column": self.column,
            "message": self.message,
            "severity": self.severity,
        }


class ProblemList:
    """``errors`` and ``warnings`` of a result holding ``problems``."""

    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


class ReportError(Exception):
    """A problem the user can fix; shown as ``Error: ...``, exit status 1."""


class InputError(ReportError):
    """The input file is missing, unreadable, too large, or not a table."""


class TooManyProblems(InputError):
    """A file with more than :data:`MAX_PROBLEMS` problems is refused as a whole."""

    def __init__(self, source: str, first: Problem):
        super().__init__(
            str(
                Problem(
                    source,
                    0,
                    "-",
                    f"more than {MAX_PROBLEMS:,} problems, the first: row {first.row}, "
                    f"{first.column}: {first.message}; is this the right file, --delimiter and "
                    "--encoding?",
                )
            )
        )


def check_problem_count(problems: list[Problem], source: str, more: int = 0) -> None:
    """Raise :class:`TooManyProblems` when ``problems`` (plus ``more`` to come) is too many."""
    if problems and len(problems) + more > MAX_PROBLEMS:
        raise TooManyProblems(source, min(problems))


class RulesError(ReportError):
    """A rules file is unreadable, has unknown keys or nonsensical thresholds."""


class OutputError(ReportError):
    """The output directory cannot be written safely (existing files, collisions)."""


class RenderError(ReportError):
    """A report could not be rendered (template error, blocked resource)."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or SIGINT) stopped a run; the CLI exits 128 + ``signum`` (143, 130).

    A ``KeyboardInterrupt`` so that everything that cleans up after Ctrl-C cleans up after a
    ``kill`` too."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signum)


def bug_summary(exc: BaseException) -> str:
    """``internal error (ValueError at patient.py:301)``: where a bug struck, without its
    message (which may quote patient data)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"internal error ({type(exc).__name__}{where})"
