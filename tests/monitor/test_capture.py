"""The capture store (spool and the pymongo API) and the capture sink, in this process."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from monitor.serving.capture import CaptureStore, MongoCapture, SpoolCapture
from monitor.serving.sink import CaptureSink, Prediction


@pytest.fixture(params=["spool", "pymongo-api"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaptureStore]:
    """The spool, and the MongoDB implementation on the embedded engine (same pymongo API as MongoDB)."""
    if request.param == "spool":
        capture: CaptureStore = SpoolCapture(tmp_path / "spool")
    else:
        from montydb import MontyClient, set_storage

        set_storage(str(tmp_path / "monty"), storage="sqlite", use_bson=False)
        capture = MongoCapture(MontyClient(str(tmp_path / "monty"))["mlops"], "embedded")
    yield capture
    capture.close()


def doc(i: int, project: str = "wine", version: int = 1, at: float | None = None) -> dict:
    return {"_id": f"id-{i}", "project": project, "model_version": version, "time": at or 1000.0 + i,
            "row": [float(i), None, 2.5], "prediction": i % 3, "probabilities": [0.2, 0.5, 0.3]}


def test_predictions_come_back_as_stored_and_only_for_their_project(store: CaptureStore) -> None:
    store.add_predictions([doc(i) for i in range(5)] + [doc(9, project="other")])
    found = store.predictions("wine", ["id-1", "id-4", "id-9", "nope"])
    assert sorted(found) == ["id-1", "id-4"]
    assert found["id-1"]["row"] == [1.0, None, 2.5] and found["id-1"]["prediction"] == 1
    assert "label" not in found["id-1"]
    assert [d["_id"] for d in store.recent("wine", 2)] == ["id-4", "id-3"]


def test_a_reused_id_replaces_the_earlier_prediction_in_one_batch_and_across_batches(store: CaptureStore) -> None:
    docs = [doc(i) for i in range(250)]  # past the spool's 100 rows per statement
    docs[180] = {**doc(180), "_id": "id-10", "prediction": 99}
    store.add_predictions(docs)
    assert store.predictions("wine", ["id-10"])["id-10"]["prediction"] == 99
    store.add_predictions([{**doc(11), "prediction": 98}])
    assert store.predictions("wine", ["id-11"])["id-11"]["prediction"] == 98
    assert len(store.served("wine", limit=1000)) == 249


def test_a_second_label_replaces_the_first_and_both_stay_in_the_history(store: CaptureStore) -> None:
    store.add_predictions([doc(i) for i in range(3)])
    assert store.add_labels("wine", [("id-0", 2), ("id-1", 1)], "api").replaced == 0
    result = store.add_labels("wine", [("id-0", 0)], "review")
    assert (result.recorded, result.replaced) == (1, 1)
    assert store.predictions("wine", ["id-0"])["id-0"]["label"] == 0
    history = store.label_history("wine", "id-0")
    assert [(h["label"], h["previous"], h["source"]) for h in history] == [(2, None, "api"), (0, 2, "review")]
    assert [d["_id"] for d in store.labelled("wine")] == ["id-0", "id-1"]  # most recently labelled first


def test_labelled_predictions_of_one_version_in_a_window(store: CaptureStore) -> None:
    store.add_predictions([doc(i, version=1 + (i >= 4)) for i in range(8)])
    for i in range(8):
        store.add_labels("wine", [(f"id-{i}", 0)], "api")
        time.sleep(0.002)
    newest_v2 = store.labelled("wine", version=2, limit=3)
    assert [d["_id"] for d in newest_v2] == ["id-7", "id-6", "id-5"]
    assert len(store.labelled("wine", version=1)) == 4
    assert store.labelled("wine", since=time.time() + 10) == []
    assert [d["_id"] for d in store.served("wine", version=1, limit=2)] == ["id-3", "id-2"]


def test_retention_prunes_the_oldest_unlabelled_predictions_and_keeps_labelled_ones(store: CaptureStore) -> None:
    store.add_predictions([doc(i) for i in range(10)])
    store.add_labels("wine", [("id-0", 1)], "api")
    assert store.prune("wine", keep=4) == 6
    left = {d["_id"] for d in store.served("wine")}
    assert left == {"id-0", "id-7", "id-8", "id-9"}
    assert store.prune("wine", keep=4) == 0


def test_served_models_and_live_status_round_trip(store: CaptureStore) -> None:
    store.put_model("wine", 3, ["a", "b"], [1, 2, 3], "classification")
    assert store.model("wine", 3)["features"] == ["a", "b"] and store.model("wine", 3)["classes"] == [1, 2, 3]
    assert store.model("wine", 4) is None and store.status("wine") is None
    store.put_status("wine", {"window": 50, "drift_share": 0.25})
    store.put_status("wine", {"window": 60, "drift_share": 0.5})
    assert store.status("wine")["window"] == 60 and store.status("wine")["drift_share"] == 0.5


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


def test_labels_written_by_many_threads_are_all_kept(tmp_path: Path) -> None:
    store = SpoolCapture(tmp_path)
    store.add_predictions([doc(i) for i in range(200)])

    def label(k: int) -> None:
        for i in range(k, 200, 4):
            store.add_labels("wine", [(f"id-{i}", 1)], "api")

    threads = [threading.Thread(target=label, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.labelled("wine")) == 200 and len(store.label_history("wine")) == 200
