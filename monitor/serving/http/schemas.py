"""Request and response bodies, and the one-line reason for a body that does not fit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

#: One row: numbers (nested lists for a multi-dimensional input such as an image), or feature values by name.
Row = list[Any] | dict[str, Any]
#: A client's own inference id: letters, digits and ``._:-/@``, at most 128 characters.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$"
InferenceId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
#: Most labels one ``POST /feedback`` may carry.
MAX_LABELS = 1000


class PredictRequest(BaseModel):
    """``{"rows": [[...], ...]}`` or ``{"rows": [{"feature": value, ...}, ...]}``, optionally with the client's own
    ``inference_ids`` (one per row)."""

    rows: list[Row] = Field(min_length=1, description="Rows to score, at least one.")
    inference_ids: list[InferenceId] | None = Field(None, description="The client's own id of each row's prediction "
                                                                      "(default: made by the server).")


class LabelItem(BaseModel):
    """The correct label of one prediction."""

    inference_id: str = Field(min_length=1, max_length=128)
    label: Any = Field(description="A class the model predicts (classifier) or a number (regressor).")


class FeedbackRequest(BaseModel):
    """``{"inference_id": ..., "label": ...}`` or ``{"labels": [{"inference_id": ..., "label": ...}, ...]}``."""

    inference_id: str | None = Field(None, min_length=1, max_length=128)
    label: Any = None
    labels: list[LabelItem] | None = None
    source: str = Field("api", pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="Who sends them (kept with each).")

    def items(self) -> list[LabelItem]:
        """The labels, one or many."""
        if self.labels is not None:
            return self.labels
        if self.inference_id is None:
            return []
        return [LabelItem(inference_id=self.inference_id, label=self.label)]


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
    if loc and loc[0] == "inference_ids":
        where = f"inference_ids[{loc[1]}]" if len(loc) > 1 else "inference_ids"
        return f"{where}: send one id per row, each 1-128 letters, digits or ._:/@- (starting with a letter or digit)"
    return 'send {"rows": [[...], ...]}: a non-empty list of rows'
