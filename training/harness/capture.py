"""Metric capture state shared by the harness hooks (stdlib only: runs inside trial images)."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HARNESS_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

# Priority of metric sources: a higher number wins over a lower one for the same metric.
PRIORITY = {"report": 50, "keras.evaluate": 40, "sklearn.score": 40, "sklearn.metrics": 40,
            "keras.fit.validation": 30, "keras.fit.training": 20, "file": 15, "print": 10}

_ALIASES = {
    "acc": "accuracy", "binary_accuracy": "accuracy", "categorical_accuracy": "accuracy",
    "sparse_categorical_accuracy": "accuracy", "accuracy_score": "accuracy", "f1_score": "f1",
    "precision_score": "precision", "recall_score": "recall", "roc_auc_score": "roc_auc",
    "r2_score": "r2", "mean_squared_error": "mse", "mean_absolute_error": "mae",
    "root_mean_squared_error": "rmse", "auc": "roc_auc",
}


def canonical(name: str) -> str:
    """Map a Keras log key or scikit-learn function name to the metric name users configure."""
    return _ALIASES.get(name, name)


@dataclass
class Capture:
    """Everything the hooks observed while the user's script ran."""

    workdir: Path
    run_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    #: Metric -> where its value came from, for people: ``keras.evaluate``, ``print: "Accuracy: 93.5%"``...
    sources: dict[str, str] = field(default_factory=dict)
    #: Metric -> how its value was read when not as given: ``read 93.5 as 93.5% = 0.935``.
    notes: dict[str, str] = field(default_factory=dict)
    #: Metric -> the last non-finite value reported for it, and where (never taken as the metric's value).
    non_finite: dict[str, str] = field(default_factory=dict)
    _ranks: dict[str, int] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    model: Any = None
    model_source: str = ""
    warnings: list[str] = field(default_factory=list)
    events_path: Path | None = None
    fit_calls: int = 0
    resumed_from: list[int] = field(default_factory=list)  # epochs already done when a fit resumed
    #: What the data and model looked like (``training.harness.facts``), for the diagnosis.
    facts: dict[str, Any] = field(default_factory=dict)
    #: The user's ``train_test_split`` of ``X, y``: (X_train, X_test, y_train, y_test).
    split: tuple[Any, Any, Any, Any] | None = None

    def from_user_code(self, through: tuple[str, str] | None = None) -> bool:
        """True when the nearest caller outside the harness is a file of the user's project.

        Args:
            through: ``(package, function)``: also look past that package's frames of that function,
                e.g. ``("sklearn", "score")`` for estimators whose ``score`` calls ``super().score``.
        """
        frame = sys._getframe(1)
        marker = f"{os.sep}{through[0]}{os.sep}" if through else None
        while frame is not None and (
                frame.f_code.co_filename.startswith(_HARNESS_DIR)
                or (marker and frame.f_code.co_name == through[1] and marker in frame.f_code.co_filename)):  # type: ignore[index]
            frame = frame.f_back
        if frame is None:
            return False
        return os.path.abspath(frame.f_code.co_filename).startswith(str(self.workdir) + os.sep)

    def record(self, name: str, value: Any, source: str, detail: str = "", note: str = "") -> None:
        """Record one metric value if it is a finite number and its source ranks high enough; a non-finite one
        is only remembered (``non_finite``), so that a missing metric can be explained.

        Args:
            name: The metric (Keras log keys and scikit-learn function names are mapped to metric names).
            value: Its value.
            source: One of ``PRIORITY``.
            detail: What exactly (the printed line, the file), shown with the source.
            note: How the value was read when not as given (a percentage), shown with the source too.
        """
        try:
            v = float(value)
        except (TypeError, ValueError):
            return
        name = canonical(name)
        where = f"{source}: {detail}" if detail else source
        if not math.isfinite(v):
            self.non_finite[name] = f"{v} ({where})"
            return
        rank = PRIORITY[source]
        if rank >= self._ranks.get(name, -1):
            self.metrics[name] = v
            self.sources[name] = f"{where} ({note})" if note else where
            self._ranks[name] = rank
            if note:
                self.notes[name] = note
            else:
                self.notes.pop(name, None)

    def epoch(self, epoch: int, logs: dict[str, Any]) -> None:
        """Append one epoch's logs to the history and stream them to ``events.jsonl``."""
        clean = {}
        for k, v in (logs or {}).items():
            try:
                clean[k] = float(v)
            except (TypeError, ValueError):
                continue
            self.history.setdefault(k, []).append(clean[k])
        if self.events_path:
            with self.events_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"epoch": epoch, "time": time.time(), "logs": clean}) + "\n")

    def warn(self, message: str) -> None:
        """Keep a hook warning for metrics.json and show it on stderr."""
        self.warnings.append(message)
        print(f"mlops harness: warning: {message}", file=sys.stderr)


_CURRENT: Capture | None = None


def current() -> Capture | None:
    """The capture of the running trial, or ``None`` outside the harness."""
    return _CURRENT


def set_current(capture: Capture | None) -> None:
    """Install (or clear) the capture the hooks write to."""
    global _CURRENT
    _CURRENT = capture
