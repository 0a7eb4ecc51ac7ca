"""Where each prediction goes after it is answered: the seam for prediction capture (a no-op for now)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Prediction:
    """One answered ``/predict`` call.

    Attributes:
        project: The model's project.
        model_version: The model version that answered.
        rows: The validated input, one row per prediction (a numpy array of shape ``(n, *input_shape)``).
        result: What the client got, without ``model_version`` (``predictions`` and maybe ``probabilities``).
        seconds: Time spent in the handler.
    """

    project: str
    model_version: int | None
    rows: Any
    result: dict[str, Any]
    seconds: float


class PredictionSink(Protocol):
    """Receives every answered prediction, in the worker thread that answered it.

    An implementation must be quick (queue the work) and must not raise: the client has its answer.
    """

    def record(self, prediction: Prediction) -> None:
        """Take one prediction."""


class NullSink:
    """Keeps nothing."""

    def record(self, prediction: Prediction) -> None:
        """Drop the prediction."""
