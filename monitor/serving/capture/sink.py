"""Where each prediction goes after it is answered: nowhere (``NullSink``), or the capture store
(``CaptureSink``: prepared and queued on the event loop once the answer is sent, written in batches by a
background thread).
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ._base import CaptureStore, CaptureUnavailable
from .documents import NewPrediction

#: A batch is written when this many rows wait, or after ``FLUSH_S`` seconds.
BATCH_ROWS = 500
FLUSH_S = 0.25
#: Rows kept in memory while the store cannot be reached; beyond this the oldest are dropped (and counted).
MAX_PENDING_ROWS = 20_000
#: Longest wait between two tries while the store cannot be reached.
MAX_BACKOFF_S = 10.0
#: Retention is applied every this many seconds.
PRUNE_EVERY_S = 60.0


@dataclass(frozen=True)
class Prediction:
    """One answered ``/predict`` call.

    Attributes:
        project: The model's project.
        model_version: The model version that answered.
        rows: The validated input, one row per prediction (a numpy array of shape ``(n, *input_shape)``).
        result: What the client got, without ``model_version`` (``predictions``, maybe ``probabilities``).
        seconds: Time spent in the handler.
        inference_ids: One id per row, as returned to the client.
        time: When it was answered (seconds since the epoch).
    """

    project: str
    model_version: int | None
    rows: Any
    result: dict[str, Any]
    seconds: float
    inference_ids: tuple[str, ...] = ()
    time: float = 0.0


class PredictionSink(Protocol):
    """Receives every answered prediction, on the event loop once the answer is sent.

    An implementation must be quick (queue the work) and must not raise: the client has its answer.
    """

    def record(self, prediction: Prediction) -> None:
        """Take one prediction."""

    def flush(self, timeout: float = 5.0) -> bool:
        """Write what is queued now; whether everything was written."""

    def close(self) -> None:
        """Write what is queued and stop."""


class NullSink:
    """Keeps nothing."""

    store: CaptureStore | None = None

    def record(self, prediction: Prediction) -> None:
        """Drop the prediction."""

    def flush(self, timeout: float = 5.0) -> bool:
        """Nothing to write."""
        return True

    def close(self) -> None:
        """Nothing to stop."""


def documents(prediction: Prediction, limit: int | None = None) -> list[NewPrediction]:
    """The predictions of one answered call, one per row (``row`` still a numpy row: each store encodes it its own
    way); of its first ``limit`` rows only, when a limit is given."""
    rows = prediction.rows[:limit].reshape(len(prediction.rows[:limit]), -1)
    outputs = prediction.result.get("predictions", [])
    probabilities = prediction.result.get("probabilities") or [None] * len(rows)
    return [{"_id": inference_id, "project": prediction.project, "model_version": prediction.model_version,
             "time": prediction.time, "row": row, "prediction": output, "probabilities": probs}
            for inference_id, row, output, probs in zip(prediction.inference_ids, rows, outputs, probabilities,
                                                        strict=False)]


@dataclass(frozen=True, slots=True)
class _Queued:
    """One answered call's rows, as the store writes them."""

    project: str
    prepared: list[Any]


