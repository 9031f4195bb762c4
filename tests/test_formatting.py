"""One formatter per kind of value (clinical-rules.md §6): the same text in a sentence, a table
cell and a chart; rounding half up; a true minus sign; never a threshold printed equal to a
value that differs from it."""

from __future__ import annotations

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen import formatting as fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3756, "3,756"),
        (1000.5, "1,000.5"),
        (18.5, "18.5"),
        (8, "8"),
        (1e6, "1,000,000"),
        (None, "—"),
        (float("nan"), "—"),
        (0.5, "0.5"),
        (-2.25, "−2.25"),
        (-3, "−3"),
    ],
)
def test_number(value, text):
    assert fmt.number(value) == text


@pytest.mark.parametrize(
    ("formatter", "value", "text"),
    [
        (fmt.bmd, 0.812, "0.812"),
        (fmt.bmd, 0.8, "0.800"),
        (fmt.bmd, 1.2345, "1.235"),
        (fmt.score, -3, "−3.0"),
        (fmt.score, -2.55, "−2.6"),
        (fmt.score, 0.04, "0.0"),
        (fmt.score, -0.04, "0.0"),
        (fmt.score, 1.25, "1.3"),
        (fmt.bmi, 17.63, "17.6"),
        (fmt.bmi, 21, "21.0"),
        (fmt.bmi, 19.95, "20.0"),
        (fmt.grams, 3756, "3,756"),
        (fmt.grams, 3755.6, "3,755.6"),
        (fmt.percent, 67, "67"),
        (fmt.percent, 79.9, "79.9"),
        (fmt.count, 12345, "12,345"),
    ],
)
def test_kinds(formatter, value, text):
    assert formatter(value) == text


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.26, "0.26"),
        (0.045, "0.05"),
        (0.0449, "0.04"),
        (0.0095, "0.010"),
        (0.004, "0.004"),
        (0.0004, "<\u00a00.001"),
        (None, "—"),
    ],
)
def test_p_value(p, text):
    assert fmt.p_value(p) == text


def test_p_value_reads_the_same_in_a_sentence_and_a_cell():
    """The review found 0.04 in a sentence and 0.05 in its table cell (two formatters)."""
    for p in (0.045, 0.0449, 0.005, 0.0004, 0.5):
        cell = fmt.p_value(p)
        assert fmt.p_clause(p).endswith(cell)


@settings(max_examples=examples(300), deadline=None)
@given(
    value=st.floats(min_value=10, max_value=40, allow_nan=False),
    threshold=st.sampled_from([18.5, 20.0, 25.0]),
)
def test_distinct_never_prints_equal_texts_for_different_values(value, threshold):
    value = round(value, 3)
    shown, limit = fmt.distinct(value, threshold, fmt.bmi)
    assert (shown == limit) == (value == threshold)


def test_distinct_keeps_one_decimal_when_it_suffices():
    assert fmt.distinct(17.63, 18.5, fmt.bmi) == ("17.6", "18.5")
    assert fmt.distinct(18.46, 18.5, fmt.bmi) == ("18.46", "18.5")
