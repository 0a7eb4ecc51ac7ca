"""The served model: a pushed version loaded with the class of its framework (``load_model``), what its input must
look like and how to score it (``ServedModel``).

- ``base.py``: ``ServedModel`` and ``BadInput``, the interface the app scores through.
- ``_sklearn.py``, ``_keras.py``: one class per framework; ``_forest.py``: forests scored without joblib.
- ``loading.py``: which class loads a version.
"""

from __future__ import annotations

from .base import BadInput, ServedModel
from .loading import load_model

__all__ = ["BadInput", "ServedModel", "load_model"]
