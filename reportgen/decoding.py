"""Bytes to text: UTF-8 (with or without BOM), CP932 when a detector agrees, or as told.

A CP1252 file ("Renée Françoise") decodes without error as CP932 and becomes mojibake, so a
successful decode proves nothing: a file that is not UTF-8 is read as CP932 only when
charset-normalizer also finds Japanese text in it (issue 16, class 8).
"""

from __future__ import annotations

import codecs
import re

_DETECT_BYTES = 256 * 1024  # the detector's sample; it is slow on whole files
_WESTERN = ("cp1252", "cp1250")  # the other code pages an EHR export is likely to be in
# Rare kanji (the IBM extension 髙 of "髙橋") cost a CP932 reading ~0.01 of mess; a CP1252
# file read as CP932 measured 0.13 or more ("Renée Françoise").
_MESS_MARGIN = 0.05
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_PRIVATE_USE = re.compile(r"[\ue000-\uf8ff]")
_HALF_WIDTH_KANA = re.compile(r"[\uff61-\uff9f]")


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
        raise DecodeRefused(
            f"text is neither UTF-8 nor CP932/Shift_JIS{_looks_like(data)}; "
            "save it as UTF-8 or give --encoding"
        ) from None
    if _garbled_share(text[:_DETECT_BYTES]) >= 0.5 or not _plausible_cp932(data):
        raise DecodeRefused(
            f"text is not UTF-8, and reading it as CP932 would garble it"
            f"{_looks_like(data)}; save it as UTF-8 or give --encoding "
            "(e.g. --encoding cp1252)"
        )
    return text, "cp932"


def _decode_as(data: bytes, encoding: str) -> tuple[str, str]:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise DecodeRefused(
            f"unknown encoding {encoding!r} (use a name such as utf-8, cp932, cp1252, latin-1)"
        ) from None
    if name == "utf-8" and data.startswith(codecs.BOM_UTF8):
        name = "utf-8-sig"
    try:
        return data.decode(name), name
    except UnicodeDecodeError as exc:
        raise DecodeRefused(f"not valid {name} (byte {exc.start:,}); check --encoding") from None


def _garbled_share(text: str) -> float:
    """The share of non-ASCII runs in a CP932 reading that look like Western mojibake.

    A CP1252 accented letter read as CP932 becomes a half-width katakana (0xC0-0xDF), a
    private-use character (0xF0-0xF9 lead bytes) or one kanji swallowing the next ASCII
    letter ("Françoise" -> "Fran輟ise"): a lone character glued to Latin letters. Japanese
    text has runs of several characters, next to digits, punctuation or spaces, and does not
    mix half-width katakana with other characters in one run.
    """
    runs = suspicious = 0
    for match in _NON_ASCII.finditer(text):
        run, start, end = match.group(), match.start(), match.end()
        glued = (start > 0 and _is_letter(text[start - 1])) or (
            end < len(text) and _is_letter(text[end])
        )
        kana = len(_HALF_WIDTH_KANA.findall(run))
        runs += 1
        suspicious += (
            bool(_PRIVATE_USE.search(run))
            or 0 < kana < len(run)
            or (glued and (len(run) == 1 or kana > 0))
        )
    return suspicious / runs if runs else 0.0


def _is_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _plausible_cp932(data: bytes) -> bool:
    """The CP932 reading is no messier (charset-normalizer's mess ratio) than a Western code
    page's reading. Its free choice is no help: in a mostly-ASCII CSV it often names a Latin
    code page for Japanese text (the hostile corpus' CP932 file: mac_latin2), while the mess
    ratios separate the two (measured: "Renée Françoise" 0.13 as CP932, 0.0 as CP1252)."""
    from charset_normalizer import from_bytes

    readings = {
        m.encoding: m.chaos
        for m in from_bytes(data[:_DETECT_BYTES], cp_isolation=["cp932", *_WESTERN], threshold=1.0)
    }
    if "cp932" not in readings:
        return False
    return all(
        readings["cp932"] <= readings[name] + _MESS_MARGIN for name in _WESTERN if name in readings
    )


def _looks_like(data: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data[:_DETECT_BYTES]).best()
    return f" (it looks like {best.encoding})" if best is not None else ""
