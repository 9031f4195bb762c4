"""The cohort summary's statistical tables as display strings: Table 1, risk flags, dose bands,
associations and the Fisher table, with the number formats they share.

Every number is formatted the way a paper prints it: thousands separators (``1,552``),
percentages to one decimal (``44.4 %``), rounding half up (``29.25 -> 29.3``), a true minus
sign (``−0.42``) and p-values to two decimals (three below 0.01).
"""

from __future__ import annotations

from reportgen import formatting as fmt
from reportgen.context_types import (
    AssociationRow,
    DoseBandRow,
    DoseBands,
    FisherRow,
    FisherTable,
    FlagRow,
    Table1,
    Table1Column,
    Table1Line,
    Table1Row,
)
from reportgen.i18n import N_, _
from reportgen.models import STATUS_LABELS
from reportgen.rules import RuleSet

# Decimals of the mean, SD, median and quartiles per column (one unless listed).
DECIMALS = {"mgso4_total_g": 0, "bmd_g_cm2": 3}
_SHORT_TEST = {
    "Mann–Whitney U test": N_("Mann–Whitney U"),
    "Fisher's exact test": N_("Fisher's exact"),
    "Chi-squared test": N_("χ² test"),
    "Spearman rank correlation": N_("Spearman"),
}
_TEST_NAMES = (
    N_("Mann–Whitney U test"),
    N_("Fisher's exact test"),
    N_("Chi-squared test"),
    N_("Spearman rank correlation"),
)
# summary.py's reasons (English in the JSON) -> short words for the table
_SHORT_REASONS = (
    ("defined by", N_("defines the groups")),
    ("only one level", N_("one level only")),
    ("fewer than 2", N_("under 2 values in a group")),
    ("no patient with a value", N_("a group has no values")),
)
half_up = fmt.half_up
num = fmt.half_up  # with a typographic minus sign (−0.42)
count = fmt.count
p_value = fmt.p_value


def share(part: int, whole: int) -> str:
    """``4/9 (44.4 %)``: the numerator, the explicit denominator and the percentage."""
    if not whole:
        return f"{part:,}/0"
    return f"{part:,}/{whole:,} ({half_up(100 * part / whole)} %)"


def span(low: str, high: str) -> str:
    """``168–3,756``; with a negative bound ``−2.9 to −1.1`` (a dash would read as a minus)."""
    if low == "—" and high == "—":
        return "—"
    joiner = _(" to ") if "\u2212" in low + high else "–"
    return f"{low}{joiner}{high}"


def ratio(part: int, whole: int) -> str:
    """``4/9 = 44.4 %``."""
    if not whole:
        return f"{part:,}/0"
    return f"{part:,}/{whole:,} = {half_up(100 * part / whole)} %"


def plain(value: float | None) -> str:
    """A raw data value (a minimum or maximum) as entered: 18.1, 3,756, −2.9."""
    return fmt.number(value)


def _continuous(stat: dict, decimals: int, integer: bool) -> list[str]:
    if not stat or stat["n"] == 0:
        return ["—", "—", "—"]
    sd = f" ({num(stat['sd'], decimals)})" if stat["sd"] is not None else ""
    if integer:
        low, high = count(stat["min"]), count(stat["max"])
    else:
        low, high = num(stat["min"], decimals), num(stat["max"], decimals)
    return [
        f"{num(stat['mean'], decimals)}{sd}",
        f"{num(stat['median'], decimals)} "
        f"[{span(num(stat['q1'], decimals), num(stat['q3'], decimals))}]",
        span(low.replace("-", "\u2212"), high.replace("-", "\u2212")),
    ]


def _test_cells(test: dict) -> tuple[str, str]:
    """(p-value, test name or why there is none)."""
    if test.get("name"):
        return p_value(test.get("p_value")), _(_SHORT_TEST.get(test["name"], test["name"]))
    reason = test.get("reason") or ""
    for pattern, short in _SHORT_REASONS:
        if pattern in reason:
            reason = _(short)
            break
    return "—", (_("not tested: {reason}").format(reason=reason) if reason else _("not tested"))


