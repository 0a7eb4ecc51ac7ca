"""scikit-learn models (any estimator or pipeline saved with joblib)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._forest import tree_by_tree
from .base import ServedModel, categories_of

#: What scikit-learn says on every call when an estimator fitted on a DataFrame gets an array.
_NO_NAMES_WARNING = "X does not have valid feature names"
#: Classifier families whose ``predict`` is the class of highest ``predict_proba``: one ``predict_proba`` call
#: gives both the prediction and its probabilities at the cost of ``predict``. (Others, such as ``SVC``, whose
#: probabilities come from a separate calibration, answer with predictions only.)
_PROBA_DECIDES = ("sklearn.ensemble._forest", "sklearn.ensemble._gb", "sklearn.ensemble._hist_gradient_boosting",
                  "sklearn.tree.", "sklearn.linear_model._logistic", "sklearn.neighbors.", "sklearn.naive_bayes")


class SklearnModel(ServedModel):
    """An estimator scored with ``predict``; rows are validated against ``n_features_in_``/``feature_names_in_``."""

    def __init__(self, model: Any, meta: dict[str, Any]) -> None:
        n = getattr(model, "n_features_in_", None)
        names = getattr(model, "feature_names_in_", None)
        super().__init__(meta, (int(n),) if n is not None else (), [str(x) for x in names] if names is not None else [])
        self.model = model
        steps = getattr(model, "steps", None)
        self.categories = categories_of(steps[0][1]) if steps else frozenset()
        self.needs_frame = bool(self.feature_names) and (bool(self.categories) or not self._takes_arrays())
        labels = getattr(model, "classes_", None)
        self._classes = np.asarray(labels) if labels is not None else None
        self.with_probabilities = self._classes is not None and self._proba_decides()
        self._predict_proba = getattr(model, "predict_proba", None)
        self._predict = model.predict
        fast = tree_by_tree(model, self._probe) if self.width else None
        if fast is not None:  # a forest: the same answers without joblib's per-tree dispatch
            if self.with_probabilities:
                self._predict_proba = fast
            elif self._classes is None:
                self._predict = fast

    @property
    def classes(self) -> list[Any] | None:
        """``classes_`` of a classifier, as JSON values."""
        return self._classes.tolist() if self._classes is not None else None

    def _proba_decides(self) -> bool:
        """Whether the (final) estimator predicts the class of highest probability (see ``_PROBA_DECIDES``)."""
        final = self.model.steps[-1][1] if hasattr(self.model, "steps") else self.model
        module = type(final).__module__ + "."
        return hasattr(final, "predict_proba") and any(module.startswith(m) for m in _PROBA_DECIDES)

    @classmethod
    def load(cls, path: Path, meta: dict[str, Any]) -> SklearnModel:
        """Load a joblib file."""
        import joblib

        return cls(joblib.load(path), meta)

    def _takes_arrays(self) -> bool:
        """Whether a model fitted on a DataFrame scores a plain array the same (no per-request DataFrame).

        Column transformers that select columns by name need the DataFrame; plain estimators do not.
        """
        import pandas as pd

        warnings.filterwarnings("ignore", message=_NO_NAMES_WARNING, category=UserWarning)
        probe = np.zeros((1, len(self.feature_names)))
        try:
            as_array = np.asarray(self.model.predict(probe))
            as_frame = np.asarray(self.model.predict(pd.DataFrame(probe, columns=self.feature_names)))
        except Exception:
            return False
        return as_array.shape == as_frame.shape and bool((as_array == as_frame).all())

    def _probe(self) -> Any:
        """Rows of assorted magnitudes, as the model takes them (to check a faster scoring path against it)."""
        rng = np.random.default_rng(0)
        rows = np.vstack([np.zeros((1, self.width)), np.ones((1, self.width)),
                          *(rng.normal(scale=s, size=(4, self.width)) for s in (1, 10, 100, 1000))])
        return self._as_input(rows)

    def _as_input(self, x: np.ndarray) -> Any:
        return self.frame(x) if self.needs_frame else x

    def predict(self, x: np.ndarray) -> dict[str, Any]:
        """``{"predictions": [...]}`` from the estimator's ``predict``, with ``probabilities`` (one list per row, in
        the order of ``classes``) for the classifiers whose prediction is their most probable class (one
        ``predict_proba`` call gives both), or when ``model.json`` asks for them (``"probabilities": true``, a data
        project's model)."""
        x = self._as_input(x)
        if self.with_probabilities:
            assert self._classes is not None and self._predict_proba is not None
            proba = np.asarray(self._predict_proba(x), dtype="float64")
            return {"predictions": self._classes.take(proba.argmax(axis=1)).tolist(),
                    "probabilities": proba.round(6).tolist(), "classes": self.classes}
        out: dict[str, Any] = {"predictions": np.asarray(self._predict(x)).tolist()}
        if self.meta.get("probabilities") and self._classes is not None and self._predict_proba is not None:
            out["probabilities"] = np.asarray(self._predict_proba(x), dtype="float64").round(6).tolist()
            out["classes"] = self.classes
        return out
