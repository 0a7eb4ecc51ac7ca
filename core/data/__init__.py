"""The data layer: sources, snapshots, schema validation, drift and the fitted feature transformation.

Modules (the bottom layer: they import nothing from ``training``, ``monitor``, the CLI or the runner):

- ``sources``: read CSV/Parquet files or a collection into a frame; load files into a collection, idempotently.
- ``snapshot``: content hash, seeded stratified split, snapshots stored in a folder named by their hash.
- ``schema``: a pandera-checked data schema inferred from a snapshot, kept as YAML; validation -> issues.
- ``drift``: per-feature drift (KS, chi-square or PSI) against a reference, and the drift share.
- ``transform``: the scikit-learn ``ColumnTransformer`` (impute, drop sparse columns, scale, one-hot) saved with
  the model.
- ``issues``: ``Issue`` (error or warning, one line) and ``raise_for_errors``.

Names are re-exported here but imported on first use, so ``import core.data`` loads neither pandas, pandera,
scipy nor scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "sources": ("FileLoad", "LoadReport", "file_digest", "load_files", "read_collection", "read_file",
                "read_files", "typed"),
    "snapshot": ("Snapshot", "SnapshotSummary", "SplitCounts", "SplitRatios", "content_hash", "new_rows",
                 "read_snapshot", "take_snapshot", "write_snapshot"),
    "schema": ("ColumnSchema", "DataSchema", "Tolerances", "infer_schema", "load_schema", "save_schema", "validate"),
    "drift": ("DriftReport", "DriftThresholds", "FeatureDrift", "detect_drift"),
    "transform": ("TransformOptions", "fitted_transform", "make_transform"),
    "issues": ("Issue", "errors", "raise_for_errors", "warnings"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'core.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"core.data.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
