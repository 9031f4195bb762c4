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
from dataclasses import dataclass, fields
from pathlib import Path

from reportgen.errors import ReportError

SECTION = "organisation"
_LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_LOGO_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_MAX_LOGO_BYTES = 512 * 1024
# An absolute URI (RFC 3986 scheme, then no white space): FHIR Identifier.system is a uri.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
# A BCP 47 language tag, simplified (primary language and subtags): "en", "en-GB", "ja-JP".
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True)
class Organisation:
    """Shown in every report header; ``identifier_system`` is used for FHIR subjects."""

    name: str = "reportgen — organisation not configured"
    department: str = ""
    address: str = ""
    logo: str = ""  # data: URI, never a path or URL (the renderer fetches nothing)
    identifier_system: str = "urn:reportgen:patient-id"
    language: str = "en"
    # "<system>|<value>" of the organisation on the receiving FHIR server (author, custodian)
    organisation_identifier: str = ""

    @property
    def configured(self) -> bool:
        """False while the default placeholder name is in use (shown muted)."""
        return self.name != Organisation.name

    @property
    def fhir_gaps(self) -> list[str]:
        """What FHIR output would fill with placeholders (empty when fully configured)."""
        gaps = []
        if self.identifier_system == Organisation.identifier_system:
            gaps.append("identifier_system (patients would be identified by "
                        f"{Organisation.identifier_system!r}, not your MRN system)")
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
        document = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ReportError(f"{path}: cannot read settings ({exc.strerror})") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReportError(f"{path}: cannot read settings ({exc})") from None
    unknown = set(document) - {SECTION, *OTHER_TABLES}
    if unknown:
        raise ReportError(f"{path}: unknown settings table(s) or key(s): "
                          f"{', '.join(sorted(unknown))} (expected [{SECTION}]"
                          f"{''.join(f', [{t}]' for t in OTHER_TABLES)})")
    section = document.get(SECTION)
    if section is None and set(document) & set(OTHER_TABLES):
        return Organisation()
    if not isinstance(section, dict):
        raise ReportError(f"{path}: no [{SECTION}] table")
    unknown = set(section) - _KEYS
    if unknown:
        raise ReportError(f"{path}: unknown settings key(s): {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(_KEYS))})")
    values = {}
    for key, value in section.items():
        if not isinstance(value, str):
            raise ReportError(f"{path}: {SECTION}.{key} must be a string, "
                              f"not {type(value).__name__}")
        values[key] = value.strip()
    _check_values(values, path)
    if values.get("logo"):
        values["logo"] = _logo_data_uri(path.parent / values["logo"], path)
    return Organisation(**values)


def _check_values(values: dict[str, str], path: Path) -> None:
    if "name" in values and not values["name"]:
        raise ReportError(f"{path}: {SECTION}.name must not be empty")
    system = values.get("identifier_system")
    if system is not None and not _URI.fullmatch(system):
        raise ReportError(f"{path}: {SECTION}.identifier_system must be an absolute URI "
                          f"(e.g. https://hospital.example.org/fhir/sid/mrn), not {system!r}")
    org_id = values.get("organisation_identifier")
    if org_id:
        system, _, value = org_id.partition("|")
        if not _URI.fullmatch(system) or not value.strip():
            raise ReportError(f"{path}: {SECTION}.organisation_identifier must be "
                              f"'<system URI>|<value>', not {org_id!r}")
    language = values.get("language")
    if language is not None and not _LANGUAGE.fullmatch(language):
        raise ReportError(f"{path}: {SECTION}.language must be a language tag such as "
                          f"'en' or 'en-GB', not {language!r}")


def _logo_data_uri(logo: Path, settings_path: Path) -> str:
    kind = _LOGO_TYPES.get(logo.suffix.lower())
    if kind is None:
        raise ReportError(f"{settings_path}: logo must be PNG or JPEG, not {logo.suffix!r}")
    try:
        data = logo.read_bytes()
    except OSError as exc:
        raise ReportError(f"{settings_path}: cannot read logo {logo} ({exc.strerror})") from None
    if len(data) > _MAX_LOGO_BYTES:
        raise ReportError(f"{settings_path}: logo larger than {_MAX_LOGO_BYTES // 1024} KiB")
    if not data.startswith(_LOGO_MAGIC[kind]):
        raise ReportError(f"{settings_path}: logo {logo} is not a {kind} file")
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
