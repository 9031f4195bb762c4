"""DXA measurement sites: the contract's names, their regions, and vertebra lists (no I/O)."""

from __future__ import annotations

import re
import unicodedata

from reportgen.i18n import N_, _

FEMORAL_NECK = "femoral_neck"
TOTAL_HIP = "total_hip"
RADIUS_1_3 = "radius_1_3"
LUMBAR_L1_L4 = "L1-L4"

LUMBAR, PROXIMAL_FEMUR, RADIUS = "lumbar", "proximal_femur", "radius"
# JOS 2012: the status is read at the lumbar spine and the proximal femur (radius only when
# neither can be measured), the lowest %YAM deciding (clinical-rules.md §1).
STATUS_REGIONS = (LUMBAR, PROXIMAL_FEMUR)

_NAMED = {
    "femoral_neck": FEMORAL_NECK,
    "neck": FEMORAL_NECK,
    "femur_neck": FEMORAL_NECK,
    "大腿骨頸部": FEMORAL_NECK,
    "total_hip": TOTAL_HIP,
    "hip": TOTAL_HIP,
    "total_femur": TOTAL_HIP,
    "大腿骨近位部": TOTAL_HIP,
    "radius_1_3": RADIUS_1_3,
    "radius_1/3": RADIUS_1_3,
    "1/3_radius": RADIUS_1_3,
    "radius_33": RADIUS_1_3,
    "radius_33%": RADIUS_1_3,
    "33%_radius": RADIUS_1_3,
    "radius": RADIUS_1_3,
    "forearm": RADIUS_1_3,
    "橈骨": RADIUS_1_3,  # forearm DXA: 1/3 site
    "lumbar": LUMBAR_L1_L4,
    "lumbar_spine": LUMBAR_L1_L4,
    "spine": LUMBAR_L1_L4,
    "腰椎": LUMBAR_L1_L4,
}
_LABELS = {
    FEMORAL_NECK: N_("Femoral neck"),
    TOTAL_HIP: N_("Total hip"),
    RADIUS_1_3: N_("Radius 1/3"),
}
_ORDER = {FEMORAL_NECK: 10, TOTAL_HIP: 11, RADIUS_1_3: 20}
_DASHES = str.maketrans(
    {"\u2212": "-", "\u2013": "-", "\u2014": "-", "\uff0d": "-", "~": "-", "\u301c": "-"}
)
_LUMBAR_RANGE = re.compile(r"l([1-5])(?:-l?([1-5]))?")
_VERTEBRA = re.compile(r"l([1-5])(?:-l?([1-5]))?")


class SiteError(ValueError):
    """A site or vertebra list that cannot be read; the message says what is accepted."""


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_DASHES).strip().lower()
    return re.sub(r"\s+", "_", text)


def parse_site(text: str) -> str:
    """``"L1–L4"`` -> ``"L1-L4"``, ``"Total hip"`` -> ``"total_hip"``; SiteError otherwise.

    A lumbar range needs at least two vertebrae (ISCD 2023: never a single vertebra).
    """
    cleaned = _clean(text)
    if cleaned in _NAMED:
        return _NAMED[cleaned]
    match = _LUMBAR_RANGE.fullmatch(cleaned.replace("_", ""))
    if match is None:
        raise SiteError(
            "unknown site (use L1-L4 or a sub-range such as L2-L4, femoral_neck, "
            "total_hip or radius_1_3)"
        )
    first, last = int(match[1]), int(match[2] or match[1])
    if last - first < 1:
        raise SiteError(
            "a lumbar site needs at least two vertebrae (ISCD: spine BMD is never "
            "reported from a single vertebra)"
        )
    return f"L{first}-L{last}"


def site_region(site: str) -> str:
    """``lumbar``, ``proximal_femur`` or ``radius`` for a canonical site."""
    if site.startswith("L"):
        return LUMBAR
    return RADIUS if site == RADIUS_1_3 else PROXIMAL_FEMUR


def site_label(site: str) -> str:
    """Display name: ``L1–L4``, ``Femoral neck``."""
    return site.replace("-", "–") if site.startswith("L") else _(_LABELS[site])


def site_order(site: str) -> tuple[int, str]:
    """Vendor-report order: lumbar ranges first, then femoral neck, total hip, radius."""
    return (0, site) if site.startswith("L") else (_ORDER[site], site)


def site_vertebrae(site: str) -> tuple[str, ...]:
    """``"L2-L4"`` -> ``("L2", "L3", "L4")``; empty for a non-lumbar site."""
    match = re.fullmatch(r"L(\d)-L(\d)", site)
    if match is None:
        return ()
    return tuple(f"L{n}" for n in range(int(match[1]), int(match[2]) + 1))


def parse_vertebrae(text: str, site: str) -> tuple[str, ...]:
    """Excluded vertebrae (``"L2"``, ``"L2;L3"``, ``"L2-L3"``) of ``site``, in order.

    SiteError when a vertebra is outside the site or fewer than two would remain.
    """
    inside = site_vertebrae(site)
    if not inside:
        raise SiteError(f"vertebrae can only be excluded from a lumbar site, not {site}")
    found: set[str] = set()
    for token in re.split(r"[;,/\s・、]+", _clean(text).replace("_", " ")):
        if not token:
            continue
        match = _VERTEBRA.fullmatch(token)
        if match is None:
            raise SiteError("not a vertebra list (use e.g. L2 or L2;L3)")
        first, last = int(match[1]), int(match[2] or match[1])
        found.update(f"L{n}" for n in range(min(first, last), max(first, last) + 1))
    outside = sorted(found - set(inside))
    if outside:
        raise SiteError(f"{', '.join(outside)} is outside the site {site}")
    if len(inside) - len(found) < 2:
        raise SiteError(
            f"excluding {', '.join(sorted(found))} leaves fewer than two vertebrae "
            "(ISCD: spine BMD is never reported from a single vertebra)"
        )
    return tuple(v for v in inside if v in found)
