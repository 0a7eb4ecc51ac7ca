"""Request and response bodies, and the one-line reason for a body that does not fit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

#: One row: numbers (nested lists for a multi-dimensional input such as an image), or feature values by name.
Row = list[Any] | dict[str, Any]


class PredictRequest(BaseModel):
    """``{"rows": [[...], ...]}`` or ``{"rows": [{"feature": value, ...}, ...]}``."""

    rows: list[Row] = Field(min_length=1, description="Rows to score, at least one.")


class Health(BaseModel):
    """A loaded model and what its input must look like."""

    status: str
    project: str | None
    model_version: int | None
    input_shape: list[int]
    features: list[str]


def one_line(errors: Sequence[Any]) -> str:
    """What to fix in a ``/predict`` body, from pydantic's validation errors (the first one)."""
    first = errors[0] if errors else {}
    loc = [str(x) for x in first.get("loc", ()) if x != "body"]
    if first.get("type") == "json_invalid":
        return "the body is not JSON"
    if len(loc) >= 2 and loc[0] == "rows" and loc[1].isdigit():
        return f"row {loc[1]}: send a list of numbers, or an object of feature values"
    return 'send {"rows": [[...], ...]}: a non-empty list of rows'
