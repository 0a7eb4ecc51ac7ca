"""The capture store contract (``CaptureStore``'s docstring), written once and run over every store: the SQLite
spool, the MongoDB implementation on the embedded engine (the pymongo API), and a real MongoDB when
MLOPS_TEST_MONGODB_URI is set."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor.serving.capture import (
    CaptureStore,
    CaptureUnavailable,
    MongoCapture,
    NewPrediction,
    SpoolCapture,
    open_capture,
)

#: The collections (tables) of a capture store.
COLLECTIONS = ("predictions", "labels", "served_models", "live_status")


@pytest.fixture(params=["spool", "pymongo-api", "mongodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaptureStore[Any]]:
    """An empty store of each kind."""
    capture: CaptureStore[Any]
    if request.param == "spool":
        capture = SpoolCapture(tmp_path / "spool")
    elif request.param == "pymongo-api":
        from montydb import MontyClient, set_storage

        set_storage(str(tmp_path / "monty"), storage="sqlite", use_bson=False)
        capture = MongoCapture(MontyClient(str(tmp_path / "monty"))["mlops"], "embedded")
    else:
        uri = os.environ.get("MLOPS_TEST_MONGODB_URI")
        if not uri:
            pytest.skip("no MongoDB here: set MLOPS_TEST_MONGODB_URI to run the contract on a real server")
        mongo = open_capture(uri, None)
        assert isinstance(mongo, MongoCapture)
        for name in COLLECTIONS:
            mongo.db[name].delete_many({})
        capture = mongo
    yield capture
    capture.close()


@pytest.fixture(params=["spool", "mongodb"])
def unusable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaptureStore[Any]]:
    """A store of each kind that cannot be used: a spool folder that is a file, a MongoDB nobody listens on."""
    if request.param == "spool":
        (tmp_path / "taken").write_text("a file where the spool folder should be")
        capture: CaptureStore[Any] | None = SpoolCapture(tmp_path / "taken")
    else:
        capture = open_capture("mongodb://127.0.0.1:9/mlops", None, timeout_ms=100)
    assert capture is not None
    yield capture
    capture.close()


def doc(i: int, project: str = "wine", version: int = 1, at: float | None = None) -> NewPrediction:
    return {"_id": f"id-{i}", "project": project, "model_version": version, "time": at or 1000.0 + i,
            "row": [float(i), None, 2.5], "prediction": i % 3, "probabilities": [0.2, 0.5, 0.3]}


def test_predictions_come_back_as_stored_and_only_for_their_project(store: CaptureStore[Any]) -> None:
    store.add_predictions([doc(i) for i in range(5)] + [doc(9, project="other")])
    found = store.predictions("wine", ["id-1", "id-4", "id-9", "nope"])
    assert sorted(found) == ["id-1", "id-4"]
    assert found["id-1"]["row"] == [1.0, None, 2.5] and found["id-1"]["prediction"] == 1
    assert found["id-1"]["probabilities"] == [0.2, 0.5, 0.3] and found["id-1"]["model_version"] == 1
    assert "label" not in found["id-1"] and "labelled_at" not in found["id-1"]
    assert [d["_id"] for d in store.recent("wine", 2)] == ["id-4", "id-3"]
    assert [d["_id"] for d in store.recent("other")] == ["id-9"]


def test_a_numpy_row_comes_back_as_a_list_with_none_for_a_missing_value(store: CaptureStore[Any]) -> None:
    store.add_predictions([{**doc(0), "row": np.array([1.5, math.nan, -2.0])}])
    row = store.predictions("wine", ["id-0"])["id-0"]["row"]
    assert type(row) is list and row == [1.5, None, -2.0]


def test_a_row_with_categories_comes_back_with_its_text_numbers_and_missing_values(store: CaptureStore[Any]) -> None:
    row = np.array([1.5, "green", None, math.nan, "na"], dtype=object)  # a data project's row, as served
    store.add_predictions([{**doc(0), "row": row}, {**doc(1), "row": np.array([2.0, 3.0])}])
    got = store.predictions("wine", ["id-0", "id-1"])
    assert got["id-0"]["row"] == [1.5, "green", None, None, "na"]
    assert got["id-1"]["row"] == [2.0, 3.0]  # numbers alone stay packed


def test_returned_documents_are_copies(store: CaptureStore[Any]) -> None:
    store.add_predictions([doc(0)])
    store.add_labels("wine", [("id-0", 2)], "api")
    store.put_model("wine", 1, ["a", "b", "c"], [0, 1, 2], "classification")
    store.put_status("wine", {"window": 50})
    got = store.predictions("wine", ["id-0"])["id-0"]
    got["row"][0], got["label"] = 99.0, 0
    store.recent("wine")[0]["row"].append(7.0)
    store.label_history("wine")[0]["label"] = 0
    store.model("wine", 1)["features"].append("d")  # type: ignore[index]
    store.status("wine")["window"] = 1  # type: ignore[index]
    again = store.predictions("wine", ["id-0"])["id-0"]
    assert (again["row"], again["label"]) == ([0.0, None, 2.5], 2)
    assert store.label_history("wine")[0]["label"] == 2
    assert store.model("wine", 1)["features"] == ["a", "b", "c"]  # type: ignore[index]
    assert store.status("wine")["window"] == 50  # type: ignore[index]


def test_a_reused_id_replaces_the_earlier_prediction_in_one_batch_and_across_batches(
        store: CaptureStore[Any]) -> None:
    docs = [doc(i) for i in range(250)]  # past the spool's 100 rows per statement
    docs[180] = {**doc(180), "_id": "id-10", "prediction": 99}
    store.add_predictions(docs)
    assert store.predictions("wine", ["id-10"])["id-10"]["prediction"] == 99
    store.add_predictions([{**doc(11), "prediction": 98}])
    assert store.predictions("wine", ["id-11"])["id-11"]["prediction"] == 98
    assert len(store.served("wine", limit=1000)) == 249


def test_a_second_label_replaces_the_first_and_both_stay_in_the_history(store: CaptureStore[Any]) -> None:
    store.add_predictions([doc(i) for i in range(3)] + [doc(5, project="other")])
    assert store.add_labels("wine", [("id-0", 2), ("id-1", 1)], "api").replaced == 0
    store.add_labels("other", [("id-5", 1)], "api")
    result = store.add_labels("wine", [("id-0", 0)], "review")
    assert (result.recorded, result.replaced) == (1, 1)
    labelled = store.predictions("wine", ["id-0"])["id-0"]
    assert (labelled["label"], labelled["label_source"]) == (0, "review") and labelled["labelled_at"] > 0
    history = store.label_history("wine", "id-0")
    assert [(h["label"], h["previous"], h["source"], h["inference_id"]) for h in history] == [
        (2, None, "api", "id-0"), (0, 2, "review", "id-0")]
    assert len({h["_id"] for h in store.label_history("wine")}) == 3  # every label has its own id
    assert [d["_id"] for d in store.labelled("wine")] == ["id-0", "id-1"]  # most recently labelled first
    assert [h["inference_id"] for h in store.label_history("other")] == ["id-5"]


def test_labelled_predictions_of_one_version_in_a_window(store: CaptureStore[Any]) -> None:
    store.add_predictions([doc(i, version=1 + (i >= 4)) for i in range(8)])
    for i in range(8):
        store.add_labels("wine", [(f"id-{i}", 0)], "api")
        time.sleep(0.002)
    newest_v2 = store.labelled("wine", version=2, limit=3)
    assert [d["_id"] for d in newest_v2] == ["id-7", "id-6", "id-5"]
    assert len(store.labelled("wine", version=1)) == 4
    assert store.labelled("wine", since=time.time() + 10) == []
    assert [d["_id"] for d in store.served("wine", version=1, limit=2)] == ["id-3", "id-2"]


def test_retention_prunes_the_oldest_unlabelled_predictions_and_keeps_labelled_ones(
        store: CaptureStore[Any]) -> None:
    store.add_predictions([doc(i) for i in range(10)] + [doc(20, project="other", at=1.0)])
    store.add_labels("wine", [("id-0", 1)], "api")
    assert store.prune("wine", keep=4) == 6
    left = {d["_id"] for d in store.served("wine")}
    assert left == {"id-0", "id-7", "id-8", "id-9"}
    assert store.prune("wine", keep=4) == 0
    assert [d["_id"] for d in store.served("other")] == ["id-20"]


def test_served_models_and_live_status_round_trip(store: CaptureStore[Any]) -> None:
    store.put_model("wine", 3, ["a", "b"], [1, 2, 3], "classification")
    store.put_model("wine", 4, ["a"], None, "regression")
    assert store.model("wine", 3) == {"_id": "wine/3", "project": "wine", "version": 3, "features": ["a", "b"],
                                      "classes": [1, 2, 3], "task": "classification"}
    assert store.model("wine", 4)["classes"] is None  # type: ignore[index]
    assert store.model("wine", 5) is None and store.status("wine") is None
    store.put_status("wine", {"window": 50, "drift_share": 0.25})
    store.put_status("wine", {"window": 60, "drift_share": 0.5})
    status = store.status("wine")
    assert status is not None and (status["_id"], status["project"]) == ("wine", "wine")
    assert status["window"] == 60 and status["drift_share"] == 0.5
    assert store.status("other") is None


def test_labels_written_by_many_threads_are_all_kept(store: CaptureStore[Any]) -> None:
    if isinstance(store, MongoCapture) and type(store.db).__module__.startswith("montydb"):
        pytest.skip("the embedded engine, MongoDB's stand-in in tests, keeps one SQLite connection per thread it "
                    "was opened in; a capture store on it is never shared by threads")
    store.add_predictions([doc(i) for i in range(200)])
    failed: list[BaseException] = []

    def label(k: int) -> None:
        try:
            for i in range(k, 200, 4):
                store.add_labels("wine", [(f"id-{i}", 1)], "api")
        except BaseException as e:  # seen by the assertion below, not lost in the thread
            failed.append(e)

    threads = [threading.Thread(target=label, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failed == []
    assert len(store.labelled("wine")) == 200 and len(store.label_history("wine")) == 200


def test_a_store_that_cannot_be_used_raises_capture_unavailable_naming_it(unusable: CaptureStore[Any]) -> None:
    calls = {
        "add_predictions": lambda: unusable.add_predictions([doc(0)]),
        "predictions": lambda: unusable.predictions("wine", ["id-0"]),
        "add_labels": lambda: unusable.add_labels("wine", [("id-0", 1)], "api"),
        "recent": lambda: unusable.recent("wine"),
        "labelled": lambda: unusable.labelled("wine"),
        "served": lambda: unusable.served("wine"),
        "label_history": lambda: unusable.label_history("wine"),
        "prune": lambda: unusable.prune("wine", 1),
        "put_model": lambda: unusable.put_model("wine", 1, ["a"], None, "regression"),
        "model": lambda: unusable.model("wine", 1),
        "put_status": lambda: unusable.put_status("wine", {"window": 1}),
        "status": lambda: unusable.status("wine"),
    }
    for name, call in calls.items():
        with pytest.raises(CaptureUnavailable) as raised:
            call()
        assert unusable.description in str(raised.value), name


def test_open_capture_picks_mongodb_for_a_uri_else_the_spool_else_nothing(tmp_path: Path) -> None:
    mongo = open_capture("mongodb://mlops:s3cret@db.example:27017/mlops?authSource=admin", tmp_path)
    assert isinstance(mongo, MongoCapture) and mongo.description == "MongoDB db.example:27017"
    mongo.close()
    spool = open_capture(None, tmp_path / "spool")
    assert isinstance(spool, SpoolCapture) and spool.path == tmp_path / "spool" / "capture.sqlite"
    assert open_capture("", None) is None
