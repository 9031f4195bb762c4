"""Organisation settings (name, department, address, logo, identifier system) from TOML.

The file holds one table, ``[organisation]``; see ``input/settings.example.toml`` and
``docs/pdf-and-fhir.md``. Every mistake (unknown table or key, a value that is not text, a
missing or unreadable logo, an identifier system that is not a URI) is a :class:`ReportError`
naming the file, so the CLI exits 1 with a one-line message.
"""

from __future__ import annotations

import base64
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from reportgen.errors import ReportError
from reportgen.files import FileRefused, read_limited
from reportgen.i18n import CALENDARS, LANGUAGES, N_
from reportgen.input_text import CONTROL
from reportgen.printable import unprintable

SECTION = "organisation"
DXA_SECTION = "dxa"  # facility precision per site and reference name: reportgen.followup
_LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_LOGO_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_MAX_LOGO_BYTES = 512 * 1024
_MAX_SETTINGS_BYTES = 64 * 1024
# An absolute URI (RFC 3986 scheme, then no white space): FHIR Identifier.system is a uri.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
# A BCP 47 language tag, simplified (primary language and subtags): "en", "en-GB", "ja-JP".
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True)
class Organisation:
    """Shown in every report header; ``identifier_system`` is used for FHIR subjects."""

    name: str = N_("reportgen — organisation not configured")  # translated when shown
    department: str = ""
    address: str = ""
    logo: str = ""  # data: URI, never a path or URL (the renderer fetches nothing)
    identifier_system: str = "urn:reportgen:patient-id"
    language: str = "en"  # the report language (en or ja, region subtags kept: en-GB)
    calendar: str = "gregorian"  # Japanese dates: "gregorian" 2025年4月1日, "japanese" 令和7年
    # "<system>|<value>" of the organisation on the receiving FHIR server (author, custodian)
    organisation_identifier: str = ""

    @property
    def report_language(self) -> str:
        """``en`` or ``ja``: the language of the words (``language`` is the document tag)."""
        return self.language.split("-", 1)[0].lower()

    @property
    def configured(self) -> bool:
        """False while the default placeholder name is in use (shown muted)."""
        return self.name != Organisation.name

    @property
    def fhir_gaps(self) -> list[str]:
        """What FHIR output would fill with placeholders (empty when fully configured)."""
        gaps = []
        if self.identifier_system == Organisation.identifier_system:
            gaps.append(
                "identifier_system (patients would be identified by "
                f"{Organisation.identifier_system!r}, not your MRN system)"
            )
        if not self.configured:
            gaps.append("name (the organisation is 'not configured')")
        if not self.organisation_identifier:
            gaps.append("organisation_identifier (author and custodian would be a name only)")
        return gaps


_KEYS = {f.name for f in fields(Organisation)}


# Tables read by other modules: [labs.<test>] reference intervals (reportgen.labs).
OTHER_TABLES = ("labs",)


