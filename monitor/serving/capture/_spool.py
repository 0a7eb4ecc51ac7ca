"""The capture store in a SQLite file, ``<folder>/capture.sqlite``: the spool of a server without MongoDB.

The deploy mounts ``$MLOPS_HOME/capture/<project>/`` as the folder; WAL mode lets every worker, ``mlops monitor``
and ``mlops feedback`` use the file at once.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from ._base import CaptureStore, CaptureUnavailable, LabelResult
from .documents import (
    CapturedPrediction,
    Label,
    LabelRecord,
    LiveStatus,
    NewPrediction,
    ServedModelInfo,
    label_record,
    row_bytes,
    row_of,
    served_model_id,
)

T = TypeVar("T")

SPOOL_FILE = "capture.sqlite"
#: A prediction as one row of the ``predictions`` table: id, project, model_version, time, row, prediction,
#: probabilities (the last two as JSON).
SpoolRow: TypeAlias = tuple[str, str, int | None, float, bytes, str | None, str | None]

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


class SpoolCapture(CaptureStore[SpoolRow]):
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

    def _call(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return fn(self._db())
        except (sqlite3.Error, OSError) as e:
            raise CaptureUnavailable(f"{what} in {self.description} failed: {type(e).__name__}: {e}") from e

    @staticmethod
    def _doc(row: sqlite3.Row) -> CapturedPrediction:
        doc: dict[str, Any] = dict(row)
        doc["_id"] = doc.pop("id")
        doc["row"] = row_of(doc["row"])
        for key in _JSON_COLUMNS:
            if doc.get(key) is not None:
                doc[key] = json.loads(doc[key])
        if doc.get("labelled_at") is None:
            for key in ("label", "labelled_at", "label_source"):
                doc.pop(key, None)
        return doc  # type: ignore[return-value]

    def prepare(self, docs: Sequence[NewPrediction]) -> list[SpoolRow]:
        return [(d["_id"], d["project"], d.get("model_version"), d["time"], row_bytes(d["row"]),
                 _dumps(d.get("prediction")), _dumps(d.get("probabilities"))) for d in docs]

    def add_prepared(self, prepared: list[SpoolRow]) -> None:
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

    def predictions(self, project: str, ids: Sequence[str]) -> dict[str, CapturedPrediction]:
        def read(db: sqlite3.Connection) -> dict[str, CapturedPrediction]:
            found: dict[str, CapturedPrediction] = {}
            unique = list(dict.fromkeys(ids))
            for start in range(0, len(unique), 500):
                chunk = unique[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for row in db.execute(f"SELECT * FROM predictions WHERE project = ? AND id IN ({marks})",
                                      [project, *chunk]):
                    found[row["id"]] = self._doc(row)
            return found

        return self._call("reading predictions", read)

    def add_labels(self, project: str, labels: Sequence[tuple[str, Label]], source: str) -> LabelResult:
        def write(db: sqlite3.Connection) -> LabelResult:
            now, replaced = time.time(), 0
            with db:
                db.execute("BEGIN IMMEDIATE")
                for inference_id, label in labels:
                    row = db.execute("SELECT label FROM predictions WHERE id = ?", (inference_id,)).fetchone()
                    previous = json.loads(row["label"]) if row and row["label"] is not None else None
                    replaced += previous is not None
                    doc = label_record(project, inference_id, label, previous, now, source)
                    db.execute("INSERT INTO labels (id, inference_id, project, label, previous, time, source) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)", (doc["_id"], inference_id, project, _dumps(label),
                                                                _dumps(previous), now, source))
                    db.execute("UPDATE predictions SET label = ?, labelled_at = ?, label_source = ? WHERE id = ?",
                               (_dumps(label), now, source, inference_id))
            return LabelResult(len(labels), replaced)

        return self._call("storing labels", write)

    def recent(self, project: str, limit: int = 50) -> list[CapturedPrediction]:
        return self._call("reading predictions", lambda db: [self._doc(r) for r in db.execute(
            "SELECT * FROM predictions WHERE project = ? ORDER BY time DESC LIMIT ?", (project, limit))])

    def labelled(self, project: str, version: int | None = None, limit: int | None = None,
                 since: float | None = None) -> list[CapturedPrediction]:
        sql = "SELECT * FROM predictions WHERE project = ? AND labelled_at IS NOT NULL AND labelled_at >= ?"
        args: list[object] = [project, since or 0]
        if version is not None:
            sql += " AND model_version = ?"
            args.append(version)
        sql += " ORDER BY labelled_at DESC LIMIT ?"
        args.append(limit if limit else -1)
        return self._call("reading labelled predictions", lambda db: [self._doc(r) for r in db.execute(sql, args)])

    def served(self, project: str, version: int | None = None, limit: int = 1000) -> list[CapturedPrediction]:
        sql = "SELECT * FROM predictions WHERE project = ?" + (" AND model_version = ?" if version is not None else "")
        args = [project, *([version] if version is not None else []), limit]
        return self._call("reading predictions", lambda db: [self._doc(r) for r in db.execute(
            sql + " ORDER BY time DESC LIMIT ?", args)])

    def label_history(self, project: str, inference_id: str | None = None) -> list[LabelRecord]:
        sql = "SELECT * FROM labels WHERE project = ?" + (" AND inference_id = ?" if inference_id else "")
        args = [project, *([inference_id] if inference_id else [])]

        def read(db: sqlite3.Connection) -> list[LabelRecord]:
            out: list[LabelRecord] = []
            for row in db.execute(sql + " ORDER BY seq", args):
                doc: dict[str, Any] = dict(row)
                doc["_id"] = doc.pop("id")
                doc.pop("seq")
                doc["label"], doc["previous"] = (json.loads(doc[k]) if doc[k] is not None else None
                                                 for k in ("label", "previous"))
                out.append(doc)  # type: ignore[arg-type]
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
                return int(cursor.rowcount)

        return self._call("pruning predictions", delete)

    def put_model(self, project: str, version: int | None, features: list[str], classes: list[Label] | None,
                  task: str) -> None:
        doc = {"project": project, "version": version, "features": features, "classes": classes, "task": task}
        self._call("storing the served model", lambda db: db.execute(
            "INSERT OR REPLACE INTO served_models (id, doc) VALUES (?, ?)",
            (served_model_id(project, version), _dumps(doc))))

    def model(self, project: str, version: int | None) -> ServedModelInfo | None:
        key = served_model_id(project, version)
        row = self._call("reading the served model", lambda db: db.execute(
            "SELECT doc FROM served_models WHERE id = ?", (key,)).fetchone())
        return {"_id": key, **json.loads(row["doc"])} if row else None  # type: ignore[typeddict-item]

    def put_status(self, project: str, status: LiveStatus) -> None:
        self._call("storing the live status", lambda db: db.execute(
            "INSERT OR REPLACE INTO live_status (project, doc) VALUES (?, ?)",
            (project, _dumps({**status, "project": project}))))

    def status(self, project: str) -> LiveStatus | None:
        row = self._call("reading the live status", lambda db: db.execute(
            "SELECT doc FROM live_status WHERE project = ?", (project,)).fetchone())
        return {"_id": project, **json.loads(row["doc"])} if row else None

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()


