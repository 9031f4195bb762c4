"""Follow-up DXA: change per site against the LSC, and the bone status at each scan (pure).

Change (ISCD; domain-notes §6): ``change_percent = (BMD_later − BMD_earlier) / BMD_earlier × 100``,
on BMD in g/cm², never on %YAM. It is significant when ``|change_percent| ≥ LSC`` (equal counts),
with ``LSC = 2.77 × precision error``, rounded to one decimal as the ISCD tables and the
contract print it. Scans on two devices, or of two different sets of vertebrae, are never
compared (no verdict, a data-quality warning).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from itertools import groupby
from typing import cast

from reportgen import formatting as fmt
from reportgen.classify import classify_bone_status
from reportgen.fractures import read_fractures
from reportgen.i18n import N_, _
from reportgen.models import Finding, QualityFlag, optional_float
from reportgen.rules import RuleSet
from reportgen.scans import Scan
from reportgen.settings import DxaSettings
from reportgen.sites import (
    FEMORAL_NECK,
    LUMBAR_L1_L4,
    RADIUS_1_3,
    STATUS_REGIONS,
    TOTAL_HIP,
    site_label,
    site_order,
)

LSC_FACTOR = 2.77  # ISCD: LSC = 2.77 × precision error, 95 % confidence (domain-notes §2.3)
# ISCD minimum acceptable precision (% CV) per site, used when the facility gives none.
ISCD_MIN_PRECISION_PCT = {LUMBAR_L1_L4: 1.9, TOTAL_HIP: 1.8, FEMORAL_NECK: 2.5}
# ISCD gives no minimum for the 1/3 radius; published short-term CVs are about 1-2 %, and the
# upper end is taken so that no change is called significant on a guessed precision.
RADIUS_DEFAULT_PRECISION_PCT = 2.0
_FLOAT_NOISE = 1e-9  # (1.053 − 1.000) / 1.000 × 100 is 5.2999999999999 in binary
# Values taken from the deciding scan into the record the rules read.
_SCAN_FIELDS = ("yam_percent", "t_score", "z_score", "bmd_g_cm2")


class Verdict(enum.Enum):
    """The change between two comparable scans, against the LSC."""

    INCREASE = "increase"
    DECREASE = "decrease"
    NO_SIGNIFICANT_CHANGE = "no_significant_change"

    @property
    def label(self) -> str:
        text = {
            "increase": N_("significant increase"),
            "decrease": N_("significant decrease"),
            "no_significant_change": N_("no change beyond the LSC"),
        }[self.value]
        return _(text)


class PrecisionSource(enum.Enum):
    FACILITY = "facility"
    ISCD_DEFAULT = "iscd_default"
    REPORTGEN_DEFAULT = "reportgen_default"

    @property
    def label(self) -> str:
        text = {
            "facility": N_("facility precision"),
            "iscd_default": N_("ISCD minimum acceptable precision (default)"),
            "reportgen_default": N_("reportgen default (no ISCD figure; set the facility's)"),
        }[self.value]
        return _(text)


@dataclass(frozen=True)
class Lsc:
    """The least significant change at one site and where its precision came from."""

    site: str
    precision_percent: float
    source: PrecisionSource
    note: str = ""  # e.g. a sub-range using the L1–L4 precision

    @property
    def lsc_percent(self) -> float:
        """2.77 × precision, rounded half up to 0.1 % (2.77 × 1.9 = 5.263 -> 5.3)."""
        exact = Decimal(repr(round(LSC_FACTOR * self.precision_percent, 9)))
        return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Change:
    """One comparison: ``later`` against ``earlier`` (basis ``previous`` or ``baseline``)."""

    site: str
    basis: str
    earlier: Scan
    later: Scan
    lsc: Lsc
    verdict: Verdict | None  # None: not comparable (``reason`` says why)
    reason: str = ""

    @property
    def change_g_cm2(self) -> float:
        return self.later.bmd_g_cm2 - self.earlier.bmd_g_cm2

    @property
    def change_percent(self) -> float:
        return self.change_g_cm2 / self.earlier.bmd_g_cm2 * 100


@dataclass(frozen=True)
class ScanStatus:
    """The bone status at one scan date and the site that decided it."""

    scan_date: date
    finding: Finding
    deciding: Scan


@dataclass(frozen=True)
class FollowUp:
    """Everything the scans say about one patient."""

    scans: tuple[Scan, ...]
    changes: tuple[Change, ...]
    lscs: tuple[Lsc, ...]
    first: ScanStatus | None
    latest: ScanStatus | None
    quality: tuple[QualityFlag, ...]
    reference: str
    original: dict  # the main-input record as given
    record: dict  # the record the rules read: the latest status scan's values

    @property
    def is_follow_up(self) -> bool:
        """True when some site was measured more than once."""
        return bool(self.changes) or len({s.scan_date for s in self.scans}) > 1

    @property
    def latest_decrease(self) -> bool:
        """Whether the latest scan of some site fell beyond the LSC (against the previous scan
        or the baseline): bone is being lost, whatever the class."""
        return any(change.verdict is Verdict.DECREASE for change in self.latest_changes)

    @property
    def latest_changes(self) -> tuple[Change, ...]:
        """The comparisons of each site's latest scan."""
        return latest_changes(self.changes, self.scans)

    @property
    def single_sites(self) -> tuple[str, ...]:
        """Sites measured at one visit only, in a follow-up (nothing to compare with)."""
        if len({s.scan_date for s in self.scans}) < 2:
            return ()
        counts: dict[str, int] = {}
        for scan in self.scans:
            counts[scan.site] = counts.get(scan.site, 0) + 1
        return tuple(sorted((site for site, n in counts.items() if n == 1), key=site_order))