def load_settings(path: Path | str | None) -> Organisation:
    """Read ``[organisation]`` from a TOML file; defaults when ``path`` is None."""
    if path is None:
        return Organisation()
    path = Path(path)
    try:
        document = tomllib.loads(read_limited(path, _MAX_SETTINGS_BYTES).decode("utf-8"))
    except (FileRefused, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReportError(f"{path}: cannot read settings ({exc})") from None
    except RecursionError:
        raise ReportError(f"{path}: cannot read settings (nested too deeply)") from None
    unknown = set(document) - {SECTION, DXA_SECTION, *OTHER_TABLES}
    if unknown:
        raise ReportError(
            f"{path}: unknown settings table(s) or key(s): "
            f"{', '.join(sorted(unknown))} (expected [{SECTION}], [{DXA_SECTION}]"
            f"{''.join(f', [{t}]' for t in OTHER_TABLES)})"
        )
    other = DXA_SECTION in document or bool(set(document) & set(OTHER_TABLES))
    section = document.get(SECTION, {} if other else None)
    if not isinstance(section, dict):
        raise ReportError(f"{path}: no [{SECTION}] table")
    unknown = set(section) - _KEYS
    if unknown:
        raise ReportError(
            f"{path}: unknown settings key(s): {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(_KEYS))})"
        )
    values = {}
    for key, value in section.items():
        if not isinstance(value, str):
            raise ReportError(
                f"{path}: {SECTION}.{key} must be a string, not {type(value).__name__}"
            )
        values[key] = value.strip()
        if CONTROL.search(value) or (key != "logo" and unprintable(value)):
            raise ReportError(
                f"{path}: {SECTION}.{key} has control characters or characters the report "
                "fonts cannot print (such as emoji, Hangul or Thai)"
            )
    _check_values(values, path)
    if values.get("logo"):
        values["logo"] = _logo_data_uri(path.parent / values["logo"], path)
    return Organisation(**values)


def with_language(org: Organisation, lang: str | None) -> Organisation:
    """``org`` with the report language ``lang`` (``--lang``), or as its settings say."""
    if lang is None or org.report_language == lang:
        return org
    return replace(org, language=lang)


def _check_values(values: dict[str, str], path: Path) -> None:
    if "name" in values and not values["name"]:
        raise ReportError(f"{path}: {SECTION}.name must not be empty")
    system = values.get("identifier_system")
    if system is not None and not _URI.fullmatch(system):
        raise ReportError(
            f"{path}: {SECTION}.identifier_system must be an absolute URI "
            f"(e.g. https://hospital.example.org/fhir/sid/mrn), not {system!r}"
        )
    org_id = values.get("organisation_identifier")
    if org_id:
        system, _, value = org_id.partition("|")
        if not _URI.fullmatch(system) or not value.strip():
            raise ReportError(
                f"{path}: {SECTION}.organisation_identifier must be "
                f"'<system URI>|<value>', not {org_id!r}"
            )
    language = values.get("language")
    if language is not None and not (
        _LANGUAGE.fullmatch(language) and language.split("-", 1)[0].lower() in LANGUAGES
    ):
        raise ReportError(
            f"{path}: {SECTION}.language must be one of {', '.join(LANGUAGES)} "
            f"(or a tag of them such as 'en-GB', 'ja-JP'), not {language!r}"
        )
    calendar = values.get("calendar")
    if calendar is not None and calendar not in CALENDARS:
        raise ReportError(
            f"{path}: {SECTION}.calendar must be one of {', '.join(CALENDARS)} "
            f"(japanese: 令和7年4月1日 in Japanese reports), not {calendar!r}"
        )


def _logo_data_uri(logo: Path, settings_path: Path) -> str:
    kind = _LOGO_TYPES.get(logo.suffix.lower())
    if kind is None:
        raise ReportError(f"{settings_path}: logo must be PNG or JPEG, not {logo.suffix!r}")
    try:  # checked before reading: /dev/zero, a FIFO or a 5 GB file (issue 16)
        data = read_limited(logo, _MAX_LOGO_BYTES)
    except FileRefused as exc:
        if "the limit is" in str(exc) or "more than" in str(exc):
            raise ReportError(
                f"{settings_path}: logo larger than {_MAX_LOGO_BYTES // 1024} KiB"
            ) from None
        raise ReportError(f"{settings_path}: cannot read logo {logo} ({exc})") from None
    if not data.startswith(_LOGO_MAGIC[kind]):
        raise ReportError(f"{settings_path}: logo {logo} is not a {kind} file")
    _check_image(data, logo, settings_path)
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


_MAX_LOGO_PIXELS = 4000 * 4000  # a 20,000 × 20,000 PNG of 48 KB took a run to 441 MB


def _check_image(data: bytes, logo: Path, settings_path: Path) -> None:
    """The logo decodes whole and is at most 16 megapixels: a damaged or a bomb image failed
    every patient's PDF, each blamed on her data row, with a base64 dump in the message."""
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > _MAX_LOGO_PIXELS:
                    raise ReportError(
                        f"{settings_path}: logo {logo} is {image.width} × {image.height} pixels; "
                        "at most 4,000 × 4,000"
                    )
                image.verify()  # every chunk and checksum (load() can be told to
                # accept truncated files, process-wide: ImageFile.LOAD_TRUNCATED_IMAGES)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ReportError(
            f"{settings_path}: logo {logo} has too many pixels; at most 4,000 × 4,000"
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise ReportError(f"{settings_path}: logo {logo} is damaged (cannot be decoded)") from None


@dataclass(frozen=True)
class DxaSettings:
    """``[dxa]``: the facility's precision error (% CV) per site and its reference database."""

    precision_percent: tuple[tuple[str, float], ...] = ()  # (canonical site, %), sorted
    reference: str = ""  # e.g. "JSBMR/JOS Japanese female reference (Hologic)"

    def precision(self, site: str) -> float | None:
        """The facility's precision at ``site``, or None (the ISCD default applies)."""
        return dict(self.precision_percent).get(site)


_DXA_KEYS = {"precision_percent", "reference"}
MAX_PRECISION_PCT = 10.0  # a precision error above 10 % is a typo (ISCD minimum: ≤ 2.5 %)
# Below 0.1 % is a typo too (the best spine precision reported is about 0.5–1 %), and its LSC
# (2.77 × p, one decimal) would round to 0: every difference, none included, "significant".
MIN_PRECISION_PCT = 0.1


def load_dxa_settings(path: Path | str | None) -> DxaSettings:
    """Read ``[dxa]`` (``precision_percent`` per site, ``reference``) from a TOML file."""
    if path is None:
        return DxaSettings()
    from reportgen.sites import SiteError, parse_site

    path = Path(path)
    try:
        section = tomllib.loads(path.read_text("utf-8")).get(DXA_SECTION, {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReportError(f"{path}: cannot read settings ({exc})") from None
    if not isinstance(section, dict) or set(section) - _DXA_KEYS:
        raise ReportError(f"{path}: [{DXA_SECTION}] takes only {', '.join(sorted(_DXA_KEYS))}")
    reference = section.get("reference", "")
    precision = section.get("precision_percent", {})
    if not isinstance(reference, str) or not isinstance(precision, dict):
        raise ReportError(
            f"{path}: {DXA_SECTION}.reference must be text and "
            f"{DXA_SECTION}.precision_percent a table of site = percent"
        )
    values: dict[str, float] = {}
    for key, value in precision.items():
        try:
            site = parse_site(key)
        except SiteError as exc:
            raise ReportError(f"{path}: {DXA_SECTION}.precision_percent {key!r}: {exc}") from None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (MIN_PRECISION_PCT <= value <= MAX_PRECISION_PCT)
        ):
            raise ReportError(
                f"{path}: {DXA_SECTION}.precision_percent {key!r} must be a "
                f"percentage from {MIN_PRECISION_PCT:g} to {MAX_PRECISION_PCT:g}"
            )
        if site in values:  # "L1-L4" and "L1–L4" are one site: the last silently won
            raise ReportError(
                f"{path}: {DXA_SECTION}.precision_percent gives {site} twice ({key!r})"
            )
        values[site] = float(value)
    return DxaSettings(tuple(sorted(values.items())), reference.strip())


@dataclass(frozen=True)
class ReportSettings:
    """Everything a settings file says, read once per run and sent to the workers
    (picklable): the organisation, the ``[dxa]`` precision and the lab intervals."""

    organisation: Organisation = Organisation()
    dxa: DxaSettings = DxaSettings()
    lab_intervals: dict = field(default_factory=dict)  # test -> labs.Interval
    source: str | None = None  # the file they came from (None: the defaults)


def load_report_settings(path: Path | str | None) -> ReportSettings:
    """Read a settings file once: ``[organisation]``, ``[labs.*]`` and ``[dxa]``, checked in
    that order (the first mistake is the one reported)."""
    from reportgen.labs import load_intervals

    return ReportSettings(
        organisation=load_settings(path),
        lab_intervals=load_intervals(path),
        dxa=load_dxa_settings(path),
        source=None if path is None else str(path),
    )
