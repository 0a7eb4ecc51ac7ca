"""What kind of values a column holds, the task its label implies, and class names as text."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

Kind = Literal["number", "category", "datetime"]
Task = Literal["classification", "regression"]

#: A numeric label with at most this many distinct whole values is taken as classes, not a quantity.
MAX_NUMERIC_CLASSES = 20


def column_kind(series: pd.Series) -> Kind | None:
    """``number``, ``category`` or ``datetime``; ``None`` when the column holds no value at all.

    Booleans and text are categories; integers and floats are numbers whatever their width, so a column
    read as ``int64`` from a file and as ``float64`` from a collection (missing values) is the same kind.
    """
    if series.notna().sum() == 0:
        return None
    if pd.api.types.is_bool_dtype(series.dtype):
        return "category"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "datetime"
    return "category"


def label_task(series: pd.Series) -> Task:
    """``classification`` unless the label is numeric with more than ``MAX_NUMERIC_CLASSES`` values or fractions."""
    if column_kind(series) != "number" or pd.api.types.is_bool_dtype(series.dtype):
        return "classification"
    values = series.dropna().to_numpy(dtype="float64")
    if np.all(values == np.round(values)) and len(np.unique(values)) <= MAX_NUMERIC_CLASSES:
        return "classification"
    return "regression"


def class_names(series: pd.Series) -> pd.Series:
    """The label's values as text (``1.0`` and ``1`` both give ``"1"``); missing values stay missing."""
    out = pd.Series(pd.NA, index=series.index, dtype=object)
    present = series.notna()
    values = series[present]
    if column_kind(series) == "number" and not pd.api.types.is_bool_dtype(series.dtype):
        floats = values.to_numpy(dtype="float64")
        whole = floats == np.round(floats)
        text = [str(int(v)) if w else repr(float(v)) for v, w in zip(floats, whole, strict=True)]
        out[present] = text
    else:
        out[present] = values.astype(str).to_numpy()
    return out


def text_values(series: pd.Series) -> pd.Series:
    """A category column as ``object`` text with missing values as ``None`` (bools give ``"True"``)."""
    out = pd.Series(None, index=series.index, dtype=object, name=series.name)
    present = series.notna()
    out[present] = series[present].astype(str).to_numpy()
    return out
