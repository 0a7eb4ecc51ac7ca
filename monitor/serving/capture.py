"""Where captured predictions and users' labels live: MongoDB (the run store's database) or a SQLite spool.

Standard library plus pymongo only, so that the tool (``mlops monitor``, ``mlops feedback``) reads the same data
through this module as the server writes, without FastAPI. The documents are the contract:

- ``predictions``: ``{"_id": inference_id, "project", "model_version", "time", "row": [numbers, None for
  missing], "prediction", "probabilities": [...] or None, "label", "labelled_at", "label_source"}``; ``label``
  is the latest label (absent until a user gives one). Writers may hand ``row`` over as a numpy row; every
  reader gets a list.
- ``labels``: every label ever given, append-only: ``{"_id", "inference_id", "project", "label", "previous",
  "time", "source"}``; a second label for a prediction replaces the first on the prediction, and both stay here.
- ``served_models``: ``{"_id": "<project>/<version>", "project", "version", "features", "classes", "task"}``,
  written by each server when its model is loaded (how to read ``row`` and which labels are valid).
- ``live_status``: ``{"_id": project, ...}``, the latest verdict of ``mlops monitor`` (window, drift share...).

With ``MONGODB_URI`` these are collections of the run store's database; without it, tables of
``<folder>/capture.sqlite`` (the deploy mounts ``$MLOPS_HOME/capture/<project>/`` there), in WAL mode so that
every worker, ``mlops monitor`` and ``mlops feedback`` can use it at once.
"""

from __future__ import annotations

import abc
import array
import functools
import json
import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPOOL_FILE = "capture.sqlite"
#: Default number of predictions kept per project (older unlabelled ones are pruned; labelled ones are kept).
DEFAULT_RETENTION = 100_000


class CaptureUnavailable(RuntimeError):
    """The capture store cannot be reached or refused the operation; the message says which and why."""


@dataclass(frozen=True)
class LabelResult:
    """What a batch of labels did: how many were recorded and how many replaced an earlier label."""

    recorded: int
    replaced: int


def clean_row(values: Iterable[float]) -> list[float | None]:
    """A row as documents show it: floats, ``None`` for a missing (NaN) value. ``values`` may be a numpy row."""
    listed = values.tolist() if hasattr(values, "tolist") else values  # type: ignore[union-attr]
    return [None if isinstance(v, float) and math.isnan(v) else v for v in listed]


def row_bytes(values: Any) -> bytes:
    """A row as the spool keeps it: float64 values, NaN for missing (packed, not JSON: formatting floats as text
    would be most of the cost of capture)."""
    if hasattr(values, "astype"):
        return values.astype("<f8", copy=False).tobytes()  # type: ignore[no-any-return]
    return array.array("d", [math.nan if v is None else float(v) for v in values]).tobytes()


def row_of(blob: bytes) -> list[float | None]:
    """The row ``row_bytes`` packed."""
    values = array.array("d")
    values.frombytes(blob)
    return [None if v != v else v for v in values]


