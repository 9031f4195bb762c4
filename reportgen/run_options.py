"""Checks and digests of a run's options, made before OUTDIR is touched; the run's result."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from reportgen.errors import Problem, ReportError
from reportgen.files import FileRefused, read_limited
from reportgen.i18n import check_language
from reportgen.settings import Organisation

FHIR_FORMATS = ("fhir", "fhir-bundle")
# A template folder is a handful of small files; `--template-dir /usr` hashed 715 MB in 50 s.
MAX_TEMPLATE_FILES = 200
MAX_TEMPLATE_BYTES = 16 * 2**20


@dataclass
class RunResult:
    """What a run wrote and what it found wrong; ``ok`` is False when any row failed."""

    outdir: Path
    files: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def generation_time() -> str:
    """``SOURCE_DATE_EPOCH`` (reproducible builds) or now, as an ISO UTC timestamp."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        try:
            moment = datetime.fromtimestamp(int(epoch), UTC)
        except (ValueError, OverflowError, OSError):
            raise ReportError(f"SOURCE_DATE_EPOCH must be whole seconds, not {epoch!r}") from None
    else:
        moment = datetime.now(UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def resolve_language(lang: str | None, org: Organisation) -> str:
    """``--lang`` (checked), else the settings' language (checked when read)."""
    return org.report_language if lang is None else check_language(lang)


def check_fhir_options(doc_status: str, fhir_profile: str) -> None:
    """A :class:`ReportError` for an unknown FHIR docStatus or profile."""
    from reportgen.fhir_codes import DOC_STATUSES, PROFILES

    if doc_status not in DOC_STATUSES:
        raise ReportError(
            f"doc_status must be one of {', '.join(DOC_STATUSES)}, not {doc_status!r}"
        )
    if fhir_profile not in PROFILES:
        raise ReportError(
            f"fhir_profile must be one of {', '.join(PROFILES)}, not {fhir_profile!r}"
        )


def fhir_settings_problems(
    org: Organisation, settings_path: Path | str | None, formats: Sequence[str], *, strict: bool
) -> list[Problem]:
    """A warning per FHIR placeholder the settings leave in place; refuse them when strict."""
    if not set(FHIR_FORMATS) & set(formats) or not org.fhir_gaps:
        return []
    source = str(settings_path) if settings_path else "(no --settings)"
    if strict:
        raise ReportError(
            f"{source}: FHIR output needs [organisation] "
            + "; ".join(org.fhir_gaps)
            + " (--strict)"
        )
    return [
        Problem(source, 0, "organisation", f"FHIR placeholder: set {gap}", "warning")
        for gap in org.fhir_gaps
    ]


def options_digest(template_dir: Path | str | None, settings_path: Path | str | None) -> str:
    """What else shapes a report: the override templates' and the settings' bytes."""
    digest = hashlib.sha256()
    paths = _template_files(Path(template_dir)) if template_dir else []
    for path in [*paths, *([Path(settings_path)] if settings_path else [])]:
        try:
            data = read_limited(path, MAX_TEMPLATE_BYTES)
        except FileRefused:
            continue  # not a regular file: a template loader cannot use it either
        digest.update(str(path).encode("utf-8", "surrogatepass") + data)
    return digest.hexdigest()


def check_template_dir(template_dir: Path | str | None) -> None:
    """Every ``.html`` template of a user folder is UTF-8 and parses as Jinja: a mistake is
    named once, with its file and line, before OUTDIR is touched (it was "report not made" on
    every patient's row)."""
    if template_dir is None:
        return
    from jinja2 import Environment, TemplateSyntaxError

    env = Environment(extensions=["jinja2.ext.i18n"])
    for path in _template_files(Path(template_dir)):
        if path.suffix.lower() != ".html":
            continue
        try:
            env.parse(read_limited(path, MAX_TEMPLATE_BYTES).decode("utf-8"))
        except FileRefused:
            continue  # not a regular file: the loader cannot use it either
        except UnicodeDecodeError:
            raise ReportError(f"{path}: a template must be UTF-8 text") from None
        except TemplateSyntaxError as exc:
            raise ReportError(f"{path}:{exc.lineno}: template error: {exc.message}") from None


def _template_files(root: Path) -> list[Path]:
    """The files under ``root`` (links to folders not followed), refused past the limits."""
    found: list[Path] = []
    total = 0
    for folder, subdirs, names in os.walk(root):
        subdirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            try:
                total += path.lstat().st_size
            except OSError:
                continue
            found.append(path)
            if len(found) > MAX_TEMPLATE_FILES or total > MAX_TEMPLATE_BYTES:
                raise ReportError(
                    f"{root}: more than {MAX_TEMPLATE_FILES} files or "
                    f"{MAX_TEMPLATE_BYTES // 2**20} MiB; --template-dir must be "
                    "a folder of templates only"
                )
    return found
