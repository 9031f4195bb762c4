"""The typed template contexts: what each template receives as ``report`` (docs/templates.md).

Every value is a display string decided in Python; templates only loop, test and show.
The top level of each context is a frozen dataclass; the rows inside are ``TypedDict``s (plain
dicts at run time, so ``row.label`` and ``row["label"]`` both work in a template, and the
macros' ``is mapping`` tests keep working). ``render.HtmlPdfRenderer.html`` passes a context's
fields (not copies) plus ``css`` and ``lang_css`` to the template as the mapping ``report``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from reportgen.models import BoneStatus
from reportgen.settings import Organisation

# --- shared -------------------------------------------------------------------------------


class ChartImage(TypedDict):
    """A chart as the ``chart`` macro shows it: at its physical print width."""

    uri: str  # ``data:image/png;base64,…``
    width_mm: float  # print width, so the chart text keeps its point size


class LabelValue(TypedDict):
    label: str
    value: str


class ValueRow(TypedDict):
    """One line of a key–value table (the ``value_row`` macro)."""

    label: str
    value: str
    derived: bool  # the value was computed, not entered
    derived_from: str  # what it was computed from ("" = just "derived")


@dataclass(frozen=True)
class DocumentContext:
    """Fields every document has (``base.html`` shows them)."""

    lang: str  # the report language: ``en`` or ``ja`` (``<html lang>``)
    title: str  # ``<title>`` and the PDF title
    heading: str  # the ``<h1>``
    subject: str  # PDF subject (``<meta name=description>``)
    keywords: str  # PDF keywords
    organisation: Organisation  # name, department, address, logo, configured (--settings)
    tool_version: str  # reportgen's version
    generated_at: str  # ISO 8601 UTC time of the run (SOURCE_DATE_EPOCH when set)
    generated_display: str  # the same time as shown in the report's language
    footer: str  # the running footer text of every page


# --- patient report (patient.html, followup.html) ----------------------------------------


class PatientInfo(TypedDict):
    id: str  # the patient id as entered
    name: str  # "—" when the record has none
    age: str  # "31 years"
    dates: list[LabelValue]  # admitted, delivered, discharged, DXA (those recorded)
    discharge: list[LabelValue]  # gestational ages, delivery, feeding plan, follow-up …


class Iscd(TypedDict):
    """The ISCD statement for a premenopausal woman (Z-score against her age)."""

    z: str
    text: str
    below: bool  # Z ≤ −2.0: "below the expected range for age"


class StatementItem(TypedDict):
    id: str
    text: str
    severity: str  # "warning" (read first) or "info"


class Dxa(TypedDict):
    yam: str  # the YAM %, formatted
    rows: list[ValueRow]  # site, YAM, BMD, T, Z, fracture, then feeding


class LabColumn(TypedDict):
    label: str
    unit: str
    interval: str  # the reference interval, "low – high"
    note: str


class LabCell(TypedDict):
    text: str  # value, corrected value, L/H mark and † for an infusion draw
    flag: str  # "normal", "low" or "high"


class LabRow(TypedDict):
    date: str
    cells: list[LabCell]  # one per column


class LabTable(TypedDict):
    """Laboratory values: rows by date (the record's own values last), tests as columns."""

    columns: list[LabColumn]
    rows: list[LabRow]
    notes: list[str]  # footnotes: the infusion mark, test notes
    calcium: bool  # a calcium value is shown (the albumin-correction note applies)


class FlagItem(TypedDict):
    """One risk rule applied to the patient."""

    id: str  # the rule id (as in the JSON and the rule file)
    label: str
    state: str  # "present", "absent", "not_assessed" or "neutral" (physiology, not an alarm)
    state_label: str  # "Present", "Absent", "Not recorded"
    explanation: str  # why, in words
    subject: str  # what was measured
    comparison: str  # value against threshold, with no-break spaces
    evidence: str  # the citation behind the rule
    caveat: str | None  # only where the factor is present


class RecommendationItem(TypedDict):
    id: str
    text: str


class QualityNote(TypedDict):
    message: str
    severity: str  # never "warning" here: warnings stand on page 1 (``statements``)


class PatientChartImages(TypedDict):
    """The patient's charts (None where the report has no such chart)."""

    yam_zones: ChartImage | None
    dose_vs_yam: ChartImage | None
    so_far: ChartImage | None
    timeline: ChartImage | None


class FollowUpTexts(TypedDict):
    """Sentences holding a "%": built in Python (Jinja's gettext %-formats its strings)."""

    latest: str
    no_latest: str
    first: str
    method: str
    reference: str


class ScanStatusItem(TypedDict):
    date: str
    status: BoneStatus  # the bone status at that scan (as ``PatientContext.status``)
    site: str  # the deciding site
    yam: str
    reason: str


class ScanRow(TypedDict):
    """One scanned site (latest scan first)."""

    date: str  # "" when the same as the row above
    site: str
    bmd: str
    yam: str
    age_matched: str
    t: str
    z: str
    excluded: str  # excluded vertebrae, or "—"
    device: str
    new_date: bool  # first row of a scan date


class ChangeCells(TypedDict, total=False):
    """A change against an earlier scan; only ``same`` when it repeats the other column."""

    same: bool  # the previous scan is the baseline: said once
    since: str
    change: str  # "+0.012 g/cm² (+1.4 %)"
    verdict: str
    verdict_class: str  # "increase", "decrease", "no_significant_change", "not_compared"


class ChangeRow(TypedDict):
    site: str
    date: str
    lsc: str  # the site's LSC in %
    previous: ChangeCells | None
    baseline: ChangeCells | None


@dataclass(frozen=True)
class FollowUpContext:
    """``followup.html``: every scanned site, statuses and changes against the LSC (issue 12)."""

    texts: FollowUpTexts  # the status sentences, the method and the reference
    is_follow_up: bool  # more than one scan date: the report is a follow-up report
    results: list[ScanRow]  # each shown visit's scans, latest first
    results_note: str  # "" when every visit is shown, else which (the JSON has every scan)
    show_age_matched: bool  # some scan has an age-matched % (a column)
    show_device: bool  # scans on more than one device (a column)
    device: str | None  # the device of the scans (said once when there is one)
    latest: ScanStatusItem | None  # the status at the latest scan (None: no %YAM at a JOS site)
    first: ScanStatusItem | None  # None when the first scan is the latest
    changes: list[ChangeRow]  # per later scan of a site: against the previous and the first scan
    changes_trimmed: bool  # long follow-ups: each site's latest scan only
    single_sites: list[str]  # "site: scanned once (date), nothing to compare"
    lsc: str  # every site's LSC and its precision source
    precision_is_default: bool  # some site uses a default precision
    reference: str  # the %YAM reference
    treatment: str  # the treatment, as entered ("" for none)
    chart: ChartImage | None  # BMD over time per site


@dataclass(frozen=True)
class PatientContext(DocumentContext):
    """``patient.html``: one patient's report."""

    patient: PatientInfo  # identity: id, name, age, dates, discharge details
    measured: bool  # a DXA exists (else the page is an exposure and bone-health plan)
    status: BoneStatus  # ``.value`` is the CSS class, ``.label`` the translated label
    plo: bool  # osteoporosis: reported as pregnancy- and lactation-associated osteoporosis
    status_reason: str  # why this status
    criteria_label: str  # the diagnostic criteria in full
    criteria_short: str  # "JOS 2012"
    plo_note: str  # "" unless ``plo``
    iscd: Iscd | None  # with a Z-score only
    statements: list[StatementItem]  # page 1, in order
    exposure: list[ValueRow]  # MgSO4 days and dose, stay, BMI, parity, corticosteroid
    dxa: Dxa  # the DXA, fractures and feeding table
    labs: LabTable | None  # with laboratory values only
    so_far: list[ValueRow]  # MgSO4 exposure so far (--as-of with an infusion record)
    flags: list[FlagItem]  # every risk rule, in rule-file order
    recommendations: list[RecommendationItem]  # from the rule set, in order
    data_quality: list[QualityNote]  # the data notes beside the chart
    caveats: list[str]  # how to read the classification (fitted to this patient)
    notes: str  # the clinical notes as entered
    charts: PatientChartImages  # the charts at print size (None where absent)
    reference_label: str  # the reference cohort of the dose scatter
    reference_caption: str  # the caption under the dose scatter
    rules_label: str  # the rule set's name and version
    source: str  # input file and row
    json_name: str  # the JSON file written beside the report
    pdf_embeds_json: bool  # the PDF carries the JSON as an attachment
    follow_up: FollowUpContext | None  # with --scans only


# --- cohort summary (cohort.html, cohort_followup.html) -----------------------------------


class StatusRow(TypedDict):
    label: str
    value: str  # the status value (CSS class of the badge)
    count: str  # patients with this status
    percent: str  # of the measured patients


class Table1Line(TypedDict):
    what: str  # "mean (SD)", "median [IQR]", "range", a level …
    cells: list[str]  # one per group column


class Table1Row(TypedDict):
    label: str  # the variable
    kind: str  # "continuous" or "categorical"
    p: str  # the p-value, or "—"
    test: str  # short test name, or why there is no test
    missing: str  # patients without a value
    lines: list[Table1Line]  # one line per statistic or level


class Table1Column(TypedDict):
    label: str
    n: str


class Table1(TypedDict):
    columns: list[Table1Column]
    rows: list[Table1Row]
    tests: list[str]  # the tests used, for the note


class FlagRow(TypedDict):
    id: str
    label: str
    condition: str  # "present when"
    caveat: str  # marked † with its note ("" for none)
    present: str  # "n/recorded (%)"
    absent: str
    not_assessed: str


class DoseBandRow(TypedDict):
    label: str
    n: str
    normal: str
    low: str
    osteo: str
    low_or_worse: str


class DoseBands(TypedDict):
    statuses: list[str]  # the bone-status column headings, in severity order
    rows: list[DoseBandRow]
    boundary_rule: str  # which band a boundary value falls in
    missing: str  # patients without a dose ("" when none)


class AssociationRow(TypedDict):
    label: str
    test: str
    statistic: str
    p: str
    n: str
    sentence: str  # the result in words
    note: str  # a note on the test ("" for none)


class FisherRow(TypedDict):
    label: str
    cells: list[str]
    total: str


class FisherTable(TypedDict):
    columns: list[str]
    rows: list[FisherRow]
    totals: list[str]
    n: str


class ListingColumn(TypedDict):
    label: str
    numeric: bool  # right-aligned (``class="num"``)


class ExcludedRow(TypedDict):
    row: str
    id: str  # "" when de-identified
    reasons: str


class ExcludedReason(TypedDict):
    column: str
    message: str
    rows: str


class Excluded(TypedDict):
    rows: list[ExcludedRow]  # the first ``max_shown``
    total: str  # excluded rows
    problems: str  # problems found in them
    count: int  # excluded rows, as a number (0 = none)
    capped: bool  # more rows than shown
    max_shown: str  # the most rows shown
    by_reason: list[ExcludedReason]  # rows per (column, reason)
    show_id: bool  # not de-identified: the id column is shown


class WarningRow(TypedDict):
    row: str
    column: str
    message: str


class Warnings(TypedDict):
    rows: list[WarningRow]
    total: str
    capped: bool  # more warnings than shown


class MissingCell(TypedDict):
    column: str
    missing: str
    percent: str
    any: bool  # some value is missing (shown bold)


class Missing(TypedDict):
    rows: list[list[MissingCell | None]]  # three cells to a row, the last padded with None
    complete: bool  # no value missing anywhere


class QualityRow(TypedDict):
    label: str
    id: str
    count: str
    severity: str
    example: str  # the first patient, or a cohort-level detail
    ids: str  # the patients flagged (capped), or an information note


class CohortChartUris(TypedDict):
    status: str  # ``data:`` URIs ("" when there is no chart)
    dose_vs_yam: str
    days_vs_yam: str


class CohortFollowUpRow(TypedDict):
    """One site (``group`` "all") or one breastfeeding group of a site."""

    site: str  # "" on a group row
    group: str  # "all", "yes", "no" or "not recorded" (breastfeeding)
    lsc: str  # the site's LSC in %
    patients: str
    median: str  # median change in % ("" on a group row)
    gained: str
    lost: str
    none: str  # no change beyond the LSC
    not_comparable: str


@dataclass(frozen=True)
class CohortFollowUpContext:
    """``cohort_followup.html``: re-scanned patients across the cohort (issue 12)."""

    chart: ChartImage | None  # patients per site who gained, lost or did not change
    with_scans: str  # patients with scans
    with_follow_up: str  # patients scanned more than once
    interval: str  # median interval from the first to the latest scan, "412 days"
    rows: list[CohortFollowUpRow]


@dataclass(frozen=True)
class CohortContext(DocumentContext):
    """``cohort.html``: the case-series summary. Strings naming MgSO4 are markup with a
    subscript 4 (except the title, subject, keywords and footer)."""

    source: str  # input file name
    rows_read: str  # rows in the input file
    rows_excluded: int  # rows left out (invalid; --skip-invalid): a number, 0 = none
    rules_label: str  # the rule set's name and version
    criteria: str  # "JOS 2012"
    deidentified: bool  # ids are sequence numbers; no names or notes (--deidentify)
    n: str  # patients analysed
    key_figures: list[LabelValue]  # the headline figures box, computed from the data
    key_caveat: str  # the small-sample caveat ("" for a large cohort)
    status_rows: list[StatusRow]  # section 1: patients per bone status
    low_or_worse: str  # "4/9 = 44.4 %"
    measured: str  # patients with a DXA (the denominator of the statuses)
    not_measured: str  # patients without a DXA yet ("0" = none)
    yam_below: str  # patients with YAM below the normal threshold, "n/N = %"
    yam_normal_min: str  # the normal threshold's YAM %
    table1: Table1  # section 2: Table 1 by bone status
    cautions: list[str]  # "read with care" notes on Table 1 (small groups …)
    flag_rows: list[FlagRow]  # section 3: each risk rule, in rule-file order
    lab_rows: list[LabelValue]  # laboratory tests: latest value outside the interval, "n/N (%)"
    dose_bands: DoseBands  # section 4: bone status per cumulative-dose band
    associations: list[AssociationRow]  # section 4: dose–bone-mass tests, each with a sentence
    fisher_table: FisherTable | None  # the Fisher test's 2×2 counts (None without one)
    listing: list[list[str]]  # the case listing, one list of cells per patient
    listing_columns: list[ListingColumn]  # section 6: the listing headings, with their alignment
    listing_shown: str  # patients listed
    listing_total: str  # patients analysed
    listing_capped: bool  # the listing stops at --max-listing
    max_listing: str  # the --max-listing value
    excluded: Excluded  # section 7: excluded rows and why
    warnings: Warnings  # section 7: input warnings on rows that were kept
    missing: Missing  # section 7: missing values per column
    quality: list[QualityRow]  # section 7: data-quality flags across the cohort
    charts: CohortChartUris  # figures 1–3
    follow_up: CohortFollowUpContext | None = None  # with --scans only