def classify_change(change_percent: float, lsc_percent: float) -> Verdict:
    """ISCD: significant when ``|change| ≥ LSC`` (equal to the LSC is significant); no change
    is never significant, whatever the LSC."""
    if change_percent == 0 or abs(change_percent) + _FLOAT_NOISE < lsc_percent:
        return Verdict.NO_SIGNIFICANT_CHANGE
    return Verdict.INCREASE if change_percent > 0 else Verdict.DECREASE


def site_lsc(site: str, dxa: DxaSettings) -> Lsc:
    """The facility's precision at ``site`` or the default, as an :class:`Lsc`."""
    facility = dxa.precision(site)
    if facility is not None:
        return Lsc(site, facility, PrecisionSource.FACILITY)
    if site.startswith("L") and site != LUMBAR_L1_L4:
        # ISCD 2023: the LSC should be recalculated for each 2- or 3-vertebra combination.
        lumbar = site_lsc(LUMBAR_L1_L4, dxa)
        return replace(
            lumbar,
            site=site,
            note=f"{site_label(site)} uses the L1–L4 precision; "
            "ISCD asks for a precision measured on this combination of vertebrae",
        )
    if site == RADIUS_1_3:
        return Lsc(site, RADIUS_DEFAULT_PRECISION_PCT, PrecisionSource.REPORTGEN_DEFAULT)
    return Lsc(site, ISCD_MIN_PRECISION_PCT[site], PrecisionSource.ISCD_DEFAULT)


def compare_scans(earlier: Scan, later: Scan, basis: str, lsc: Lsc) -> Change:
    """The change from ``earlier`` to ``later``; no verdict across devices or vertebrae."""
    reason = not_comparable(earlier, later)
    verdict = None
    if not reason:
        verdict = classify_change(
            (later.bmd_g_cm2 - earlier.bmd_g_cm2) / earlier.bmd_g_cm2 * 100, lsc.lsc_percent
        )
    return Change(earlier.site, basis, earlier, later, lsc, verdict, reason)


def not_comparable(earlier: Scan, later: Scan) -> str:
    a, b = _device_key(earlier.device), _device_key(later.device)
    if a and b and a != b:
        return f"different device ({earlier.device} → {later.device})"
    if earlier.excluded_vertebrae != later.excluded_vertebrae:
        return f"different vertebrae ({_excluded_text(earlier)} → {_excluded_text(later)})"
    return ""


def _reason_text(earlier: Scan, later: Scan) -> str:
    """:func:`not_comparable` in the report's language ("" when comparable)."""
    a, b = _device_key(earlier.device), _device_key(later.device)
    if a and b and a != b:
        return _("different device ({before} → {after})").format(
            before=earlier.device, after=later.device
        )
    if earlier.excluded_vertebrae != later.excluded_vertebrae:
        return _("different vertebrae ({before} → {after})").format(
            before=_excluded_words(earlier), after=_excluded_words(later)
        )
    return ""


def _excluded_words(scan: Scan) -> str:
    if not scan.excluded_vertebrae:
        return _("none excluded")
    return _("{vertebrae} excluded").format(vertebrae=", ".join(scan.excluded_vertebrae))


