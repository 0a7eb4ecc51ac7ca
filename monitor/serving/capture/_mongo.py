"""The capture store in MongoDB: four collections of the run store's database (or of anything with the pymongo API,
as the embedded engine in tests)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ._base import CaptureStore, CaptureUnavailable, LabelResult
from .documents import (
    CapturedPrediction,
    Label,
    LabelRecord,
    LiveStatus,
    NewPrediction,
    ServedModelInfo,
    clean_row,
    label_record,
    served_model_id,
)

T = TypeVar("T")

#: What an insert of a known ``_id`` raises: pymongo's ``DuplicateKeyError`` or ``BulkWriteError``, the embedded
#: engine's SQLite ``IntegrityError``.
_DUPLICATE_ID_ERRORS = ("Duplicate", "BulkWrite", "IntegrityError")


class MongoCapture(CaptureStore[CapturedPrediction]):
    """The collections ``predictions``, ``labels``, ``served_models`` and ``live_status`` of a pymongo ``Database``.

    Args:
        database: A pymongo ``Database`` (MongoDB, or the embedded engine in tests).
        description: Where it is, safe to print.
    """

    def __init__(self, database: Any, description: str = "MongoDB") -> None:
        self.db = database
        self.description = description
        self._indexed = False

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            if not self._indexed:
                self._indexed = True
                self._ensure_indexes()
            return fn()
        except CaptureUnavailable:
            raise
        except Exception as e:
            raise CaptureUnavailable(f"{what} in {self.description} failed: {type(e).__name__}: {e}") from e

    def _ensure_indexes(self) -> None:
        if type(self.db).__module__.startswith("montydb"):
            return  # the embedded engine scans; indexes are MongoDB's business
        self.db.predictions.create_index([("project", 1), ("time", -1)])
        self.db.predictions.create_index([("project", 1), ("labelled_at", -1)], sparse=True)
        self.db.labels.create_index([("project", 1), ("inference_id", 1)])

    def prepare(self, docs: Sequence[NewPrediction]) -> list[CapturedPrediction]:
        return [{**d, "row": clean_row(d["row"])} for d in docs]  # type: ignore[typeddict-item]

    def add_prepared(self, prepared: list[CapturedPrediction]) -> None:
        if not prepared:
            return

        def write() -> None:
            try:
                self.db.predictions.insert_many(prepared)
            except Exception as e:  # a client reused an id: the batch again, one upsert at a time (idempotent)
                if not any(kind in type(e).__name__ for kind in _DUPLICATE_ID_ERRORS):
                    raise
                for d in prepared:
                    self.db.predictions.replace_one({"_id": d["_id"]}, d, upsert=True)

        self._call("storing predictions", write)

    def predictions(self, project: str, ids: Sequence[str]) -> dict[str, CapturedPrediction]:
        return self._call("reading predictions", lambda: {
            d["_id"]: d for d in self.db.predictions.find({"_id": {"$in": list(ids)}, "project": project})})

    def add_labels(self, project: str, labels: Sequence[tuple[str, Label]], source: str) -> LabelResult:
        def write() -> LabelResult:
            current = {d["_id"]: d.get("label") for d in self.db.predictions.find(
                {"_id": {"$in": [i for i, _ in labels]}}, {"label": 1})}
            now, docs, replaced = time.time(), [], 0
            for inference_id, label in labels:
                previous = current.get(inference_id)
                replaced += previous is not None
                docs.append(label_record(project, inference_id, label, previous, now, source))
                current[inference_id] = label
            self.db.labels.insert_many(docs)
            for inference_id, label in {i: lab for i, lab in labels}.items():
                self.db.predictions.update_one({"_id": inference_id}, {"$set": {
                    "label": label, "labelled_at": now, "label_source": source}})
            return LabelResult(len(docs), replaced)

        return self._call("storing labels", write)

    def recent(self, project: str, limit: int = 50) -> list[CapturedPrediction]:
        return self._call("reading predictions", lambda: list(
            self.db.predictions.find({"project": project}).sort("time", -1).limit(limit)))

    def labelled(self, project: str, version: int | None = None, limit: int | None = None,
                 since: float | None = None) -> list[CapturedPrediction]:
        query: dict[str, object] = {"project": project, "labelled_at": {"$gte": since or 0}}
        if version is not None:
            query["model_version"] = version

        def read() -> list[CapturedPrediction]:
            cursor = self.db.predictions.find(query).sort("labelled_at", -1)
            return list(cursor.limit(limit) if limit else cursor)

        return self._call("reading labelled predictions", read)

    def served(self, project: str, version: int | None = None, limit: int = 1000) -> list[CapturedPrediction]:
        query = {"project": project, **({"model_version": version} if version is not None else {})}
        return self._call("reading predictions", lambda: list(
            self.db.predictions.find(query).sort("time", -1).limit(limit)))

    def label_history(self, project: str, inference_id: str | None = None) -> list[LabelRecord]:
        query = {"project": project, **({"inference_id": inference_id} if inference_id else {})}
        return self._call("reading labels", lambda: sorted(self.db.labels.find(query), key=lambda d: d["time"]))

    def prune(self, project: str, keep: int) -> int:
        def delete() -> int:
            total = self.db.predictions.count_documents({"project": project})
            if total <= keep:
                return 0
            old = self.db.predictions.find({"project": project, "label": {"$exists": False}}, {"_id": 1}
                                           ).sort("time", 1).limit(total - keep)
            ids = [d["_id"] for d in old]
            return int(self.db.predictions.delete_many({"_id": {"$in": ids}}).deleted_count) if ids else 0

        return self._call("pruning predictions", delete)

    def put_model(self, project: str, version: int | None, features: list[str], classes: list[Label] | None,
                  task: str) -> None:
        key = served_model_id(project, version)
        doc: ServedModelInfo = {"_id": key, "project": project, "version": version, "features": features,
                                "classes": classes, "task": task}
        self._call("storing the served model", lambda: self.db.served_models.replace_one({"_id": key}, doc,
                                                                                          upsert=True))

    def model(self, project: str, version: int | None) -> ServedModelInfo | None:
        return self._call("reading the served model", lambda: self.db.served_models.find_one(
            {"_id": served_model_id(project, version)}))

    def put_status(self, project: str, status: LiveStatus) -> None:
        self._call("storing the live status", lambda: self.db.live_status.replace_one(
            {"_id": project}, {**status, "_id": project, "project": project}, upsert=True))

    def status(self, project: str) -> LiveStatus | None:
        return self._call("reading the live status", lambda: self.db.live_status.find_one({"_id": project}))

    def close(self) -> None:
        client = getattr(self.db, "client", None)
        if client is not None:
            client.close()
