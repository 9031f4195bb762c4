"""The pandas side of the record model: a typed frame's rows as plain-Python records."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from reportgen.cells import plain_moment, plain_number


def records_from_frame(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Plain-Python records (None for missing; dates as ``date``)."""
    columns = list(frame.columns)
    out = []
    for values in frame.itertuples(index=False, name=None):
        out.append({c: _plain(v) for c, v in zip(columns, values, strict=True)})
    return out


def _plain(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return plain_moment(value.to_pydatetime())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        value = float(value)
        return None if math.isnan(value) else plain_number(value)
    return value
