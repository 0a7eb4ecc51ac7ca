"""What a trial's data and model looked like, for the diagnosis (``training.diagnosis``): rows, feature scales,
non-finite values, the labels' balance and how well each class is recalled, the model's size, optimizer,
learning rate and hidden activations, and a scikit-learn model's score on its own training rows.

Standard library only at import: NumPy is taken from ``sys.modules`` (the script imported it to train).
"""

from __future__ import annotations

import math
import sys
from typing import Any

#: Below this share the rarest class is a minority whose recall the facts measure.
MINORITY_SHARE = 0.2
#: At most this many distinct label values count as classes.
MAX_CLASSES = 50


def _numpy() -> Any:
    return sys.modules.get("numpy")


def as_array(value: Any) -> Any:
    """A NumPy array of a table, a Series, an array or a list; ``None`` for anything else (a generator)."""
    np = _numpy()
    if np is None or value is None:
        return None
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    elif hasattr(value, "numpy") and hasattr(value, "shape") and not isinstance(value, np.ndarray):
        value = value.numpy()  # a tensor
    if not isinstance(value, (np.ndarray, list, tuple)):
        return None
    try:
        return np.asarray(value)
    except (TypeError, ValueError):  # ragged lists: not one array
        return None


def class_labels(y: Any) -> Any:
    """The class of each row (one-hot rows by their largest column), or ``None`` when ``y`` is not classes."""
    np = _numpy()
    y = as_array(y)
    if y is None or y.ndim == 0 or len(y) == 0:
        return None
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    y = y.reshape(len(y)) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        return None
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.equal(np.mod(y, 1), 0).all():
            return None
        y = y.astype(int)
    if y.dtype.kind not in "iubOU" or len(np.unique(y)) > MAX_CLASSES:
        return None
    return y


def data_facts(x: Any, y: Any) -> dict[str, Any]:
    """Rows, features, non-finite values and column scales of ``x``; class counts of ``y`` when it holds
    classes. Empty when ``x`` is not an array (a generator or a dataset)."""
    np = _numpy()
    X = as_array(x)
    if X is None or X.ndim == 0 or len(X) == 0:
        return {}
    facts: dict[str, Any] = {"rows": len(X), "shape": [int(d) for d in X.shape[1:]]}
    flat = X.reshape(len(X), -1)
    if flat.dtype.kind in "fiub":
        flat = flat.astype(float)
        finite = np.isfinite(flat)
        facts["nonfinite"] = int((~finite).sum())
        facts["features"] = int(flat.shape[1])
        if X.ndim == 2 and flat.shape[1] <= 2000 and finite.any():
            with np.errstate(all="ignore"):
                clean = np.where(finite, flat, np.nan)
                stds = np.nanstd(clean, axis=0)
                means = np.nanmean(np.abs(clean), axis=0)
            spread = sorted(float(s) for s in stds if math.isfinite(float(s)) and s > 0)
            if spread:
                facts["std_min"], facts["std_max"] = spread[0], spread[-1]
                facts["std_median"] = spread[len(spread) // 2]
                facts["abs_mean_max"] = float(np.nanmax(means))
    labels = class_labels(y)
    if labels is not None:
        values, counts = np.unique(labels, return_counts=True)
        facts["classes"] = {str(v): int(c) for v, c in zip(values.tolist(), counts.tolist(), strict=True)}
    return facts


def recall_per_class(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Class -> the share of its rows predicted as that class."""
    np = _numpy()
    true, pred = class_labels(y_true), as_array(y_pred)
    if true is None or pred is None or len(pred) != len(true):
        return {}
    if pred.ndim == 2 and pred.shape[1] > 1:
        pred = pred.argmax(axis=1)
    elif pred.ndim == 2 or (pred.dtype.kind == "f" and len(np.unique(true)) == 2):
        pred = (pred.reshape(len(pred)) > 0.5).astype(true.dtype) if pred.dtype.kind == "f" else pred.ravel()
    out = {}
    for value in np.unique(true).tolist():
        rows = true == value
        out[str(value)] = float((pred[rows] == value).mean())
    return out


def minority(classes: dict[str, int]) -> str | None:
    """The rarest class when its share is under ``MINORITY_SHARE`` and under half a class's even share (ten
    balanced classes of 10% each have none)."""
    if len(classes) < 2:
        return None
    total = sum(classes.values())
    rare = min(classes, key=lambda k: classes[k])
    share = classes[rare] / total
    return rare if share < MINORITY_SHARE and share < 0.5 / len(classes) else None


def keras_facts(model: Any, x: Any, y: Any) -> dict[str, Any]:
    """The data a Keras ``fit`` got and the model it trained: size, optimizer, learning rate, hidden layers;
    with imbalanced classes, each class's recall on the training rows."""
    facts: dict[str, Any] = {"data": data_facts(x, y), "framework": "keras"}
    try:
        facts["params"] = int(model.count_params())
    except (ValueError, AttributeError):  # not built
        pass
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        facts["optimizer"] = type(optimizer).__name__
        rate = getattr(optimizer, "learning_rate", None)
        try:
            facts["learning_rate"] = float(_numpy().asarray(rate)) if rate is not None else None
        except (TypeError, ValueError):  # a schedule
            pass
    layers = []
    for layer in getattr(model, "layers", []):
        kind = type(layer).__name__
        activation = getattr(getattr(layer, "activation", None), "__name__", "")
        layers.append({"kind": kind, "units": getattr(layer, "units", None), "activation": activation})
    facts["layers"] = layers
    classes = facts["data"].get("classes") or {}
    if minority(classes) is not None and as_array(x) is not None:
        facts["train_recall"] = recall_per_class(y, model.predict(as_array(x), verbose=0))
    return facts


def unwrap(model: Any, x: Any) -> tuple[Any, Any]:
    """The estimator inside pipelines and meta-estimators, and the rows as it sees them (``x`` through the
    pipeline's transforms: scaled rows look scaled)."""
    for _ in range(5):
        if hasattr(model, "steps") and len(model.steps) > 1:
            if x is not None:
                x = model[:-1].transform(x)
            model = model.steps[-1][1]
        elif hasattr(model, "estimator_"):
            model = model.estimator_
        else:
            break
    return model, x


def sklearn_facts(model: Any, split: tuple[Any, Any, Any, Any] | None) -> dict[str, Any]:
    """A fitted estimator's score on its training and test rows (from the script's ``train_test_split``), the
    data facts of its training rows and, with imbalanced classes, each class's recall on the test rows."""
    inner, seen = unwrap(model, split[0] if split is not None else None)
    facts: dict[str, Any] = {"framework": "sklearn", "estimator": type(inner).__name__}
    if split is None:
        return facts
    x_train, x_test, y_train, y_test = split
    facts["data"] = data_facts(seen, y_train)
    rows = facts["data"].get("rows")
    if rows is None or not hasattr(model, "score") or not hasattr(model, "predict"):
        return facts
    try:
        facts["train_score"] = float(model.score(x_train, y_train))
        facts["test_score"] = float(model.score(x_test, y_test))
    except (ValueError, TypeError):  # the split is not what the model was trained on (other columns)
        return facts
    classes = facts["data"].get("classes") or {}
    if minority(classes) is not None:
        facts["test_recall"] = recall_per_class(y_test, model.predict(x_test))
    return facts
