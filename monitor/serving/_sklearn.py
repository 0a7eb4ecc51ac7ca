"""scikit-learn models (any estimator or pipeline saved with joblib)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .model import ServedModel

#: What scikit-learn says on every call when an estimator fitted on a DataFrame gets an array.
_NO_NAMES_WARNING = "X does not have valid feature names"


class SklearnModel(ServedModel):
    """An estimator scored with ``predict``; rows are validated against ``n_features_in_``/``feature_names_in_``."""

    def __init__(self, model: Any, meta: dict[str, Any]) -> None:
        n = getattr(model, "n_features_in_", None)
        names = getattr(model, "feature_names_in_", None)
        super().__init__(meta, (int(n),) if n is not None else (), [str(x) for x in names] if names is not None else [])
        self.model = model
        self.needs_frame = bool(self.feature_names) and not self._takes_arrays()

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

    def predict(self, x: np.ndarray) -> dict[str, Any]:
        """``{"predictions": [...]}`` from the estimator's ``predict``; with ``"probabilities": true`` in
        ``model.json`` (a data project's model) also ``probabilities``, columns in the order of ``classes``."""
        if self.needs_frame:
            import pandas as pd

            x = pd.DataFrame(x, columns=self.feature_names)
        out: dict[str, Any] = {"predictions": np.asarray(self.model.predict(x)).tolist()}
        if self.meta.get("probabilities") and hasattr(self.model, "predict_proba") and hasattr(self.model, "classes_"):
            out["probabilities"] = np.asarray(self.model.predict_proba(x), dtype="float64").round(6).tolist()
            out["classes"] = [c.item() if hasattr(c, "item") else c for c in self.model.classes_]
        return out
