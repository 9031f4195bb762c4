"""The seed case series' hypothesis in the shipped rules: which dose threshold it is, and the
caveats that say so wherever that threshold is in force."""

from __future__ import annotations

from functools import cache

from reportgen import formatting as fmt
from reportgen.i18n import _
from reportgen.rules.load import load_rules
from reportgen.rules.model import RuleSet

HIGH_DOSE_RULE = "mgso4_high_cumulative_dose"


@cache
def shipped_rules() -> RuleSet:
    """The shipped rule set, loaded once: the reference for "is this the shipped value?"."""
    return load_rules()


def is_seed_threshold(threshold_g: float) -> bool:
    """Whether ``threshold_g`` is the shipped cumulative-dose threshold: the hypothesis of the
    seed case series (Iio et al. 2022), proposed from its own nine patients."""
    return float(threshold_g) == shipped_rules().threshold(HIGH_DOSE_RULE)


def seed_threshold_caveat(rules: RuleSet) -> str | None:
    """The patient page's caveat on the dose threshold (translated), or None when the rules in
    force use another threshold (it would not be the seed's hypothesis)."""
    grams = rules.threshold(HIGH_DOSE_RULE)
    if not is_seed_threshold(grams):
        return None
    return _(
        "The {grams} g cumulative-dose threshold is a hypothesis from a nine-patient case "
        "series (Iio et al. 2022), not a validated cut-off."
    ).format(grams=fmt.number(grams))
