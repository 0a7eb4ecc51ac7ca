"""The documents of prediction capture, one type each, and how a row is kept.

A store (``MongoCapture``, ``SpoolCapture``) keeps four kinds of document and returns them as these types:

- ``CapturedPrediction`` (``predictions``): one answered row; ``label``, ``labelled_at`` and ``label_source`` are
  absent until a user labels it, then hold the latest label.
- ``LabelRecord`` (``labels``): every label ever given, append-only; a second label for a prediction replaces the
  first on the prediction, and both stay here.
- ``ServedModelInfo`` (``served_models``): what a served version's rows and labels look like, written by each
  server when it loads its model (how to read ``row`` and which labels are valid).
- ``LiveStatus`` (``live_status``): the latest verdict of ``mlops monitor`` of a project (its window, drift...).

Writers hand a prediction over as a ``NewPrediction`` (its ``row`` may be a numpy row); every reader gets ``row``
as a list of floats with ``None`` for a missing value.
"""

from __future__ import annotations

import array
import json
import math
import uuid
from collections.abc import Iterable
from typing import Any, NotRequired, TypeAlias, TypedDict

#: A label or a prediction: one of a classifier's classes (as the model gives them) or a regressor's number.
Label: TypeAlias = str | int | float
#: A model's answer for one row: a label, or several numbers for a model with many outputs.
Output: TypeAlias = Label | list[float]
#: A row as documents show it: the numbers of the input (text for a category), ``None`` where a value was missing.
Row: TypeAlias = list[float | str | None]


class NewPrediction(TypedDict):
    """One answered row as the server hands it to a store.

    Attributes:
        _id: The inference id returned to the client (a reused id replaces the earlier prediction).
        project: The model's project.
        model_version: The model version that answered.
        time: When it was answered (seconds since the epoch).
        row: The input row: a list, or a numpy row (each store encodes it its own way).
        prediction: What the client got for the row.
        probabilities: The classifier's probabilities per class, or ``None``.
    """

    _id: str
    project: str
    model_version: int | None
    time: float
    row: Iterable[float | None]
    prediction: Output | None
    probabilities: list[float] | None


class CapturedPrediction(TypedDict):
    """One captured row as every store returns it (``NewPrediction`` with ``row`` a list, and its latest label).

    Attributes:
        label: The latest label (absent until a user gives one).
        labelled_at: When ``label`` was given.
        label_source: Who gave it (``api``, ``review``, ``cli``...).
    """

    _id: str
    project: str
    model_version: int | None
    time: float
    row: Row
    prediction: Output | None
    probabilities: list[float] | None
    label: NotRequired[Label]
    labelled_at: NotRequired[float]
    label_source: NotRequired[str]


class LabelRecord(TypedDict):
    """One label given to one prediction (the history is append-only).

    Attributes:
        _id: The label's own id.
        inference_id: The prediction labelled.
        project: The prediction's project.
        label: The label given.
        previous: The prediction's label before this one, or ``None``.
        time: When it was given.
        source: Who gave it (``api``, ``review``, ``cli``...).
    """

    _id: str
    inference_id: str
    project: str
    label: Label
    previous: Label | None
    time: float
    source: str


class ServedModelInfo(TypedDict):
    """What a served model version's rows and labels look like.

    Attributes:
        _id: ``<project>/<version>``.
        features: The names of a row's values, in order.
        classes: The labels a classifier predicts, or ``None`` for a regressor.
        task: ``classification`` or ``regression``.
    """

    _id: str
    project: str
    version: int | None
    features: list[str]
    classes: list[Label] | None
    task: str


class LiveStatus(TypedDict, total=False):
    """The latest verdict of ``mlops monitor`` of a project (the fields of its ``LiveCheck``; ``/metrics`` reads
    the window and the drift share from it). Only ``_id`` and ``project`` are sure to be there.

    Attributes:
        _id: The project.
        decision: ``ok``, ``too_few_labels``, ``under_threshold``, ``no_production`` or ``no_capture``.
        window: Labels the accuracy is computed over.
        window_minutes: Only labels of the last this many minutes count (``None``: all).
        drift_share: Share of drifted features in the served rows, for ``model_version``.
    """

    _id: str
    project: str
    model_version: int | None
    decision: str
    reason: str
    accuracy: float | None
    labels: int
    corrected: int
    window: int
    window_minutes: float | None
    threshold: float
    min_labels: int
    drift_share: float | None
    drifted: list[str]
    drift_note: str
    served_rows: int
    time: float


def served_model_id(project: str, version: int | None) -> str:
    """The ``_id`` of a ``ServedModelInfo``."""
    return f"{project}/{version}"


def label_record(project: str, inference_id: str, label: Label, previous: Label | None, now: float, source: str
                 ) -> LabelRecord:
    """A new ``LabelRecord`` with a fresh id."""
    return {"_id": uuid.uuid4().hex, "inference_id": inference_id, "project": project, "label": label,
            "previous": previous, "time": now, "source": source}


#: The start of a row kept as JSON (it has text in it); packed floats never have a length that is not a multiple of 8.
_TEXT_ROW = b"\x00row:"


def clean_row(values: Iterable[float | str | None]) -> Row:
    """A row as documents show it: numbers (and text, for a category), ``None`` for a missing (NaN) value.
    ``values`` may be a numpy row."""
    listed = values.tolist() if hasattr(values, "tolist") else values
    return [None if isinstance(v, float) and math.isnan(v) else v for v in listed]


def row_bytes(values: Any) -> bytes:
    """A row as the spool keeps it: float64 values, NaN for missing (packed, not JSON: formatting floats as text
    would be most of the cost of capture). ``values`` is a numpy row or an iterable of numbers and ``None``; a row
    with text in it (a data project's categories) is kept as JSON instead, marked by ``_TEXT_ROW`` and a length
    that is not a multiple of 8."""
    if hasattr(values, "astype") and getattr(values, "dtype", None) is not None and values.dtype.kind != "O":
        return values.astype("<f8", copy=False).tobytes()  # type: ignore[no-any-return]
    listed = values.tolist() if hasattr(values, "tolist") else list(values)
    if all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in listed):
        return array.array("d", [math.nan if v is None else float(v) for v in listed]).tobytes()
    blob = _TEXT_ROW + json.dumps(clean_row(listed), default=str).encode()
    return blob if len(blob) % 8 else blob + b" "


def row_of(blob: bytes) -> Row:
    """The row ``row_bytes`` packed."""
    if len(blob) % 8:
        return json.loads(blob[len(_TEXT_ROW):])  # type: ignore[no-any-return]
    values = array.array("d")
    values.frombytes(blob)
    return [None if v != v else v for v in values]
