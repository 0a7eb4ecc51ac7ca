"""``mlops predict PROJECT ROWS.csv``: score a file of rows on the project's serving unit the way an application
does (``POST /predict``, rows by column name, missing values as null) and write each row's prediction with its
inference id: the file ``mlops feedback`` takes once its ``label`` column holds what users said."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import MlopsError, UsageError
from monitor.unit_client import Refused, post

#: Rows per request (the server's default limit is higher: MLOPS_PREDICT_MAX_ROWS).
BATCH = 500


@dataclass(frozen=True)
class Scored:
    """The answers for a file: one inference id and prediction per row, and the model version that answered."""

    inference_ids: list[str]
    predictions: list[Any]
    model_version: int | None


def read_rows(path: Path, label_column: str | None = None, na_values: tuple[str, ...] = ()
              ) -> tuple[list[dict[str, Any]], list[str] | None]:
    """The file's rows by column name (numbers where a column holds numbers, missing values as None) and, with
    ``label_column``, that column apart (the users' answers).

    Raises:
        UsageError: The file cannot be read, is empty, or has no such label column.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path, na_values=list(na_values), keep_default_na=True)
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read it as CSV: {e}") from e
    if frame.empty:
        raise UsageError(f"{path}: no rows in it")
    labels = None
    if label_column is not None:
        if label_column not in frame.columns:
            raise UsageError(f"{path}: no column {label_column!r} for --label-column (it has: "
                             f"{', '.join(map(str, frame.columns))})")
        labels = ["" if _missing(v) else str(v) for v in frame.pop(label_column)]
    rows = [{str(k): (None if _missing(v) else v) for k, v in record.items()}
            for record in json.loads(frame.to_json(orient="records"))]
    return rows, labels


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def score(url: str, rows: list[dict[str, Any]], path: Path) -> Scored:
    """Post the rows in batches.

    Raises:
        MlopsError: The server refused a batch (its reason, with the file's lines) or cannot be reached.
    """
    ids: list[str] = []
    predictions: list[Any] = []
    version = None
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        try:
            answer = post(url, "/predict", {"rows": batch}, timeout=120)
        except Refused as e:
            raise MlopsError(f"{path}: rows {start + 1}-{start + len(batch)} refused ({e.code}): {e.detail}") from None
        ids += answer["inference_ids"]
        predictions += answer["predictions"]
        version = answer.get("model_version")
    return Scored(ids, predictions, version)


def write_answers(out: Path, scored: Scored, labels: list[str] | None) -> None:
    """``inference_id,prediction,label`` per row (``label`` empty without a label column): what ``mlops feedback``
    reads once the labels are filled in."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["inference_id", "prediction", "label"])
        for i, (inference_id, prediction) in enumerate(zip(scored.inference_ids, scored.predictions, strict=True)):
            writer.writerow([inference_id, prediction, labels[i] if labels else ""])