class CaptureStore(abc.ABC):
    """Predictions, labels, served models and the monitor's latest status of one or more projects.

    Every method raises ``CaptureUnavailable`` when the store cannot be used.
    """

    description: str

    def add_predictions(self, docs: list[dict[str, Any]]) -> None:
        """Store prediction documents; a reused ``_id`` replaces the earlier prediction."""
        self.add_prepared(self.prepare(docs))

    def prepare(self, docs: list[dict[str, Any]]) -> list[Any]:
        """Prediction documents as ``add_prepared`` writes them. ``CaptureSink`` calls this on the event loop once an
        answer is sent, so that its writer thread runs little Python: the loop waits for the GIL while it does."""
        return docs

    @abc.abstractmethod
    def add_prepared(self, prepared: list[Any]) -> None:
        """Store what ``prepare`` made of prediction documents."""

    @abc.abstractmethod
    def predictions(self, project: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The project's predictions with these ids (unknown ids are left out)."""

    @abc.abstractmethod
    def add_labels(self, project: str, labels: list[tuple[str, Any]], source: str) -> LabelResult:
        """Record ``(inference_id, label)`` pairs (ids known to exist) and make each the prediction's label."""

    @abc.abstractmethod
    def recent(self, project: str, limit: int = 50) -> list[dict[str, Any]]:
        """The project's latest predictions, newest first."""

    @abc.abstractmethod
    def labelled(self, project: str, version: int | None = None, limit: int | None = None,
                 since: float | None = None) -> list[dict[str, Any]]:
        """The project's labelled predictions (of one model version), most recently labelled first."""

    @abc.abstractmethod
    def served(self, project: str, version: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """The project's latest predictions (of one model version) with their rows, newest first."""

    @abc.abstractmethod
    def label_history(self, project: str, inference_id: str | None = None) -> list[dict[str, Any]]:
        """Every label given (for one prediction), oldest first."""

    @abc.abstractmethod
    def prune(self, project: str, keep: int) -> int:
        """Delete the oldest unlabelled predictions beyond ``keep`` in all; return how many went."""

    @abc.abstractmethod
    def put_model(self, project: str, version: int | None, features: list[str], classes: list[Any] | None,
                  task: str) -> None:
        """Say what a served model's rows and labels look like."""

    @abc.abstractmethod
    def model(self, project: str, version: int | None) -> dict[str, Any] | None:
        """What ``put_model`` said about a version, or ``None``."""

    @abc.abstractmethod
    def put_status(self, project: str, status: dict[str, Any]) -> None:
        """Keep the monitor's latest verdict of a project."""

    @abc.abstractmethod
    def status(self, project: str) -> dict[str, Any] | None:
        """The monitor's latest verdict of a project, or ``None``."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release connections."""


def _label_doc(project: str, inference_id: str, label: Any, previous: Any, now: float, source: str
               ) -> dict[str, Any]:
    return {"_id": uuid.uuid4().hex, "inference_id": inference_id, "project": project, "label": label,
            "previous": previous, "time": now, "source": source}


#: What an insert of a known ``_id`` raises: pymongo's ``DuplicateKeyError`` or ``BulkWriteError``, the embedded
#: engine's SQLite ``IntegrityError``.
_DUPLICATE_ID_ERRORS = ("Duplicate", "BulkWrite", "IntegrityError")


# -- MongoDB (or anything with the pymongo API) --------------------------------------------------

class MongoCapture(CaptureStore):
    """The collections in a pymongo ``Database`` (MongoDB, or the embedded engine in tests).

    Args:
        database: A pymongo ``Database``.
        description: Where it is, safe to print.
    """

    def __init__(self, database: Any, description: str = "MongoDB") -> None:
        self.db = database
        self.description = description
        self._indexed = False

    def _call(self, what: str, fn: Any) -> Any:
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

    def prepare(self, docs: list[dict[str, Any]]) -> list[Any]:
        return [{**d, "row": clean_row(d["row"])} for d in docs]

    def add_prepared(self, prepared: list[Any]) -> None:
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

    def predictions(self, project: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        return self._call("reading predictions", lambda: {
            d["_id"]: d for d in self.db.predictions.find({"_id": {"$in": list(ids)}, "project": project})})

    def add_labels(self, project: str, labels: list[tuple[str, Any]], source: str) -> LabelResult:
        def write() -> LabelResult:
            current = {d["_id"]: d.get("label") for d in self.db.predictions.find(
                {"_id": {"$in": [i for i, _ in labels]}}, {"label": 1})}
            now, docs, replaced = time.time(), [], 0
            for inference_id, label in labels:
                previous = current.get(inference_id)
                replaced += previous is not None
                docs.append(_label_doc(project, inference_id, label, previous, now, source))
                current[inference_id] = label
            self.db.labels.insert_many(docs)
            for inference_id, label in {i: lab for i, lab in labels}.items():
                self.db.predictions.update_one({"_id": inference_id}, {"$set": {
                    "label": label, "labelled_at": now, "label_source": source}})
            return LabelResult(len(docs), replaced)

        return self._call("storing labels", write)

    def recent(self, project: str, limit: int = 50) -> list[dict[str, Any]]:
        return self._call("reading predictions", lambda: list(
            self.db.predictions.find({"project": project}).sort("time", -1).limit(limit)))

    def labelled(self, project: str, version: int | None = None, limit: int | None = None,
                 since: float | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"project": project, "labelled_at": {"$gte": since or 0}}
        if version is not None:
            query["model_version"] = version

        def read() -> list[dict[str, Any]]:
            cursor = self.db.predictions.find(query).sort("labelled_at", -1)
            return list(cursor.limit(limit) if limit else cursor)

        return self._call("reading labelled predictions", read)

    def served(self, project: str, version: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"project": project, **({"model_version": version} if version is not None else {})}
        return self._call("reading predictions", lambda: list(
            self.db.predictions.find(query).sort("time", -1).limit(limit)))

    def label_history(self, project: str, inference_id: str | None = None) -> list[dict[str, Any]]:
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
            return self.db.predictions.delete_many({"_id": {"$in": ids}}).deleted_count if ids else 0

        return self._call("pruning predictions", delete)

    def put_model(self, project: str, version: int | None, features: list[str], classes: list[Any] | None,
                  task: str) -> None:
        key = f"{project}/{version}"
        doc = {"_id": key, "project": project, "version": version, "features": features, "classes": classes,
               "task": task}
        self._call("storing the served model", lambda: self.db.served_models.replace_one({"_id": key}, doc,
                                                                                          upsert=True))

    def model(self, project: str, version: int | None) -> dict[str, Any] | None:
        return self._call("reading the served model", lambda: self.db.served_models.find_one(
            {"_id": f"{project}/{version}"}))

    def put_status(self, project: str, status: dict[str, Any]) -> None:
        self._call("storing the live status", lambda: self.db.live_status.replace_one(
            {"_id": project}, {**status, "_id": project, "project": project}, upsert=True))

    def status(self, project: str) -> dict[str, Any] | None:
        return self._call("reading the live status", lambda: self.db.live_status.find_one({"_id": project}))

    def close(self) -> None:
        client = getattr(self.db, "client", None)
        if client is not None:
            client.close()


# -- SQLite spool --------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, model_version INTEGER, time REAL NOT NULL, row BLOB NOT NULL,
    prediction TEXT, probabilities TEXT, label TEXT, labelled_at REAL, label_source TEXT);
CREATE INDEX IF NOT EXISTS predictions_time ON predictions (project, time);
CREATE INDEX IF NOT EXISTS predictions_labelled ON predictions (project, labelled_at) WHERE labelled_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS labels (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, inference_id TEXT NOT NULL, project TEXT NOT NULL,
    label TEXT, previous TEXT, time REAL NOT NULL, source TEXT);
CREATE INDEX IF NOT EXISTS labels_prediction ON labels (project, inference_id);
CREATE TABLE IF NOT EXISTS served_models (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS live_status (project TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""
_JSON_COLUMNS = ("prediction", "probabilities", "label")
#: Predictions per INSERT statement (7 values each: within SQLite's oldest limit of 999 values per statement).
_ROWS_PER_INSERT = 100


@functools.cache
def _insert_predictions(rows: int) -> str:
    return ("INSERT OR REPLACE INTO predictions (id, project, model_version, time, row, prediction, probabilities) "
            "VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows))


#: One encoder for every value: ``json.dumps`` with options builds a new one per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _dumps(value: Any) -> str | None:
    return None if value is None else _COMPACT.encode(value)


class SpoolCapture(CaptureStore):
    """``<folder>/capture.sqlite``: one connection per thread, WAL mode, writers wait up to ``timeout_s``.

    Args:
        folder: The spool folder (created if missing).
        timeout_s: How long a write waits for another writer's lock before it fails.
    """

    def __init__(self, folder: Path, timeout_s: float = 5.0) -> None:
        self.folder = Path(folder)
        self.path = self.folder / SPOOL_FILE
        self.description = f"capture spool {self.path}"
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def _call(self, what: str, fn: Any) -> Any:
        try:
            return fn(self._db())
        except (sqlite3.Error, OSError) as e:
            raise CaptureUnavailable(f"{what} in {self.description} failed: {type(e).__name__}: {e}") from e

    @staticmethod
    def _doc(row: sqlite3.Row) -> dict[str, Any]:
        doc = dict(row)
        doc["_id"] = doc.pop("id")
        doc["row"] = row_of(doc["row"])
        for key in _JSON_COLUMNS:
            if doc.get(key) is not None:
                doc[key] = json.loads(doc[key])
        if doc.get("labelled_at") is None:
            for key in ("label", "labelled_at", "label_source"):
                doc.pop(key, None)
        return doc

    def prepare(self, docs: list[dict[str, Any]]) -> list[Any]:
        return [(d["_id"], d["project"], d.get("model_version"), d["time"], row_bytes(d["row"]),
                 _dumps(d.get("prediction")), _dumps(d.get("probabilities"))) for d in docs]

    def add_prepared(self, prepared: list[Any]) -> None:
        """Rows go in ``_ROWS_PER_INSERT`` at a time, one statement each: ``sqlite3`` releases the GIL around each
        statement's execution and takes it back after, and while the event loop is busy each taking back can wait
        for the loop (``executemany`` did that once per row)."""
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                for start in range(0, len(prepared), _ROWS_PER_INSERT):
                    chunk = prepared[start:start + _ROWS_PER_INSERT]
                    db.execute(_insert_predictions(len(chunk)), [value for row in chunk for value in row])

        if prepared:
            self._call("storing predictions", write)

    def predictions(self, project: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        def read(db: sqlite3.Connection) -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            unique = list(dict.fromkeys(ids))
            for start in range(0, len(unique), 500):
                chunk = unique[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for row in db.execute(f"SELECT * FROM predictions WHERE project = ? AND id IN ({marks})",
                                      [project, *chunk]):
                    found[row["id"]] = self._doc(row)
            return found

        return self._call("reading predictions", read)

    def add_labels(self, project: str, labels: list[tuple[str, Any]], source: str) -> LabelResult:
        def write(db: sqlite3.Connection) -> LabelResult:
            now, replaced = time.time(), 0
            with db:
                db.execute("BEGIN IMMEDIATE")
                for inference_id, label in labels:
                    row = db.execute("SELECT label FROM predictions WHERE id = ?", (inference_id,)).fetchone()
                    previous = json.loads(row["label"]) if row and row["label"] is not None else None
                    replaced += previous is not None
                    doc = _label_doc(project, inference_id, label, previous, now, source)
                    db.execute("INSERT INTO labels (id, inference_id, project, label, previous, time, source) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)", (doc["_id"], inference_id, project, _dumps(label),
                                                                _dumps(previous), now, source))
                    db.execute("UPDATE predictions SET label = ?, labelled_at = ?, label_source = ? WHERE id = ?",
                               (_dumps(label), now, source, inference_id))
            return LabelResult(len(labels), replaced)

        return self._call("storing labels", write)

    def recent(self, project: str, limit: int = 50) -> list[dict[str, Any]]:
        return self._call("reading predictions", lambda db: [self._doc(r) for r in db.execute(
            "SELECT * FROM predictions WHERE project = ? ORDER BY time DESC LIMIT ?", (project, limit))])

    def labelled(self, project: str, version: int | None = None, limit: int | None = None,
                 since: float | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM predictions WHERE project = ? AND labelled_at IS NOT NULL AND labelled_at >= ?"
        args: list[Any] = [project, since or 0]
        if version is not None:
            sql += " AND model_version = ?"
            args.append(version)
        sql += " ORDER BY labelled_at DESC LIMIT ?"
        args.append(limit if limit else -1)
        return self._call("reading labelled predictions", lambda db: [self._doc(r) for r in db.execute(sql, args)])

    def served(self, project: str, version: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        sql = "SELECT * FROM predictions WHERE project = ?" + (" AND model_version = ?" if version is not None else "")
        args = [project, *([version] if version is not None else []), limit]
        return self._call("reading predictions", lambda db: [self._doc(r) for r in db.execute(
            sql + " ORDER BY time DESC LIMIT ?", args)])

    def label_history(self, project: str, inference_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM labels WHERE project = ?" + (" AND inference_id = ?" if inference_id else "")
        args = [project, *([inference_id] if inference_id else [])]

        def read(db: sqlite3.Connection) -> list[dict[str, Any]]:
            out = []
            for row in db.execute(sql + " ORDER BY seq", args):
                doc = dict(row)
                doc["_id"] = doc.pop("id")
                doc.pop("seq")
                doc["label"], doc["previous"] = (json.loads(doc[k]) if doc[k] is not None else None
                                                 for k in ("label", "previous"))
                out.append(doc)
            return out

        return self._call("reading labels", read)

    def prune(self, project: str, keep: int) -> int:
        def delete(db: sqlite3.Connection) -> int:
            with db:
                db.execute("BEGIN IMMEDIATE")
                (total,) = db.execute("SELECT count(*) FROM predictions WHERE project = ?", (project,)).fetchone()
                if total <= keep:
                    return 0
                cursor = db.execute(
                    "DELETE FROM predictions WHERE id IN (SELECT id FROM predictions WHERE project = ? AND "
                    "labelled_at IS NULL ORDER BY time LIMIT ?)", (project, total - keep))
                return cursor.rowcount

        return self._call("pruning predictions", delete)

    def put_model(self, project: str, version: int | None, features: list[str], classes: list[Any] | None,
                  task: str) -> None:
        doc = {"project": project, "version": version, "features": features, "classes": classes, "task": task}
        self._call("storing the served model", lambda db: db.execute(
            "INSERT OR REPLACE INTO served_models (id, doc) VALUES (?, ?)", (f"{project}/{version}", _dumps(doc))))

    def model(self, project: str, version: int | None) -> dict[str, Any] | None:
        row = self._call("reading the served model", lambda db: db.execute(
            "SELECT doc FROM served_models WHERE id = ?", (f"{project}/{version}",)).fetchone())
        return {"_id": f"{project}/{version}", **json.loads(row["doc"])} if row else None

    def put_status(self, project: str, status: dict[str, Any]) -> None:
        self._call("storing the live status", lambda db: db.execute(
            "INSERT OR REPLACE INTO live_status (project, doc) VALUES (?, ?)",
            (project, _dumps({**status, "project": project}))))

    def status(self, project: str) -> dict[str, Any] | None:
        row = self._call("reading the live status", lambda db: db.execute(
            "SELECT doc FROM live_status WHERE project = ?", (project,)).fetchone())
        return {"_id": project, **json.loads(row["doc"])} if row else None

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()


def open_capture(mongodb_uri: str | None, spool: Path | None, timeout_ms: int = 2000) -> CaptureStore | None:
    """MongoDB when a URI is given, else the spool folder when one is given, else ``None`` (capture off).

    Connecting to MongoDB is lazy: an unreachable server shows in the first operation, not here.
    """
    if mongodb_uri:
        import pymongo

        client: Any = pymongo.MongoClient(mongodb_uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
        host = mongodb_uri.split("@")[-1].split("/")[0].split("?")[0]
        return MongoCapture(client.get_default_database(default="mlops"), f"MongoDB {host}")
    if spool is not None:
        return SpoolCapture(spool)
    return None
