"""The capture sink: every answered prediction queued on the caller's thread and written in batches into a capture
store by a thread of its own, in this process."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from monitor.serving.capture import SpoolCapture
from monitor.serving.capture.sink import CaptureSink, Prediction


def call(n: int, project: str = "wine") -> Prediction:
    ids = tuple(f"p{time.monotonic_ns()}-{k}" for k in range(n))
    return Prediction(project, 1, np.arange(n * 3, dtype="float64").reshape(n, 3),
                      {"predictions": [0] * n}, 0.001, ids, time.time())


def test_the_sink_writes_in_batches_off_the_callers_thread(tmp_path: Path) -> None:
    store = SpoolCapture(tmp_path)
    sink = CaptureSink(store, retention=1000)
    start = time.perf_counter()
    for _ in range(200):
        sink.record(call(2))
    queued_in = time.perf_counter() - start
    assert sink.flush(5)
    assert len(store.served("wine", limit=1000)) == 400
    assert queued_in < 0.05, f"record() took {queued_in:.3f}s for 200 calls: it must not wait for the store"
    sink.close()


def test_a_prediction_the_store_cannot_take_is_dropped_and_said_once_and_capture_goes_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = SpoolCapture(tmp_path)
    dropped: list[int] = []
    sink = CaptureSink(store, retention=1000, on_dropped=dropped.append)
    odd = call(2)
    for _ in range(2):  # an output JSON cannot hold (a model returning objects)
        sink.record(Prediction(odd.project, 1, odd.rows, {"predictions": [object(), object()]}, 0.001,
                               odd.inference_ids, odd.time))
    sink.record(call(3))
    assert sink.flush(5)
    assert len(store.served("wine", limit=100)) == 3 and sink.dropped == 4 and dropped == [2, 2]
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and "could not be stored and was dropped" in said[0] and "TypeError" in said[0]
    sink.record(call(1))  # the writer is still there
    assert sink.flush(5) and len(store.served("wine", limit=100)) == 4
    sink.close()


def test_while_the_store_is_locked_predictions_queue_and_capture_resumes_after(tmp_path: Path) -> None:
    store = SpoolCapture(tmp_path, timeout_s=0.2)
    sink = CaptureSink(store, retention=1000)
    sink.record(call(1))
    assert sink.flush(5)
    blocker = sqlite3.connect(tmp_path / "capture.sqlite", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database: every write fails for now
    try:
        start = time.perf_counter()
        for _ in range(50):
            sink.record(call(2))
        assert time.perf_counter() - start < 0.05
        deadline = time.time() + 10
        while sink.failing is None and time.time() < deadline:
            time.sleep(0.05)
        assert sink.failing and "locked" in sink.failing
        assert not sink.flush(0.5)
    finally:
        blocker.rollback()
        blocker.close()
    deadline = time.time() + 20
    while len(store.served("wine", limit=1000)) < 101 and time.time() < deadline:
        time.sleep(0.1)
    assert len(store.served("wine", limit=1000)) == 101 and sink.failing is None and sink.dropped == 0
    sink.close()


def test_beyond_the_pending_limit_the_oldest_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    store = SpoolCapture(tmp_path, timeout_s=0.2)
    store.recent("wine")  # creates the tables
    blocker = sqlite3.connect(tmp_path / "capture.sqlite", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    dropped: list[int] = []
    try:
        sink = CaptureSink(store, retention=1000, max_pending=10, on_dropped=dropped.append)
        calls = [call(2) for _ in range(8)]
        for c in calls:
            sink.record(c)
        assert sink.dropped == 6 and sum(dropped) == 6
    finally:
        blocker.rollback()
        blocker.close()
    assert sink.flush(10)
    kept = {d["_id"] for d in store.served("wine", limit=100)}
    assert kept == {i for c in calls[3:] for i in c.inference_ids}  # the newest rows, not the oldest
    sink.close()