def _device_key(device: str | None) -> str:
    return " ".join((device or "").lower().split())


def _excluded_text(scan: Scan) -> str:
    return (
        (", ".join(scan.excluded_vertebrae) + " excluded")
        if scan.excluded_vertebrae
        else "none excluded"
    )


def site_changes(scans: list[Scan], dxa: DxaSettings) -> list[Change]:
    """For each site measured more than once: each scan against the previous one and
    against the site's first scan (the baseline), in date order."""
    changes = []
    for site in sorted({s.site for s in scans}, key=site_order):
        series = sorted((s for s in scans if s.site == site), key=lambda s: s.scan_date)
        lsc = site_lsc(site, dxa)
        for i in range(1, len(series)):
            changes.append(compare_scans(series[i - 1], series[i], "previous", lsc))
            changes.append(compare_scans(series[0], series[i], "baseline", lsc))
    return changes


def status_at(
    scans: list[Scan], fracture: bool, fracture_sites: object, rules: RuleSet
) -> ScanStatus | None:
    """JOS status from one visit's lumbar and proximal-femur scans with a %YAM: the site with
    the most severe class decides (ties: the lowest %YAM); None without such a scan."""
    candidates = [s for s in scans if s.region in STATUS_REGIONS and s.yam_percent is not None]
    if not candidates:
        return None
    fractures = read_fractures(fracture, fracture_sites)
    findings = []
    for scan in candidates:
        yam = cast(float, scan.yam_percent)  # candidates have a %YAM
        finding = classify_bone_status(
            yam, bool(fracture), rules, t_score=scan.t_score, fractures=fractures
        )
        findings.append((finding, yam, scan))
    finding, _, scan = max(
        findings, key=lambda f: (f[0].status.severity, -f[1], -site_order(f[2].site)[0])
    )
    return ScanStatus(scan.scan_date, finding, scan)


def assess_scans(record: dict, scans: list[Scan], rules: RuleSet, dxa: DxaSettings) -> FollowUp:
    """Statuses at the first and latest visit, changes against the LSC, and the record the
    rules read (the latest status scan's %YAM, T, Z, BMD, site and date)."""
    by_date = {
        d: list(g)
        for d, g in groupby(sorted(scans, key=lambda s: s.scan_date), key=lambda s: s.scan_date)
    }
    statuses = [
        st
        for d in sorted(by_date)
        if (
            st := status_at(
                by_date[d], bool(record["fracture"]), record.get("fracture_sites"), rules
            )
        )
    ]
    changes = site_changes(scans, dxa)
    first, latest = (statuses[0], statuses[-1]) if statuses else (None, None)
    effective = dict(record)
    if latest is not None:
        deciding = latest.deciding
        effective.update({k: getattr(deciding, k) for k in _SCAN_FIELDS})
        effective["dxa_site"] = deciding.vertebrae_text
        effective["dxa_date"] = deciding.scan_date
    lscs = tuple(site_lsc(site, dxa) for site in sorted({s.site for s in scans}, key=site_order))
    return FollowUp(
        tuple(scans),
        tuple(changes),
        lscs,
        first,
        latest,
        tuple(_quality(changes, scans, latest) + _main_yam_flag(record, scans, latest)),
        dxa.reference,
        record,
        effective,
    )


def _main_yam_flag(record: dict, scans: list[Scan], latest: ScanStatus | None) -> list[QualityFlag]:
    """The main input's %YAM matching no scan, while the scans decide: a transcription slip
    went unnoticed (76 % in the main row, 81/74/70 in the scans, 70 used, 76 nowhere)."""
    main = optional_float(record.get("yam_percent"))
    if latest is None or main is None or any(s.yam_percent == main for s in scans):
        return []
    return [
        QualityFlag(
            "main_yam_not_in_scans",
            _(
                "the main input's YAM {main} % matches no scan; the scans decide (latest: "
                "{site} {yam} %): check the main input"
            ).format(
                main=fmt.percent(main),
                site=latest.deciding.label,
                yam=fmt.percent(latest.deciding.yam_percent),
            ),
        )
    ]


def latest_changes(changes: Sequence[Change], scans: Sequence[Scan]) -> tuple[Change, ...]:
    """The comparisons of each site's latest scan."""
    last: dict[str, date] = {}
    for scan in scans:
        last[scan.site] = max(last.get(scan.site, scan.scan_date), scan.scan_date)
    return tuple(c for c in changes if c.later.scan_date == last[c.site])


