"""Load the rule set: the shipped file, merged with a user's override, validated and built."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import tomllib
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Any

from reportgen.columns import COLUMNS, SMOKING_WORDS
from reportgen.errors import RulesError
from reportgen.files import FileRefused, read_limited
from reportgen.models import BoneStatus
from reportgen.rules.model import (
    CRITERIA,
    FACTS,
    OPERATORS,
    TRANSLATED,
    RecommendationRule,
    RiskRule,
    RuleSet,
)

_STATUSES = tuple(s.value for s in BoneStatus)  # a recommendation's ``statuses``
_MAX_RULES_BYTES = 1 << 20  # the shipped file is 9 KB
# Bounds for values with no input column to borrow a range from (clinical-rules.md §3: the
# label maximum is 48 g/day; a loading dose is 4-6 g). Wide, but 1e-300 or 1e300 is refused.
_Z_RANGE = (-8.0, 0.0)
_MAX_PER_DAY_RANGE_G = (1.0, 500.0)
_ALLOWANCE_RANGE_G = (0.0, 100.0)


def _default_document() -> dict[str, Any]:
    text = resources.files("reportgen.rules").joinpath("default.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_rules(path: Path | str | None = None, *, criteria: str | None = None) -> RuleSet:
    """The shipped rule set, overridden by ``path`` (TOML or JSON) when given."""
    document = _default_document()
    if path is not None:
        override = _read_override(Path(path))
        _check_keys(override, document, str(path), "")
        document = _name_override(document, _merge(document, override), override, str(path))
    if criteria is not None:
        document["criteria"] = criteria
    return _build(document, str(path) if path else "default rules")


def _name_override(shipped: dict, merged: dict, override: dict, source: str) -> dict:
    """An override that changes any rule while keeping the shipped name is versioned
    ``<version>+local.<digest>``, even if it gives the shipped version itself: its outputs
    can never pass as the shipped rules (issue 16). A renamed rule set keeps its version."""
    for key in ("name", "version"):
        text = merged[key]
        if not isinstance(text, str) or not text.strip() or _hidden(text):
            raise RulesError(
                f"{source}: {key} must be non-empty text without control or format characters "
                f"(zero-width or directional marks), not {text!r}"
            )
    content = {k: v for k, v in merged.items() if k not in ("name", "version")}
    renamed = _name_key(merged["name"]) != _name_key(shipped["name"])
    if content == {k: v for k, v in shipped.items() if k not in ("name", "version")} or (
        renamed and str(merged["version"]).strip() != str(shipped["version"])
    ):
        return merged  # (a look-alike name with the shipped version is not a new rule set)
    basis = override if "version" not in override else content
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:8]
    version = str(merged["version"])
    if not version.endswith(f"+local.{digest}"):
        merged["version"] = f"{version}+local.{digest}"
    return merged


def _name_key(name: object) -> str:
    """A rule set's name as a reader sees it: NFKC, case and punctuation folded
    ("reportgen‑plo‑default" with non-breaking hyphens reads as the shipped name)."""
    return "".join(c for c in unicodedata.normalize("NFKC", str(name)).casefold() if c.isalnum())


def _hidden(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs") for c in text)


def _unique_pairs(source: Path):
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in items:
            if key in found:  # json keeps the last silently; TOML refuses on its own
                raise RulesError(f"{source}: duplicate key {key!r}")
            found[key] = value
        return found

    return pairs


def _read_override(path: Path) -> dict[str, Any]:
    try:
        text = read_limited(path, _MAX_RULES_BYTES).decode("utf-8")
    except (FileRefused, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot read rules file ({exc})") from None
    kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
    try:
        data = (
            json.loads(text, object_pairs_hook=_unique_pairs(path))
            if kind == "JSON"
            else tomllib.loads(text)
        )
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{path}: not valid {kind}: {exc}") from None
    except RecursionError:
        raise RulesError(f"{path}: not valid {kind}: nested too deeply") from None
    if not isinstance(data, dict):
        raise RulesError(f"{path}: a rules file must be a table of keys")
    return data


# Keys any risk rule or recommendation may set (not only those the shipped entry happens to
# use: adding a caveat to low_bmi, or a flag to dxa_follow_up, is a valid override).
_ENTRY_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "risk": {
        "label": str,
        "input": str,
        "operator": str,
        "threshold": (int, float, str),
        "unit": str,
        "evidence": str,
        "caveat": str,
        **{f"{k}_{lang}": str for k in ("label", "evidence", "caveat") for lang in TRANSLATED},
    },
    "recommendations": {
        "text": str,
        "statuses": list,
        "flags": list,
        "requires_flag": str,
        "facts": list,
        "requires": list,
        "variants": list,
        **{f"text_{lang}": str for lang in TRANSLATED},
    },
}
_TYPE_NAMES = {str: "text", list: "a list of text", bool: "true or false"}


def _check_keys(override: dict, base: dict, source: str, prefix: str) -> None:
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise RulesError(f"{source}: unknown key '{dotted}'")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise RulesError(f"{source}: '{dotted}' must be a table")
            section = prefix.rstrip(".")
            if section in _ENTRY_KEYS:
                _check_entry(value, _ENTRY_KEYS[section], base[key], source, dotted + ".")
            else:
                _check_keys(value, base[key], source, dotted + ".")
        else:
            _check_type(value, type(base[key]), source, dotted, base[key])


def _check_entry(override: dict, allowed: dict, base: dict, source: str, prefix: str) -> None:
    for key, value in override.items():
        if key not in allowed:
            raise RulesError(f"{source}: unknown key '{prefix}{key}'")
        expected = allowed[key]
        if key == "threshold" and key in base:  # text stays text, a number stays a number
            expected = str if isinstance(base[key], str) else (int, float)
        _check_type(value, expected, source, prefix + key, base.get(key))


def _check_type(
    value: object, expected: type | tuple[type, ...], source: str, dotted: str, default: object
) -> None:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if float in kinds or int in kinds:
        kinds = (*kinds, int, float)
    ok = isinstance(value, kinds) and (isinstance(value, bool) == (bool in kinds))
    if ok and isinstance(value, list):
        ok = all(isinstance(item, str) for item in value) or dotted.endswith(".variants")
    if not ok:
        wanted = (
            "a number"
            if int in kinds and str not in kinds
            else "a number or text"
            if int in kinds
            else _TYPE_NAMES.get(kinds[0], kinds[0].__name__)
        )
        raise RulesError(f"{source}: '{dotted}' must be {wanted}, not {value!r}")


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
            # a new English text makes the shipped translation of the old one wrong: drop it
            # (the report shows the override's English) unless the override translates it too
            for lang in TRANSLATED:
                if f"{key}_{lang}" in merged and f"{key}_{lang}" not in override:
                    del merged[f"{key}_{lang}"]
    return merged


def _translation_keys(doc: object) -> object:
    """``doc`` without the per-language texts (``label_ja``, ``text_ja`` ...)."""
    if isinstance(doc, dict):
        return {
            k: _translation_keys(v)
            for k, v in doc.items()
            if not any(k.endswith(f"_{lang}") for lang in TRANSLATED)
        }
    if isinstance(doc, list):
        return [_translation_keys(v) for v in doc]
    return doc


def _number(doc: dict, key: str, source: str, where: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RulesError(f"{source}: '{where}{key}' must be a finite number, not {value!r}")
    if abs(value) >= 0.01 and round(value, 2) != value:  # 69.99999999 printed "≤ 70 %" and
        # read a YAM of 70 as low bone mass (smaller values meet their range checks)
        raise RulesError(
            f"{source}: '{where}{key}' {value!r} has more than two decimals; the reports would "
            "print a different threshold than the one applied"
        )
    return float(value)


def _bounded(doc: dict, key: str, bounds: tuple[float, float], source: str, where: str) -> float:
    value = _number(doc, key, source, where)
    if not bounds[0] <= value <= bounds[1]:
        raise RulesError(
            f"{source}: '{where}{key}' {value:g} is outside {bounds[0]:g}–{bounds[1]:g}"
        )
    return value


def _build(doc: dict[str, Any], source: str) -> RuleSet:
    if doc.get("criteria") not in CRITERIA:
        raise RulesError(
            f"{source}: criteria must be one of {', '.join(CRITERIA)}, not {doc.get('criteria')!r}"
        )
    bone = doc["bone_status"]
    osteo = _number(bone, "yam_osteoporosis_max_pct", source, "bone_status.")
    normal = _number(bone, "yam_normal_min_pct", source, "bone_status.")
    low, high = COLUMNS["yam_percent"].low, COLUMNS["yam_percent"].high
    assert low is not None  # the column table gives YAM a range
    assert high is not None
    if not low <= osteo < normal <= high:
        raise RulesError(
            f"{source}: need {low:g} <= bone_status.yam_osteoporosis_max_pct "
            f"({osteo:g}) < bone_status.yam_normal_min_pct ({normal:g}) <= "
            f"{high:g} (the plausible YAM range)"
        )
    t_osteo = _number(bone, "t_score_osteoporosis_max", source, "bone_status.")
    if not -8 <= t_osteo <= -1:
        raise RulesError(
            f"{source}: need -8 <= bone_status.t_score_osteoporosis_max ({t_osteo:g}) <= -1"
        )
    z_max = _bounded(doc["iscd"], "z_below_expected_max", _Z_RANGE, source, "iscd.")
    dq = doc["data_quality"]
    max_per_day = _bounded(dq, "mgso4_max_g_per_day", _MAX_PER_DAY_RANGE_G, source, "data_quality.")
    allowance = _bounded(
        dq, "mgso4_loading_allowance_g", _ALLOWANCE_RANGE_G, source, "data_quality."
    )
    risk_rules = tuple(_risk_rule(rid, spec, source) for rid, spec in doc["risk"].items())
    recs = tuple(
        _recommendation(rid, spec, {r.rule_id for r in risk_rules}, source)
        for rid, spec in doc["recommendations"].items()
    )
    secondary = tuple(doc.get("secondary_causes", {}).get("rules", ()))
    unknown = [r for r in secondary if r not in {rule.rule_id for rule in risk_rules}]
    if unknown:
        raise RulesError(
            f"{source}: 'secondary_causes.rules' names {unknown[0]!r}, which is not a risk rule id"
        )
    # The digest covers the rules and their English words; the translations have their own
    # (a report's resume key adds it for a language other than English).
    canonical = json.dumps(_translation_keys(doc), sort_keys=True, ensure_ascii=False).encode()
    everything = json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()
    return RuleSet(
        name=str(doc["name"]),
        version=str(doc["version"]),
        criteria=doc["criteria"],
        yam_osteoporosis_max_pct=osteo,
        yam_normal_min_pct=normal,
        t_osteoporosis_max=t_osteo,
        z_below_expected_max=z_max,
        bone_evidence=bone["evidence"]
        if doc["criteria"] == "jos2012"
        else str(bone["evidence_jos2000"]),
        iscd_evidence=doc["iscd"]["evidence"],
        mgso4_max_g_per_day=max_per_day,
        mgso4_loading_allowance_g=allowance,
        risk_rules=risk_rules,
        recommendations=recs,
        secondary_cause_rules=secondary,
        data=doc,
        digest=hashlib.sha256(canonical).hexdigest(),
        translations_digest=hashlib.sha256(everything).hexdigest(),
        bone_evidence_texts=_texts(
            bone, "evidence" if doc["criteria"] == "jos2012" else "evidence_jos2000"
        ),
        iscd_evidence_texts=_texts(doc["iscd"], "evidence"),
    )


def _texts(spec: dict, key: str) -> tuple[tuple[str, str], ...]:
    """(("ja", spec["<key>_ja"]),) for each translated language present."""
    return tuple(
        (lang, str(spec[f"{key}_{lang}"])) for lang in TRANSLATED if f"{key}_{lang}" in spec
    )


def _recommendation(rec_id: str, spec: dict, rule_ids: set[str], source: str) -> RecommendationRule:
    where = f"recommendations.{rec_id}."
    statuses, flags = tuple(spec.get("statuses", ())), tuple(spec.get("flags", ()))
    requires = spec.get("requires_flag")
    for status in statuses:
        if status not in _STATUSES:
            raise RulesError(
                f"{source}: '{where}statuses' has {status!r}; use {', '.join(_STATUSES)}"
            )
    for flag in (*flags, *([requires] if requires else [])):
        if flag not in rule_ids:
            raise RulesError(
                f"{source}: '{where.rstrip('.')}' names {flag!r}, which is not a risk rule id"
            )
    facts, needs = tuple(spec.get("facts", ())), tuple(spec.get("requires", ()))
    variants, variant_texts = [], []
    allowed = {"when", "text", *(f"text_{lang}" for lang in TRANSLATED)}
    for variant in spec.get("variants", ()):
        if not (
            isinstance(variant, dict)
            and {"when", "text"} <= set(variant) <= allowed
            and all(isinstance(v, str) for v in variant.values())
        ):
            raise RulesError(
                f"{source}: '{where}variants' entries must be tables of "
                "'when' (a fact) and 'text' (and 'text_ja')"
            )
        variants.append((variant["when"], variant["text"]))
        variant_texts.append(_texts(variant, "text"))
    for fact in (*facts, *needs, *(w for w, _ in variants)):
        if fact not in FACTS:
            raise RulesError(
                f"{source}: '{where.rstrip('.')}' names {fact!r}, which is not a "
                f"fact; use {', '.join(FACTS)}"
            )
    return RecommendationRule(
        rec_id,
        str(spec["text"]),
        statuses,
        flags,
        requires,
        facts,
        needs,
        tuple(variants),
        _texts(spec, "text"),
        tuple(variant_texts),
    )


def _risk_rule(rule_id: str, spec: dict, source: str) -> RiskRule:
    where = f"risk.{rule_id}."
    operator = spec.get("operator")
    if operator not in OPERATORS:
        raise RulesError(f"{source}: '{where}operator' must be one of {' '.join(OPERATORS)}")
    column = COLUMNS.get(str(spec.get("input")))
    if column is None:
        raise RulesError(f"{source}: '{where}input' {spec.get('input')!r} is not an input column")
    kinds = {"is_true": ("boolean",), "!=": ("smoking",)}.get(  # free text is never a risk
        operator, ("number", "integer")
    )
    if column.kind not in kinds:
        raise RulesError(
            f"{source}: '{where}operator' {operator!r} does not fit {column.name} ({column.kind})"
        )
    threshold = spec.get("threshold")
    if operator == "is_true":
        if threshold is not None:
            raise RulesError(f"{source}: '{where}threshold' has no meaning for a yes/no rule")
    elif operator == "!=":
        if not isinstance(threshold, str):
            raise RulesError(f"{source}: '{where}threshold' must be text for '!='")
        allowed = sorted(set(SMOKING_WORDS.values()))
        if threshold not in allowed:  # "Never" flagged everyone
            raise RulesError(
                f"{source}: '{where}threshold' {threshold!r} is not a smoking "
                f"status; use one of {', '.join(allowed)}"
            )
        if threshold != "never":  # "≠ during_pregnancy" flagged never-smokers, not smokers
            raise RulesError(
                f"{source}: '{where}threshold' for '!=' must be 'never' (any smoking is the "
                f"risk); {threshold!r} would flag never-smokers"
            )
    else:
        threshold = _number(spec, "threshold", source, where)
        if threshold < 0 <= (column.low or 0):
            raise RulesError(f"{source}: '{where}threshold' must not be negative ({threshold:g})")
        if column.kind == "integer" and not threshold.is_integer():  # 1e-300 days
            raise RulesError(
                f"{source}: '{where}threshold' must be a whole number for "
                f"{column.name}, not {threshold:g}"
            )
        if (
            column.low is not None
            and column.high is not None
            and not column.low <= threshold <= column.high
        ):
            raise RulesError(
                f"{source}: '{where}threshold' {threshold:g} is outside the "
                f"plausible range of {column.name} ({column.low:g}–"
                f"{column.high:g})"
            )
    translations = tuple(
        (f"{key}_{lang}", str(spec[f"{key}_{lang}"]))
        for key in ("label", "evidence", "caveat")
        for lang in TRANSLATED
        if f"{key}_{lang}" in spec
    )
    return RiskRule(
        rule_id,
        str(spec["label"]),
        str(spec["input"]),
        operator,
        threshold,
        str(spec.get("unit", "")),
        str(spec["evidence"]),
        spec.get("caveat"),
        translations,
    )
