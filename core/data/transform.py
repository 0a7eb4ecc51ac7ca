"""The fitted preparation of a data project's features, saved with the model.

Built only from scikit-learn parts (``ColumnTransformer``, ``Pipeline``, ``SimpleImputer``, ``StandardScaler``,
``OneHotEncoder``), so a model saved with it loads wherever scikit-learn is installed, without ``mlops``:

- columns missing in more than ``max_missing_ratio`` of the training rows are dropped (the APS project drops
  those over 70%), as are columns with no value at all;
- numbers: missing values imputed (median by default), then standardised;
- categories (text, booleans): missing values imputed with the most frequent one, then one-hot encoded;
  a category unseen in training encodes as all zeros instead of failing;
- date-time columns are dropped.

Which columns go where is decided from the frame given to ``make_transform`` (the training split), and written
in the ``ColumnTransformer``'s ``transformers`` list, so it is visible in the saved model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import pandas as pd
from pydantic import BaseModel, Field

from core.data._columns import column_kind

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer


class TransformOptions(BaseModel):
    """How the features are prepared (see the module docstring)."""

    max_missing_ratio: float = Field(0.7, ge=0, le=1)
    impute: Literal["median", "mean"] = "median"
    scale: bool = True
    one_hot: bool = True
    max_categories: int | None = Field(20, ge=2)


def make_transform(frame: pd.DataFrame, label: str | None = None, options: TransformOptions | None = None
                   ) -> ColumnTransformer:
    """An unfitted ``ColumnTransformer`` for the features of ``frame`` (all columns but ``label``).

    Put it first in a ``Pipeline`` with the model, or fit it alone. The frame it is fitted on must have the
    same columns (extra ones are ignored).

    Args:
        frame: Rows to decide from, normally the training split.
        label: The column to predict, left out.
        options: Default ``TransformOptions()``.

    Returns:
        ``sklearn.compose.ColumnTransformer`` with up to three parts: ``numbers``, ``categories``, ``dropped``.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    options = options or TransformOptions()
    features = [c for c in frame.columns if c != label]
    missing = frame[features].isna().mean()
    numbers, categories, dropped = [], [], []
    for name in features:
        kind = column_kind(frame[name])
        if kind is None or missing[name] > options.max_missing_ratio or kind == "datetime":
            dropped.append(name)
        elif kind == "number":
            numbers.append(name)
        elif options.one_hot:
            categories.append(name)
        else:
            dropped.append(name)
    parts = []
    if numbers:
        steps = [("impute", SimpleImputer(strategy=options.impute))]
        if options.scale:
            steps.append(("scale", StandardScaler()))
        parts.append(("numbers", Pipeline(steps), numbers))
    if categories:
        parts.append(("categories", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent", missing_values=pd.NA)),  # NA, NaN and None
            ("one_hot", OneHotEncoder(handle_unknown="infrequent_if_exist" if options.max_categories else "ignore",
                                      max_categories=options.max_categories, sparse_output=False)),
        ]), categories))
    if dropped:
        parts.append(("dropped", "drop", dropped))
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


def fitted_transform(frame: pd.DataFrame, label: str | None = None, options: TransformOptions | None = None
                     ) -> ColumnTransformer:
    """``make_transform`` fitted on ``frame``'s features."""
    transform = make_transform(frame, label, options)
    return transform.fit(frame.drop(columns=[label]) if label in frame.columns else frame)