def table1(table: dict, integer_columns: set[str]) -> Table1:
    keys = [c["key"] for c in table["columns"]]
    rows: list[Table1Row] = []
    for row in table["rows"]:
        p, test = _test_cells(row["test"] or {})
        if row["kind"] == "continuous":
            variable = row["variable"]
            decimals = DECIMALS.get(variable, 1)
            cells = {
                k: _continuous(row["stats"].get(k), decimals, variable in integer_columns)
                for k in keys
            }
            whats = [_("mean (SD)"), _("median [IQR]"), _("range")]
            lines = [
                Table1Line(what=what, cells=[cells[k][i] for k in keys])
                for i, what in enumerate(whats)
            ]
            missing = row["stats"][keys[0]]["missing"]
            if missing:
                lines.append(
                    Table1Line(
                        what=_("n with a value"),
                        cells=[count(row["stats"][k]["n"]) for k in keys],
                    )
                )
        else:
            lines = []
            for level in row["levels"]:
                lines.append(
                    Table1Line(
                        what=level["label"],
                        cells=[
                            share(level["counts"][k]["count"], row["denominator"][k]) for k in keys
                        ],
                    )
                )
            missing = row["missing"][keys[0]]
        rows.append(
            {
                "label": row["label"],
                "kind": row["kind"],
                "p": p,
                "test": test,
                "missing": count(missing),
                "lines": lines,
            }
        )
    columns = [
        Table1Column(
            label=_(STATUS_LABELS["normal"]) if c["key"] == "normal" else c["label"],
            n=count(c["n"]),
        )
        for c in table["columns"]
    ]
    tests = sorted({r["test"]["name"] for r in table["rows"] if (r["test"] or {}).get("name")})
    tests = [_(t) for t in tests]
    return {"columns": columns, "rows": rows, "tests": tests}


def flag_rows(counts: dict, rules: RuleSet, n: int) -> list[FlagRow]:
    rows: list[FlagRow] = []
    for rule in rules.risk_rules:
        c = counts.get(rule.rule_id, {"present": 0, "absent": 0, "not_assessed": n})
        assessed = c["present"] + c["absent"]
        rows.append(
            {
                "id": rule.rule_id,
                "label": str(rule.text("label")),
                "condition": rule.condition,
                "caveat": rule.text("caveat") or "",
                "present": share(c["present"], assessed) if assessed else count(c["present"]),
                "absent": count(c["absent"]),
                "not_assessed": count(c["not_assessed"]),
            }
        )
    return rows


def dose_bands(bands: dict) -> DoseBands:
    rows: list[DoseBandRow] = [
        {
            "label": b["label"],
            "n": count(b["n"]),
            "normal": count(b["classification_counts"]["normal"]),
            "low": count(b["classification_counts"]["low_bone_mass"]),
            "osteo": count(b["classification_counts"]["osteoporosis"]),
            "low_or_worse": share(b["low_bone_mass_or_worse"]["count"], b["n"]) if b["n"] else "—",
        }
        for b in bands["bands"]
    ]
    return {
        "statuses": [_(label) for label in STATUS_LABELS.values()],
        "rows": rows,
        "boundary_rule": bands["boundary_rule"],
        "missing": count(bands["missing"]) if bands["missing"] else "",
    }


def association(a: dict) -> AssociationRow:
    if a["statistic_name"] == "rho":
        statistic = "—" if a["statistic"] is None else f"ρ = {num(a['statistic'], 2)}"
    elif a["statistic"] is not None:
        statistic = f"OR = {num(a['statistic'], 2)}"
    elif a["p_value"] is not None:
        statistic = _("OR not estimable (a zero cell)")
    else:
        statistic = "—"
    return {
        "label": a["label"],
        "test": _(a["test"]),
        "statistic": statistic,
        "p": p_value(a["p_value"]),
        "n": count(a["n"]),
        "sentence": a["sentence"],
        "note": a.get("note") or "",
    }


def fisher_table(associations: list[dict]) -> FisherTable | None:
    fisher = next((a for a in associations if a.get("table")), None)
    if fisher is None:
        return None
    table = fisher["table"]
    counts = table["counts"]
    rows = [
        FisherRow(label=label, cells=[count(v) for v in values], total=count(sum(values)))
        for label, values in zip(table["rows"], counts, strict=True)
    ]
    totals = [count(sum(col)) for col in zip(*counts, strict=True)]
    return {
        "columns": table["columns"],
        "rows": rows,
        "totals": totals,
        "n": count(sum(sum(r) for r in counts)),
    }
