"""The rule set: shipped thresholds and evidence, optionally overridden by a user file."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from reportgen.errors import RulesError

CRITERIA = ("jos2012", "jos2000")
OPERATORS = (">", ">=", "<", "<=", "!=", "is_true")
_BOOLEAN_INPUTS = {"family_history", "breastfeeding", "glucocorticoid", "heparin"}


@dataclass(frozen=True)
class RiskRule:
    """One risk flag: ``input operator threshold`` with its evidence."""

    rule_id: str
    label: str
    input: str
    operator: str
    threshold: float | str | None
    unit: str
    evidence: str
    caveat: str | None

    @property
    def condition(self) -> str:
        """Human-readable condition, e.g. ``mgso4_total_g > 1,000 g``."""
        if self.operator == "is_true":
            return f"{self.input} = yes"
        if isinstance(self.threshold, str):
            return f"{self.input} {_op_text(self.operator)} {self.threshold}"
        return f"{self.input} {_op_text(self.operator)} {format_number(self.threshold)} {self.unit}"


@dataclass(frozen=True)
class RecommendationRule:
    rec_id: str
    text: str
    statuses: tuple[str, ...]
    flags: tuple[str, ...]
    requires_flag: str | None


@dataclass(frozen=True)
class RuleSet:
    """The validated rule set in force; ``data`` is the merged document."""

    name: str
    version: str
    criteria: str
    yam_osteoporosis_max_pct: float
    yam_normal_min_pct: float
    z_below_expected_max: float
    bone_evidence: str
    iscd_evidence: str
    mgso4_max_g_per_day: float
    mgso4_loading_allowance_g: float
    risk_rules: tuple[RiskRule, ...]
    recommendations: tuple[RecommendationRule, ...]
    data: dict[str, Any]
    digest: str

    def risk_rule(self, rule_id: str) -> RiskRule:
        return next(r for r in self.risk_rules if r.rule_id == rule_id)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} ({self.criteria})"


def format_number(value: float | int | None, decimals: int | None = None) -> str:
    """``3756 -> '3,756'``, ``18.5 -> '18.5'``; None -> '—'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if decimals is not None:
        return f"{value:,.{decimals}f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _op_text(op: str) -> str:
    return {">=": "≥", "<=": "≤", "!=": "≠"}.get(op, op)


def _default_document() -> dict[str, Any]:
    text = resources.files("reportgen.rules").joinpath("default.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_rules(path: Path | str | None = None, *, criteria: str | None = None) -> RuleSet:
    """The shipped rule set, overridden by ``path`` (TOML or JSON) when given."""
    document = _default_document()
    if path is not None:
        override = _read_override(Path(path))
        _check_keys(override, document, str(path), "")
        merged = _merge(document, override)
        if "version" not in override:
            digest = hashlib.sha256(json.dumps(override, sort_keys=True).encode()).hexdigest()
            merged["version"] = f"{document['version']}+local.{digest[:8]}"
        document = merged
    if criteria is not None:
        document["criteria"] = criteria
    return _build(document, str(path) if path else "default rules")


def _read_override(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot read rules file ({exc.__class__.__name__})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: "
                         f"{exc}") from None
    if not isinstance(data, dict):
        raise RulesError(f"{path}: a rules file must be a table of keys")
    return data


def _check_keys(override: dict, base: dict, source: str, prefix: str) -> None:
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise RulesError(f"{source}: unknown key '{dotted}'")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise RulesError(f"{source}: '{dotted}' must be a table")
            _check_keys(value, base[key], source, dotted + ".")
        elif key == "threshold" and base[key] is not None:
            numeric = isinstance(base[key], int | float)
            if numeric != (isinstance(value, int | float) and not isinstance(value, bool)):
                raise RulesError(f"{source}: '{dotted}' must be a "
                                 f"{'number' if not isinstance(base[key], str) else 'text'}")


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _number(doc: dict, key: str, source: str, where: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RulesError(f"{source}: '{where}{key}' must be a finite number, not {value!r}")
    return float(value)


def _build(doc: dict[str, Any], source: str) -> RuleSet:
    if doc.get("criteria") not in CRITERIA:
        raise RulesError(f"{source}: criteria must be one of {', '.join(CRITERIA)}, "
                         f"not {doc.get('criteria')!r}")
    bone = doc["bone_status"]
    osteo = _number(bone, "yam_osteoporosis_max_pct", source, "bone_status.")
    normal = _number(bone, "yam_normal_min_pct", source, "bone_status.")
    if not 0 < osteo < normal <= 150:
        raise RulesError(f"{source}: need 0 < bone_status.yam_osteoporosis_max_pct ({osteo:g}) < "
                         f"bone_status.yam_normal_min_pct ({normal:g}) <= 150")
    z_max = _number(doc["iscd"], "z_below_expected_max", source, "iscd.")
    dq = doc["data_quality"]
    max_per_day = _number(dq, "mgso4_max_g_per_day", source, "data_quality.")
    allowance = _number(dq, "mgso4_loading_allowance_g", source, "data_quality.")
    if max_per_day <= 0 or allowance < 0:
        raise RulesError(f"{source}: data_quality limits must be positive")
    risk_rules = tuple(_risk_rule(rid, spec, source) for rid, spec in doc["risk"].items())
    recs = tuple(
        RecommendationRule(rid, str(spec["text"]), tuple(spec.get("statuses", ())),
                           tuple(spec.get("flags", ())), spec.get("requires_flag"))
        for rid, spec in doc["recommendations"].items()
    )
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()
    return RuleSet(
        name=str(doc["name"]), version=str(doc["version"]), criteria=doc["criteria"],
        yam_osteoporosis_max_pct=osteo, yam_normal_min_pct=normal, z_below_expected_max=z_max,
        bone_evidence=bone["evidence"], iscd_evidence=doc["iscd"]["evidence"],
        mgso4_max_g_per_day=max_per_day, mgso4_loading_allowance_g=allowance,
        risk_rules=risk_rules, recommendations=recs, data=doc,
        digest=hashlib.sha256(canonical).hexdigest(),
    )


def _risk_rule(rule_id: str, spec: dict, source: str) -> RiskRule:
    where = f"risk.{rule_id}."
    operator = spec.get("operator")
    if operator not in OPERATORS:
        raise RulesError(f"{source}: '{where}operator' must be one of {' '.join(OPERATORS)}")
    threshold = spec.get("threshold")
    if operator == "is_true":
        threshold = None
    elif operator == "!=":
        if not isinstance(threshold, str):
            raise RulesError(f"{source}: '{where}threshold' must be text for '!='")
    else:
        threshold = _number(spec, "threshold", source, where)
        if threshold < 0:
            raise RulesError(f"{source}: '{where}threshold' must not be negative ({threshold:g})")
    return RiskRule(rule_id, str(spec["label"]), str(spec["input"]), operator, threshold,
                    str(spec.get("unit", "")), str(spec["evidence"]), spec.get("caveat"))
