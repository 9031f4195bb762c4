"""The rule set: shipped thresholds and evidence, optionally overridden by a user file."""

from reportgen.rules.load import load_rules
from reportgen.rules.model import (
    CRITERIA,
    FACTS,
    OPERATORS,
    TRANSLATED,
    RecommendationRule,
    RiskRule,
    RuleSet,
)

__all__ = [
    "CRITERIA",
    "FACTS",
    "OPERATORS",
    "TRANSLATED",
    "RecommendationRule",
    "RiskRule",
    "RuleSet",
    "load_rules",
]
