"""Fracture sites read with a vocabulary (English and Japanese), as JOS 2012 groups them.

clinical-rules.md §1 (v2): vertebral and proximal-femur fractures decide osteoporosis alone
(JOS 2012 arm I-1); rib, pelvis, proximal humerus, distal radius and lower leg count with
YAM < 80 % (arm I-2); anything else (calcaneus, metatarsal, a stress fracture …) is not a JOS
fragility site: the class follows the BMD and the report asks for a review. An unknown site is
never called vertebral. ``fracture = yes`` with no site keeps the seed's convention (vertebral),
and says that it was assumed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from reportgen.i18n import N_, _

VERTEBRAL = "vertebral"
PROXIMAL_FEMUR = "proximal_femur"
OTHER_FRAGILITY = "other_fragility"  # JOS arm I-2 sites
NOT_JOS = "not_jos"  # recorded, but not a JOS fragility site: review

KIND_LABELS = {
    VERTEBRAL: N_("vertebral"),
    PROXIMAL_FEMUR: N_("proximal femur"),
    OTHER_FRAGILITY: N_("other fragility site"),
    NOT_JOS: N_("not a JOS fragility site"),
}  # translated at use: _(KIND_LABELS[k])
_REGIONS = {"c": ("C", 7), "t": ("T", 12), "th": ("T", 12), "l": ("L", 5)}
_ORDER = ("C", "T", "L")
_LEVELS = {"C": 7, "T": 12, "L": 5}
_KANJI_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_JP_REGIONS = {"頸": "C", "頚": "C", "胸": "T", "腰": "L"}

# One vertebra or a range: T7, Th12, L1-L2, T12–L1, L1-4, "L 3".
_LEVEL = r"(c|th|t|l)\s*(\d{1,2})"
_RANGE = re.compile(
    rf"(?<![a-z]){_LEVEL}"
    r"(?:\s*(?:-|to)\s*(?:(c|th|t|l)\s*)?(\d{1,2}))?(?![a-z\d])"
)
# 第2腰椎, 第十二胸椎, 第2-3腰椎
_JP_LEVEL = re.compile(
    r"第?([0-9一二三四五六七八九十]+)(?:\s*-\s*第?([0-9一二三四五六七八九十]+))?"
    r"\s*(頸|頚|胸|腰)椎"
)
_STRESS = re.compile(r"stress|疲労骨折")
_SACRAL = re.compile(r"(?<![a-z])s\s*[1-5](?![a-z\d])|sacrum|sacral|仙骨|仙椎")
_VERTEBRA_WORDS = re.compile(
    r"vertebra|spine|spinal|lumbar|thoracic|cervical|"
    r"compression fracture|椎体|腰椎|胸椎|頸椎|頚椎|脊椎|圧迫骨折"
)
_FEMUR = re.compile(
    r"\bhip\b|femoral neck|neck of (the )?femur|proximal femur|proximal femoral|"
    r"intertrochanteric|trochanteric|trochanter|大腿骨近位|大腿骨頸部|大腿骨頚部|"
    r"大腿骨転子"
)
_OTHER = (
    ("rib", re.compile(r"\bribs?\b|肋骨")),
    ("pelvis", re.compile(r"pelvi|pubi|ischi|ilium|iliac|骨盤|恥骨|坐骨|腸骨")),
    (
        "proximal humerus",
        re.compile(
            r"proximal humer|humeral (head|neck)|surgical neck|"
            r"上腕骨近位|上腕骨頸部|上腕骨頚部"
        ),
    ),
    ("distal radius", re.compile(r"distal radi|\bwrist\b|colles|橈骨遠位")),
    ("lower leg", re.compile(r"tibia|fibula|lower leg|malleol|\bankle\b|下腿|脛骨|腓骨")),
)
_SEPARATORS = re.compile(r"[;,/、，・\n]+|\band\b|&|\+")


@dataclass(frozen=True)
class FractureSite:
    """One listed site: what was written, how JOS groups it, and the vertebrae it names."""

    text: str
    kind: str
    vertebrae: tuple[str, ...] = ()  # e.g. ("T12", "L1"); empty when no level is named
    region_only: str = ""  # "L" for "lumbar"/"腰椎" without a level

    @property
    def label(self) -> str:
        if self.vertebrae:
            return "–".join(dict.fromkeys((self.vertebrae[0], self.vertebrae[-1])))
        return self.text


@dataclass(frozen=True)
class Fractures:
    """Every site of a record, and the JOS arm the worst of them belongs to."""

    sites: tuple[FractureSite, ...]
    assumed_vertebral: bool  # fracture = yes, no site given

    @property
    def kind(self) -> str | None:
        """The most decisive kind: vertebral/femur, then other fragility, then not JOS."""
        kinds = {s.kind for s in self.sites}
        for kind in (VERTEBRAL, PROXIMAL_FEMUR, OTHER_FRAGILITY, NOT_JOS):
            if kind in kinds:
                return kind
        return None

    @property
    def fragility(self) -> tuple[FractureSite, ...]:
        return tuple(s for s in self.sites if s.kind != NOT_JOS)

    @property
    def not_jos(self) -> tuple[FractureSite, ...]:
        return tuple(s for s in self.sites if s.kind == NOT_JOS)

    @property
    def vertebrae(self) -> frozenset[str]:
        return frozenset(v for s in self.sites for v in s.vertebrae)

    @property
    def lumbar_level_unknown(self) -> bool:
        return any(s.region_only == "L" for s in self.sites)

    def describe(self, kinds: tuple[str, ...]) -> str:
        """``vertebral (T7, T12)`` for the sites of the given kinds."""
        parts = []
        for kind in kinds:
            labels = [s.label for s in self.sites if s.kind == kind]
            if labels:
                parts.append(
                    _("{kind} ({sites})").format(
                        kind=_(KIND_LABELS[kind]), sites=_(", ").join(labels)
                    )
                )
        return _("; ").join(parts)


NO_FRACTURE = Fractures((), False)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\u2010-\u2015\u2212~〜～]", "-", text)


def _kanji_number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _KANJI_DIGITS and ch != "十" for ch in text):
        return None
    if "十" in text:
        tens, _, units = text.partition("十")
        return (_KANJI_DIGITS.get(tens, 1) if tens else 1) * 10 + (
            _KANJI_DIGITS.get(units, 0) if units else 0
        )
    return _KANJI_DIGITS.get(text)


def _span(first: tuple[str, int], last: tuple[str, int]) -> tuple[str, ...]:
    """Every vertebra from ``first`` to ``last`` across region borders (T12–L1)."""
    sequence = [(r, i) for r in _ORDER for i in range(1, _LEVELS[r] + 1)]
    if first not in sequence or last not in sequence:
        return ()
    a, b = sorted((sequence.index(first), sequence.index(last)))
    return tuple(f"{r}{i}" for r, i in sequence[a : b + 1])


def vertebrae_in(text: str) -> tuple[tuple[str, ...], str]:
    """The vertebrae a text names (``L1-L2``, ``T12–L1``, ``第2腰椎``), and a region named
    without a level (``"L"`` for "lumbar"/"腰椎")."""
    norm = _normalise(text)
    found: list[str] = []
    for match in _RANGE.finditer(norm):
        region, maximum = _REGIONS[match[1]]
        start = int(match[2])
        end_region = _REGIONS[match[3]][0] if match[3] else region
        end = int(match[4]) if match[4] else start
        if not 1 <= start <= maximum:
            continue
        found += _span((region, start), (end_region, end)) or [f"{region}{start}"]
    for match in _JP_LEVEL.finditer(norm):
        region = _JP_REGIONS[match[3]]
        first = _kanji_number(match[1])
        last = _kanji_number(match[2]) if match[2] else first
        if first is None or last is None:
            continue
        found += _span((region, first), (region, last))
    region_only = ""
    if not found and re.search(r"lumbar|腰椎", norm):
        region_only = "L"
    return tuple(dict.fromkeys(found)), region_only


def classify_site(text: str) -> FractureSite:
    """How JOS 2012 groups one written site."""
    norm = _normalise(text)
    if _STRESS.search(norm):
        return FractureSite(text, NOT_JOS)
    if _SACRAL.search(norm):  # JOS counts the sacrum with the pelvis (arm I-2)
        return FractureSite(text, OTHER_FRAGILITY)
    vertebrae, region_only = vertebrae_in(norm)
    if vertebrae or region_only or _VERTEBRA_WORDS.search(norm):
        return FractureSite(text, VERTEBRAL, vertebrae, region_only)
    if _FEMUR.search(norm):
        return FractureSite(text, PROXIMAL_FEMUR)
    for _name, pattern in _OTHER:
        if pattern.search(norm):
            return FractureSite(text, OTHER_FRAGILITY)
    return FractureSite(text, NOT_JOS)


def read_fractures(fracture: object, sites: object) -> Fractures:
    """The fractures of one record; none unless ``fracture`` is yes."""
    if fracture is not True:
        return NO_FRACTURE
    text = "" if sites is None else str(sites)
    parts = [p.strip() for p in _SEPARATORS.split(text) if p and p.strip()]
    if not parts:
        return Fractures((FractureSite("site not recorded", VERTEBRAL),), True)
    return Fractures(tuple(classify_site(p) for p in parts), False)


def dxa_region(dxa_site: object) -> frozenset[str]:
    """Lumbar vertebrae inside the DXA region: ``L1-L4`` by default (the seed's site), a
    sub-range as written (``L2–L4``, ``L2-4``), none for a hip or forearm scan."""
    text = _normalise(str(dxa_site)) if dxa_site is not None and str(dxa_site).strip() else "l1-l4"
    vertebrae, _ = vertebrae_in(text)
    if vertebrae:
        return frozenset(vertebrae)
    if re.search(r"lumbar|spine|腰椎", text):
        return frozenset({"L1", "L2", "L3", "L4"})
    return frozenset()
