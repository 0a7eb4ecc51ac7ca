"""Loading a pushed model version with the class of its framework."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._keras import KerasModel
from ._sklearn import SklearnModel
from .base import ServedModel


def load_model(folder: Path) -> ServedModel:
    """Load the pushed model version in ``folder`` (``model.json`` plus one ``model.*`` file).

    ``"format": "keras"`` in ``model.json`` is a Keras model; anything else a joblib file (scikit-learn).

    Raises:
        FileNotFoundError: No ``model.json`` or no model file.
        Exception: Whatever the framework raises for a file it cannot read.
    """
    meta: dict[str, Any] = json.loads((folder / "model.json").read_text())
    files = sorted(p for p in folder.iterdir() if p.name.startswith("model.") and p.suffix != ".json")
    if meta.get("file"):  # the model file when the version holds others beside it (a transform, predictions)
        files = [folder / meta["file"]]
    if not files:
        raise FileNotFoundError(f"no model file (model.*) in {folder}")
    if meta.get("format") == "keras":
        return KerasModel.load(files[0], meta)
    return SklearnModel.load(files[0], meta)
