"""A pushed model version as the server sees it: what its input must look like, and how to score it."""

from __future__ import annotations

import abc
import math
import threading
from typing import Any

import numpy as np


class BadInput(ValueError):
    """The rows do not fit the model; the message says what is wrong and what is expected."""


class ServedModel(abc.ABC):
    """A loaded model: its metadata, its input shape and feature names, and ``predict``.

    Subclasses load one framework's model file and score a validated array.
    """

    #: numpy dtype the framework wants.
    dtype = "float64"

    def __init__(self, meta: dict[str, Any], shape: tuple[int, ...], feature_names: list[str]) -> None:
        self.meta = meta
        self.shape = shape
        self.feature_names = feature_names
        #: The model imputes missing values itself (a data project's Pipeline): ``null`` in a row is NaN.
        self.allow_missing = bool(meta.get("allow_missing"))
        #: Features the model takes as text (a data project's categories, see ``categories_of``): a row gives them
        #: as strings, ``null`` when missing.
        self.categories: frozenset[str] = frozenset()
        #: The data's missing-value markers (a data project's ``na_values``): such a value in a row is missing.
        self.na_values = frozenset(str(v) for v in meta.get("na_values") or ()) if self.allow_missing else frozenset()
        #: Held while scoring: concurrent calls in one process would only fight over the GIL (or the
        #: framework's own thread pool) and make every answer slower; the other workers use the other CPUs.
        self.lock = threading.Lock()

    @property
    def project(self) -> str:
        """The project the model belongs to."""
        return str(self.meta.get("project") or "")

    @property
    def version(self) -> int | None:
        """The model version."""
        return self.meta.get("version")

    @property
    def classes(self) -> list[Any] | None:
        """The labels a classifier predicts (what feedback may say), or ``None`` for a regressor."""
        return None

    @property
    def task(self) -> str:
        """``classification`` or ``regression``."""
        return "regression" if self.classes is None else "classification"

    @property
    def width(self) -> int:
        """Numbers per row (0: the model does not say)."""
        return math.prod(self.shape) if self.shape else 0

    def to_array(self, rows: list[Any]) -> np.ndarray:
        """Validated rows (lists of numbers, nested or flat, or ``{"feature": value}`` objects) as one array.

        Args:
            rows: The ``rows`` of a request.

        Returns:
            An array of shape ``(len(rows), *input_shape)``.

        Raises:
            BadInput: With the first row that does not fit and why.
        """
        if self.feature_names and any(isinstance(row, dict) for row in rows):
            rows = [self._by_name(i, row) if isinstance(row, dict) else row for i, row in enumerate(rows)]
        if self.categories:
            return _mixed(rows, self)
        try:  # the common case in one C call; anything unusual goes row by row below
            x = np.asarray(rows, dtype=self.dtype)
        except (TypeError, ValueError):
            x = None
        if (x is None or x.ndim < 2 or (self.width and x[0].size != self.width)
                or not self._allowed(x).all()):
            x = np.asarray(_checked(rows, self), dtype=self.dtype)
        return x.reshape((len(rows), *self.shape) if self.shape else (len(rows), -1))

    def _allowed(self, x: np.ndarray) -> np.ndarray:
        """Which values the model takes: finite numbers, and NaN when it imputes missing values."""
        return np.isfinite(x) | np.isnan(x) if self.allow_missing else np.isfinite(x)

    def _by_name(self, i: int, row: dict[str, Any]) -> list[Any]:
        missing = [f for f in self.feature_names if f not in row]
        if missing:
            raise BadInput(f"row {i}: missing features {missing[:5]}")
        return [row[f] for f in self.feature_names]

    def frame(self, x: np.ndarray) -> Any:
        """Rows as the DataFrame the model was fitted on: its feature names, numbers as ``float64`` and categories
        as text."""
        import pandas as pd

        frame = pd.DataFrame(x, columns=self.feature_names)
        if x.dtype == object:
            frame = frame.astype({c: "float64" for c in self.feature_names if c not in self.categories})
        return frame

    @abc.abstractmethod
    def predict(self, x: np.ndarray) -> dict[str, Any]:
        """Score validated rows: ``{"predictions": [...]}`` (and ``probabilities`` for Keras classifiers)."""


