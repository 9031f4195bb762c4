"""Organisation settings (name, department, address, logo, identifier system) from TOML."""

from __future__ import annotations

import base64
import tomllib
from dataclasses import dataclass
from pathlib import Path

from reportgen.errors import ReportError

_LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_MAX_LOGO_BYTES = 512 * 1024
_KEYS = {"name", "department", "address", "logo", "identifier_system", "language"}


@dataclass(frozen=True)
class Organisation:
    """Shown in every report header; ``identifier_system`` is used for FHIR subjects."""

    name: str = "reportgen — organisation not configured"
    department: str = ""
    address: str = ""
    logo: str = ""  # data: URI, never a path or URL (the renderer fetches nothing)
    identifier_system: str = "urn:reportgen:patient-id"
    language: str = "en"


def load_settings(path: Path | str | None) -> Organisation:
    """Read ``[organisation]`` from a TOML file; defaults when ``path`` is None."""
    if path is None:
        return Organisation()
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReportError(f"{path}: cannot read settings ({exc})") from None
    section = document.get("organisation", {})
    if not isinstance(section, dict):
        raise ReportError(f"{path}: [organisation] must be a table")
    unknown = set(section) - _KEYS
    if unknown:
        raise ReportError(f"{path}: unknown settings key(s): {', '.join(sorted(unknown))}")
    values = {k: str(v) for k, v in section.items()}
    if values.get("logo"):
        values["logo"] = _logo_data_uri(path.parent / values["logo"], path)
    return Organisation(**values)


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
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