class CaptureSink:
    """Captures every prediction into a ``CaptureStore`` off the request path.

    ``record`` turns the call into the store's rows (``CaptureStore.prepare``) and appends them to a bounded queue:
    that Python work is done on the event loop between requests, so that the writer thread holds the GIL as little
    as possible (the loop waits up to the interpreter's switch interval, 5 ms, for a thread that holds it). A daemon
    thread writes the queue in batches; while the store cannot be reached it keeps up to ``max_pending`` rows,
    drops the oldest beyond that, retries with back-off and says once that capture paused and once that it resumed.
    Every ``PRUNE_EVERY_S`` it deletes the oldest unlabelled predictions beyond ``retention``. Of a call with more
    than ``per_call`` rows only the first ``per_call`` are kept, so that one client's large requests cannot push
    everyone else's predictions out of the retention.

    Args:
        store: Where predictions go.
        retention: Predictions kept per project.
        max_pending: Rows kept in memory while the store is unreachable.
        on_written: Called with the number of rows of each batch written.
        on_dropped: Called with the number of rows dropped.
        per_call: Rows kept of one call (``None``: all).
    """

    def __init__(self, store: CaptureStore, retention: int, max_pending: int = MAX_PENDING_ROWS,
                 on_written: Callable[[int], None] | None = None,
                 on_dropped: Callable[[int], None] | None = None, per_call: int | None = None) -> None:
        self.store = store
        self.per_call = per_call
        self.on_written = on_written or (lambda n: None)
        self.on_dropped = on_dropped or (lambda n: None)
        self.retention = retention
        self.max_pending = max_pending
        self.written = 0
        self.dropped = 0
        self.failing: str | None = None
        self._queue: collections.deque[_Queued] = collections.deque()
        self._said_unprepared = False
        self._queued_rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._stop = False
        self._writing = 0
        self._projects: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def record(self, prediction: Prediction) -> None:
        """Queue one answered call (never blocks on the store, never raises)."""
        try:
            item = _Queued(prediction.project, self.store.prepare(documents(prediction, self.per_call)))
        except Exception as e:  # the client has its answer: this call goes uncaptured, and is counted as dropped
            lost = len(prediction.inference_ids[:self.per_call])
            with self._lock:
                self.dropped += lost
            self.on_dropped(lost)
            if not self._said_unprepared:
                self._said_unprepared = True
                self._say(f"capture: a prediction could not be stored and was dropped: {type(e).__name__}: {e}")
            return
        dropped = 0
        with self._lock:
            self._queue.append(item)
            self._queued_rows += len(item.prepared)
            while self._queued_rows > self.max_pending and len(self._queue) > 1:
                old = self._queue.popleft()
                self._queued_rows -= len(old.prepared)
                dropped += len(old.prepared)
            self.dropped += dropped
            full = self._queued_rows >= BATCH_ROWS
        if dropped:
            self.on_dropped(dropped)
        if full and not self._wake.is_set():  # set() takes a lock and notifies: once per batch is enough
            self._wake.set()

    def flush(self, timeout: float = 5.0) -> bool:
        """Have the writer write what is queued now; whether it all got written within ``timeout``."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._idle:
            while self._queue or self._writing:
                left = deadline - time.monotonic()
                if left <= 0 or self.failing:
                    return False
                self._idle.wait(min(left, 0.05))
                self._wake.set()
        return True

    def close(self) -> None:
        """Write what is queued (a few seconds at most) and stop the writer."""
        self.flush(timeout=5.0)
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5.0)

    def _take(self) -> list[_Queued]:
        with self._lock:
            batch, rows = [], 0
            while self._queue and rows < BATCH_ROWS:
                item = self._queue.popleft()
                batch.append(item)
                rows += len(item.prepared)
            self._queued_rows -= rows
            self._writing = rows
            return batch

    def _put_back(self, batch: list[_Queued]) -> None:
        with self._lock:
            self._queue.extendleft(reversed(batch))
            self._queued_rows += sum(len(item.prepared) for item in batch)
            self._writing = 0

    def _run(self) -> None:
        backoff, last_prune = FLUSH_S, time.monotonic()
        while not self._stop:
            self._wake.wait(FLUSH_S if not self.failing else backoff)
            self._wake.clear()
            while True:
                batch = self._take()
                if not batch:
                    break
                try:
                    prepared = [row for item in batch for row in item.prepared]
                    self.store.add_prepared(prepared)
                except CaptureUnavailable as e:
                    self._put_back(batch)
                    if self.failing is None:
                        self._say(f"capture paused: {e}; predictions still answer, up to {self.max_pending} rows "
                                  "wait here")
                    self.failing = str(e)
                    backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF_S)
                    break
                self.on_written(len(prepared))
                with self._lock:
                    self._writing = 0
                    self.written += len(prepared)
                    self._projects.update(item.project for item in batch)
                    self._idle.notify_all()
                if self.failing is not None:
                    self._say(f"capture resumed: {self.written} rows written so far, {self.dropped} dropped")
                    self.failing, backoff = None, FLUSH_S
            with self._lock:
                self._idle.notify_all()
            if time.monotonic() - last_prune > PRUNE_EVERY_S and not self.failing:
                last_prune = time.monotonic()
                self.prune()

    def prune(self) -> int:
        """Apply the retention limit to every project this sink wrote; how many predictions went."""
        gone = 0
        for project in list(self._projects):
            try:
                gone += self.store.prune(project, self.retention)
            except CaptureUnavailable as e:
                self._say(f"capture: retention not applied: {e}")
        return gone

    @staticmethod
    def _say(line: str) -> None:
        print(f"mlops serve: {line}", file=sys.stderr, flush=True)
