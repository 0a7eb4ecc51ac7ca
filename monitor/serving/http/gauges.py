"""Live values for ``/metrics``: accuracy over the monitoring window, the labels it rests on, and drift share.

Accuracy and labels are counted from the capture store when scraped (every worker reads the same store, so any
worker's answer is the server's); the window is the one the last ``mlops monitor`` used (its ``live_status``),
200 labels by default; drift share is that verdict's, since testing drift needs the training data.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..capture import CaptureUnavailable

DEFAULT_WINDOW = 200
#: Scrapes within this many seconds share one reading of the store.
CACHE_S = 5.0


class LiveValues:
    """Reads the live values of the served model, at most once per ``CACHE_S``.

    Args:
        state: The app's state (``slot``, ``sink``).
    """

    def __init__(self, state: Any) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, Any] | None] = (0.0, None)

    def __call__(self) -> dict[str, Any] | None:
        with self._lock:
            at, values = self._cached
            if time.monotonic() - at < CACHE_S:
                return values
            values = self._read()
            self._cached = (time.monotonic(), values)
            return values

    def _read(self) -> dict[str, Any] | None:
        model, store = self.state.slot.model, self.state.sink.store
        if model is None or store is None:
            return None
        try:
            status = store.status(model.project) or {}
            window = int(status.get("window") or DEFAULT_WINDOW)
            minutes = status.get("window_minutes")
            since = time.time() - float(minutes) * 60 if minutes else None
            docs = store.labelled(model.project, model.version, limit=window, since=since)
        except CaptureUnavailable:
            return None
        accuracy = None
        if docs and model.classes is not None:
            accuracy = sum(d.get("label") == d.get("prediction") for d in docs) / len(docs)
        drift = status.get("drift_share") if status.get("model_version") == model.version else None
        return {"project": model.project, "model_version": model.version, "accuracy": accuracy,
                "labelled": len(docs), "drift_share": drift}