def boolean_in(rows: list[Any]) -> str | None:
    """Why the rows are refused if a value in them is ``true`` or ``false`` (numpy would take it as 1 or 0), else
    ``None``."""
    for i, row in enumerate(rows):
        values = row.items() if isinstance(row, dict) else enumerate(_flatten(row) if isinstance(row, list) else [])
        for where, value in values:
            if isinstance(value, bool):
                what = f"feature {where!r}" if isinstance(row, dict) else f"value {where}"
                return f"row {i}: {what} is {str(value).lower()}, not a number; send 1 or 0 if that is what it means"
    return None


def _checked(rows: list[Any], model: ServedModel) -> list[list[float]]:
    """Rows checked one by one and flattened, or the reason why the first bad one does not fit ``model``."""
    out = []
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            raise BadInput(f"row {i}: this model has no feature names; send a list of {model.width} numbers")
        if not isinstance(row, list):
            raise BadInput(f"row {i}: expected a list of {model.width} numbers")
        flat = _flatten(row)
        if model.width and len(flat) != model.width:
            raise BadInput(f"row {i}: expected {model.width} numbers (input shape {list(model.shape)}), "
                           f"got {len(flat)}")
        if any(isinstance(v, bool) for v in flat):
            raise BadInput(f"row {i}: true and false are not numbers; send 1 or 0 if that is what they mean")
        try:
            values = [math.nan if model.allow_missing and (v is None or (isinstance(v, str) and v in model.na_values))
                      else float(v) for v in flat]
        except (TypeError, ValueError) as e:
            raise BadInput(f"row {i}: every value must be a number ({e})") from e
        if not all(math.isfinite(v) or (model.allow_missing and math.isnan(v)) for v in values):
            raise BadInput(f"row {i}: values must be finite numbers" + (" or null" if model.allow_missing else ""))
        out.append(values)
    if len({len(row) for row in out}) > 1:
        raise BadInput(f"every row must have the same number of values (row 0 has {len(out[0])})")
    return out


def categories_of(transform: Any) -> frozenset[str]:
    """The columns a fitted ``ColumnTransformer`` encodes as categories (a one-hot or ordinal encoder in their part);
    none for anything else."""
    out: set[str] = set()
    for _, part, columns in getattr(transform, "transformers_", None) or []:
        steps = [step for _, step in part.steps] if hasattr(part, "steps") else [part]
        if any(type(step).__name__ in ("OneHotEncoder", "OrdinalEncoder") for step in steps):
            out |= {str(c) for c in columns}
    return frozenset(out)


def _mixed(rows: list[Any], model: ServedModel) -> np.ndarray:
    """Rows of a model that takes categories, as an object array: numbers as floats (``null``: NaN), categories as
    text (``null``: ``None``)."""
    names = model.feature_names
    out = np.empty((len(rows), len(names)), dtype=object)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise BadInput(f"row {i}: expected an object with the features {names[:5]}... or a list of {len(names)} "
                           "values")
        for j, (name, value) in enumerate(zip(names, row, strict=True)):
            if value is None or (isinstance(value, str) and value in model.na_values):
                out[i, j] = None if name in model.categories else math.nan
            elif name in model.categories:
                if isinstance(value, dict | list):
                    raise BadInput(f"row {i}: feature {name!r} is a category: send text, or null when missing")
                out[i, j] = str(value)
            elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise BadInput(f"row {i}: feature {name!r} must be a number, or null when missing (got {value!r})")
            else:
                out[i, j] = float(value)
    return out


def _flatten(row: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for v in row:
        flat.extend(_flatten(v) if isinstance(v, list) else [v])
    return flat
