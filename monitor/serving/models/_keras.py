"""Keras models (``.keras`` files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import ServedModel, categories_of


class KerasModel(ServedModel):
    """A Keras model scored with ``predict_on_batch``: Keras' compiled predict step, without ``predict``'s
    per-call data pipeline (about 1 ms instead of tens of ms for one row).

    A data project's model comes with its fitted feature transform (``"transform"`` in ``model.json``, a joblib
    file beside the model): rows are then the raw features by name, transformed before the network, and the
    predictions are the class names of ``"classes"``.
    """

    dtype = "float32"

    def __init__(self, model: Any, meta: dict[str, Any], transform: Any = None) -> None:
        self.transform = transform
        if transform is not None:
            names = [str(n) for n in transform.feature_names_in_]
            super().__init__(meta, (len(names),), names)
            self.dtype = "float64"
            self.categories = categories_of(transform)
        else:
            super().__init__(meta, tuple(int(d) for d in model.input_shape[1:]), [])
        self.model = model
        warm = np.zeros((1, *(int(d) for d in model.input_shape[1:])), dtype="float32")
        self.model.predict_on_batch(warm)  # compile now, not on request 1

    @property
    def classes(self) -> list[Any] | None:
        """The class names of ``model.json`` (a data project), else class indices ``0..n-1`` for a classifier (more
        than one output), else ``None``."""
        if self.meta.get("classes"):
            return list(self.meta["classes"])
        outputs = self.model.output_shape[-1] if self.model.output_shape else 1
        return list(range(int(outputs))) if outputs and int(outputs) > 1 else None

    @classmethod
    def load(cls, path: Path, meta: dict[str, Any]) -> KerasModel:
        """Load a ``.keras`` file: with Keras 3, or with tf_keras (Keras 2) when a Keras 2 script trained it
        (``"runtime": "tf_keras"`` in model.json: Keras 3 cannot read those files); and its feature transform, when
        ``model.json`` names one (a data project's)."""
        transform = None
        if meta.get("transform"):
            import joblib

            transform = joblib.load(path.parent / meta["transform"])
        if meta.get("runtime") == "tf_keras":
            import os

            os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow is imported: tf.keras is tf_keras
            import tf_keras

            return cls(tf_keras.models.load_model(path), meta, transform)
        import keras

        return cls(keras.saving.load_model(path), meta, transform)

    def predict(self, x: np.ndarray) -> dict[str, Any]:
        """Class predictions and probabilities for a classifier (more than one output), else the outputs."""
        if self.transform is not None:
            x = np.asarray(self.transform.transform(self.frame(x)), dtype="float32")
        raw = np.asarray(self.model.predict_on_batch(x))
        classes = self.meta.get("classes")
        if classes and raw.ndim == 2 and raw.shape[1] == len(classes):
            probabilities = raw.astype("float64").round(6)
            return {"predictions": [classes[i] for i in raw.argmax(axis=1)], "probabilities": probabilities.tolist(),
                    "classes": list(classes)}
        if raw.ndim == 2 and raw.shape[1] > 1:
            probabilities = raw.astype("float64").round(6)  # float32 would print as 0.0905739963054657
            return {"predictions": raw.argmax(axis=1).tolist(), "probabilities": probabilities.tolist()}
        return {"predictions": raw.reshape(len(x)).tolist()}
