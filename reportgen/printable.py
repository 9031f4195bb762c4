"""Which characters the report fonts can print: Liberation Sans (shipped) and, for Japanese,
IPAex Gothic (Debian's fonts-ipaexfont-gothic). A character neither has (an emoji, Hangul,
Thai) made WeasyPrint draw a .notdef box, which the renderer refuses: the patient got no report
at all while ``validate`` said OK. Text columns are checked here instead, at input time."""

from __future__ import annotations

import functools
import unicodedata
from importlib import resources
from pathlib import Path

LATIN_FONT_DIR = Path(str(resources.files("reportgen.assets"))) / "fonts"
JA_FONT_FILE = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")
# Characters Pango draws without a glyph: white space, controls, format characters
# (zero-width space and joiners, directional marks).
_NO_GLYPH_CATEGORIES = ("Zs", "Zl", "Zp", "Cc", "Cf")
UNPRINTABLE_MESSAGE = (
    "has characters the report fonts cannot print (such as emoji, Hangul or Thai): "
    "write them in Japanese or Latin letters"
)  # the characters themselves are not quoted: they are patient data (a name)


def unprintable(text: str) -> bool:
    """Whether ``text`` holds a character no report font has."""
    if text.isascii():
        return False
    covered = _covered()
    return any(
        ord(c) not in covered and unicodedata.category(c) not in _NO_GLYPH_CATEGORIES for c in text
    )


@functools.cache
def _covered() -> frozenset[int]:
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    fonts = sorted(LATIN_FONT_DIR.glob("*.ttf"))
    if JA_FONT_FILE.is_file():
        fonts.append(JA_FONT_FILE)
    codes: set[int] = set()
    for path in fonts:
        with TTFont(path, lazy=True) as font:
            codes.update(font.getBestCmap())
    return frozenset(codes)