def _quality(
    changes: list[Change], scans: list[Scan], latest: ScanStatus | None
) -> list[QualityFlag]:
    flags = []
    decreases = [c for c in latest_changes(changes, scans) if c.verdict is Verdict.DECREASE]
    if decreases:
        worst: dict[str, Change] = {}
        for change in decreases:  # per site: the larger fall (baseline or previous)
            if (
                change.site not in worst
                or change.change_percent < worst[change.site].change_percent
            ):
                worst[change.site] = change
        listed = _("; ").join(
            _("{site} {change} % since {date} (LSC {lsc} %)").format(
                site=c.later.label,
                change=fmt.number(round(c.change_percent, 1)),
                date=fmt.date_text(c.earlier.scan_date),
                lsc=fmt.number(c.lsc.lsc_percent),
            )
            for c in worst.values()
        )
        flags.append(
            QualityFlag(
                "dxa_significant_decrease",
                _(
                    "significant decrease beyond the LSC at the latest scan: {listed} — bone is "
                    "being lost: review with a bone specialist and repeat the DXA sooner"
                ).format(listed=listed),
            )
        )
    sites_by_reason: dict[str, list[str]] = {}
    for change in changes:  # one device change touches every site: said once
        label = change.later.label
        reason = _reason_text(change.earlier, change.later)
        if reason and label not in sites_by_reason.get(reason, []):
            sites_by_reason.setdefault(reason, []).append(label)
    if sites_by_reason:
        listed = _("; ").join(
            _("{reason} at {sites}").format(reason=reason, sites=_(", ").join(sites))
            for reason, sites in sites_by_reason.items()
        )
        flags.append(
            QualityFlag(
                "dxa_not_comparable",
                _("scans not compared, no verdict: {listed}").format(listed=listed),
            )
        )
    devices = {s.device for s in scans}
    if None in devices and len(devices) > 1:
        flags.append(
            QualityFlag(
                "dxa_device_not_recorded",
                "device not recorded for some scans: the comparison assumes the same scanner",
                "info",
            )
        )
    if latest is None:
        flags.append(
            QualityFlag(
                "dxa_status_from_main_input",
                "no scan gives a %YAM at the lumbar spine or proximal femur: "
                "the bone status is from the main input's YAM",
                "info",
            )
        )
    return flags


def follow_up_json(follow_up: FollowUp) -> dict[str, object]:
    """The patient JSON's scan keys (contract §4): ``follow_up``, statuses, scans, LSCs."""
    return {
        "report_kind": "follow_up" if follow_up.is_follow_up else "single_visit",
        "scan_status": {
            "first": _status_json(follow_up.first),
            "latest": _status_json(follow_up.latest),
        },
        "first_scan_classification": (
            follow_up.first.finding.status.value if follow_up.first else None
        ),
        "follow_up": [
            {
                "site": c.site,
                "from": c.earlier.scan_date.isoformat(),
                "to": c.later.scan_date.isoformat(),
                "basis": c.basis,
                "change_g_cm2": round(c.change_g_cm2, 4),
                "change_percent": round(c.change_percent, 4),
                "lsc_percent": c.lsc.lsc_percent,
                "verdict": None if c.verdict is None else c.verdict.value,
                "comparable": c.verdict is not None,
                "not_comparable_reason": c.reason or None,
                "device_from": c.earlier.device,
                "device_to": c.later.device,
                "excluded_vertebrae": list(c.later.excluded_vertebrae),
            }
            for c in follow_up.changes
        ],
        "lsc": [
            {
                "site": x.site,
                "precision_percent": x.precision_percent,
                "lsc_percent": x.lsc_percent,
                "precision_source": x.source.value,
                "note": x.note or None,
            }
            for x in follow_up.lscs
        ],
        "lsc_formula": "LSC = 2.77 × precision (%), 1 decimal; change_percent = (BMD_to − "
        "BMD_from) / BMD_from × 100; significant when |change_percent| ≥ LSC",
        "dxa_reference": follow_up.reference or None,
        "scans": [s.as_dict() for s in follow_up.scans],
    }


def _status_json(status: ScanStatus | None) -> dict[str, object] | None:
    if status is None:
        return None
    return {
        "scan_date": status.deciding.scan_date.isoformat(),
        "classification": status.finding.status.value,
        "reason": status.finding.reason,
        "decided_by": status.finding.decided_by,
        "site": status.deciding.site,
        "yam_percent": status.deciding.yam_percent,
        "t_score": status.deciding.t_score,
    }
