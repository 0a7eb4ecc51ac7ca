"""Scoring a model's predictions on labelled rows: the metrics a run and the gate compare, per class, and the
confusion matrix.

For a binary label, ``precision``, ``recall`` and ``f1`` are those of the positive class and ``cost`` is
``fp * false positives + fn * false negatives`` over the rows (the APS challenge's cost); with more classes they
are averaged over the classes (macro) and there is no cost. ``roc_auc`` needs the predicted probabilities. The
generated training scripts compute their validation figures with the same scikit-learn functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import DataError
from core.records import Evaluation


def positive_class(classes: dict[str, int], configured: str | None) -> str | None:
    """The positive class of a binary label: ``positive:`` from mlops.yaml, else the rarest class.

    Args:
        classes: Class -> rows.
        configured: ``positive:`` from mlops.yaml.

    Returns:
        ``None`` for more than two classes (metrics are then averaged over the classes).

    Raises:
        DataError: The configured class is not a class of the label.
    """
    if configured is not None and configured not in classes:
        raise DataError(f"mlops.yaml: positive: '{configured}' is not a class of the label (classes: "
                        f"{', '.join(sorted(classes))})", column=configured)
    if len(classes) != 2:
        return None
    return configured or min(sorted(classes), key=lambda c: classes[c])


def evaluate_predictions(y_true: Sequence[Any], predictions: Sequence[Any], *, task: str = "classification",
                         classes: Sequence[str] | None = None, probabilities: Sequence[Sequence[float]] | None = None,
                         positive: str | None = None, cost: tuple[float, float] = (10.0, 500.0),
                         snapshot: str = "", split: str = "test") -> Evaluation:
    """Score predictions against the true labels.

    Args:
        y_true: The labels (class names as text for a classifier).
        predictions: The model's predictions, in the same order.
        task: ``classification`` or ``regression``.
        classes: The order of the columns of ``probabilities`` (the model's ``classes_``).
        probabilities: Class probabilities per row, for ``roc_auc``.
        positive: The positive class of a binary label (precision, recall, f1 and cost are about it).
        cost: ``(fp, fn)``: the cost of a false positive and of a false negative.
        snapshot: The snapshot the rows come from.
        split: Which of its splits.

    Raises:
        ValueError: The predictions and labels differ in length, or there is no row.
    """
    if len(y_true) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(y_true)} rows")
    if not len(y_true):
        raise ValueError("no rows to evaluate")
    if task == "regression":
        return _regression(np.asarray(y_true, dtype="float64"), np.asarray(predictions, dtype="float64"),
                           snapshot, split)
    truth = [str(v) for v in y_true]
    predicted = [str(v) for v in predictions]
    return _classification(truth, predicted, list(classes or []), probabilities, positive, cost, snapshot, split)


def _regression(y: np.ndarray, p: np.ndarray, snapshot: str, split: str) -> Evaluation:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    mse = float(mean_squared_error(y, p))
    metrics = {"r2": float(r2_score(y, p)) if len(y) > 1 else float("nan"), "rmse": mse ** 0.5,
               "mae": float(mean_absolute_error(y, p)), "mse": mse}
    return Evaluation(snapshot=snapshot, split=split, rows=len(y),
                      metrics={k: v for k, v in metrics.items() if np.isfinite(v)})


def _classification(y: list[str], p: list[str], classes: list[str], probabilities: Any, positive: str | None,
                    cost: tuple[float, float], snapshot: str, split: str) -> Evaluation:
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    labels = sorted(set(y) | set(p) | set(classes))
    metrics: dict[str, float] = {"accuracy": float(accuracy_score(y, p))}
    scores = np.asarray(probabilities, dtype="float64") if probabilities is not None else None
    if positive is not None:
        binary: dict[str, Any] = {"pos_label": positive, "zero_division": 0}
        metrics["precision"] = float(precision_score(y, p, **binary))
        metrics["recall"] = float(recall_score(y, p, **binary))
        metrics["f1"] = float(f1_score(y, p, **binary))
        negative = next((c for c in labels if c != positive), None)
        if negative is not None:
            _, fp, fn, _ = confusion_matrix(y, p, labels=[negative, positive]).ravel()
            metrics["cost"] = float(cost[0] * fp + cost[1] * fn)
        if scores is not None and positive in classes and len(set(y)) == 2:
            truth = np.asarray(y) == positive
            metrics["roc_auc"] = float(roc_auc_score(truth, scores[:, classes.index(positive)]))
    else:
        macro: dict[str, Any] = {"average": "macro", "zero_division": 0}
        metrics["precision"] = float(precision_score(y, p, **macro))
        metrics["recall"] = float(recall_score(y, p, **macro))
        metrics["f1"] = float(f1_score(y, p, **macro))
        if scores is not None and len(set(y)) > 2 and set(y) <= set(classes):
            metrics["roc_auc"] = float(roc_auc_score(y, scores, multi_class="ovr", labels=classes))
    precision, recall, f1, support = precision_recall_fscore_support(y, p, labels=labels, zero_division=0)
    per_class = {label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                         "support": float(support[i])} for i, label in enumerate(labels)}
    matrix = confusion_matrix(y, p, labels=labels).tolist()
    return Evaluation(snapshot=snapshot, split=split, rows=len(y), metrics=metrics, per_class=per_class,
                      labels=labels, confusion=[[int(v) for v in row] for row in matrix], positive=positive)
