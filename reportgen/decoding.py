"""Bytes to text: UTF-8 (with or without BOM), CP932 when a detector agrees, or as told.

A CP1252 file ("Renée Françoise") decodes without error as CP932 and becomes mojibake, so a
successful decode proves nothing: a file that is not UTF-8 is read as CP932 only when
charset-normalizer also finds Japanese text in it (issue 16, class 8).
"""

from __future__ import annotations

import codecs

_DETECT_BYTES = 256 * 1024  # the detector's sample; it is slow on whole files


class DecodeRefused(Exception):
    """The text cannot be decoded safely; ``str(e)`` says why and what to do."""


def decode_text(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """``(text, encoding used)``; ``encoding`` (a Python codec name) skips detection."""
    if encoding is not None:
        return _decode_as(data, encoding)
    if b"\x00" in data[:65536]:
        raise DecodeRefused("not a text table (binary data); expected CSV, XLSX or JSON")
    if data.startswith(codecs.BOM_UTF8):
        return _decode_as(data, "utf-8-sig")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp932")
    except UnicodeDecodeError:
        raise DecodeRefused(f"text is neither UTF-8 nor CP932/Shift_JIS{_looks_like(data)}; "
                            "save it as UTF-8 or give --encoding") from None
    if not _plausible_cp932(data):
        raise DecodeRefused(f"text is not UTF-8, and reading it as CP932 would garble it"
                            f"{_looks_like(data)}; save it as UTF-8 or give --encoding "
                            "(e.g. --encoding cp1252)")
    return text, "cp932"


def _decode_as(data: bytes, encoding: str) -> tuple[str, str]:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise DecodeRefused(f"unknown encoding {encoding!r} (use a name such as utf-8, cp932, "
                            "cp1252, latin-1)") from None
    if name == "utf-8" and data.startswith(codecs.BOM_UTF8):
        name = "utf-8-sig"
    try:
        return data.decode(name), name
    except UnicodeDecodeError as exc:
        raise DecodeRefused(f"not valid {name} (byte {exc.start:,}); check --encoding") \
            from None


def _plausible_cp932(data: bytes) -> bool:
    """charset-normalizer's mess measure of the CP932 reading stays under its default 0.2.
    Asked about CP932 alone: in a mostly-ASCII CSV its free choice is often a Latin code page
    (measured on the hostile corpus' CP932 file), while the CP932 reading is clean."""
    from charset_normalizer import from_bytes

    return from_bytes(data[:_DETECT_BYTES], cp_isolation=["cp932"]).best() is not None


def _looks_like(data: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data[:_DETECT_BYTES]).best()
    return f" (it looks like {best.encoding})" if best is not None else ""
