"""The run store on any database with the pymongo API: MongoDB, or the embedded montydb engine."""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from core.errors import DISK_FULL, AliasMoved, StoreError, disk_fault
from core.records import AliasMove, Decision, Event, ModelVersion, ProjectRecord, Run, RunStatus, Trial, TrialStatus
from core.store._base import ANY_VERSION, RunStore, new_run_id, worker_gone

F = TypeVar("F", bound=Callable[..., Any])
#: The store's own collections: data cannot be loaded into them.
OWN_COLLECTIONS = ("runs", "trials", "models", "events", "aliases", "alias_history", "decisions", "locks", "files",
                   "projects")
#: Written by the serving units' prediction capture when ``MONGODB_URI`` is set: captured predictions, users'
#: labels (append-only), what each served model version looks like, and the monitor's latest verdict. The
#: documents are typed once, in ``monitor/serving/capture/documents.py`` (the serving image cannot import core).
CAPTURE_COLLECTIONS = ("predictions", "labels", "served_models", "live_status")
#: How often an insert may collide with another writer's before giving up (never reached in practice).
MAX_ALLOCATION_TRIES = 1000
#: Bytes of a file per stored chunk (MongoDB documents stay far under their 16 MB limit once base64-encoded).
FILE_CHUNK_BYTES = 4 * 1024 * 1024


def _translated(fn: F) -> F:
    """Turn any database error into one ``StoreError`` naming the operation and the store."""

    @functools.wraps(fn)
    def wrapper(self: PymongoRunStore, *args: Any, **kwargs: Any) -> Any:
        try:
            with self._serial:
                return fn(self, *args, **kwargs)
        except (StoreError, AliasMoved, ValueError):
            raise
        except Exception as e:
            raise StoreError(store_failure(fn.__name__, self.description, e, self.folder)) from e

    return wrapper  # type: ignore[return-value]


#: Below this many free bytes on an embedded store's disk, its write errors are put down to a full disk (SQLite
#: says "disk I/O error" when its write-ahead log cannot grow).
LOW_SPACE_BYTES = 1 << 20


def store_failure(operation: str, description: str, error: Exception, folder: Path | None = None) -> str:
    """One line for a database error: a full disk and a read-only store say what to do; what is stored stays.

    Args:
        operation: The store method that failed.
        description: The store, safe to print.
        error: What the database raised.
        folder: An embedded store's folder (its free space tells a full disk).
    """
    text = f"{type(error).__name__}: {error}"
    low = folder is not None and folder.is_dir() and shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    if low or disk_fault(error) or "disk is full" in text or "readonly database" in text or "read-only" in text:
        full = low or "disk is full" in text or (isinstance(error, OSError) and error.errno in DISK_FULL)
        what = "disk full" if full else "cannot write"
        return (f"{what}: {operation} failed in {description} ({text}); "
                + ("free space on its disk" if full else "MLOPS_HOME must be a writable folder")
                + " (what is stored is kept)")
    return f"{operation} failed in {description}: {text}"


def _is_duplicate(error: BaseException) -> bool:
    """A duplicate ``_id`` from pymongo or montydb (each has its own ``DuplicateKeyError``)."""
    return type(error).__name__ == "DuplicateKeyError"


def _plain(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    return copy.deepcopy(doc) if doc is not None else None


class PymongoRunStore(RunStore):
    """The store contract on a pymongo ``Database`` (or the embedded engine's equivalent).

    Numbers (trials per run, versions per project) are allocated by inserting the next ``_id`` and
    retrying on a duplicate: the database's own unique ``_id`` makes the allocation atomic for any number
    of writers, on MongoDB and on the embedded SQLite engine alike.

    Args:
        database: A pymongo ``Database`` or anything with its API.
        description: Where the data lives, safe to print (no credentials).
        one_thread_at_a_time: Serialize the calls of this process's threads (montydb's SQLite engine keeps one
            connection for whichever thread connected last, so two threads at once break each other's calls;
            pymongo is thread-safe and needs no such lock).
        folder: The embedded engine's folder (``None`` for MongoDB): a failed write on a full disk says so.
    """

    def __init__(self, database: Any, description: str, one_thread_at_a_time: bool = False,
                 folder: Path | None = None) -> None:
        self._db = database
        self.description = description
        self.folder = folder
        self._serial: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if one_thread_at_a_time else contextlib.nullcontext())

    def _insert_numbered(self, collection: Any, doc: dict[str, Any], key: str, first: int,
                         make_id: Callable[[int], str]) -> int:
        number = first
        for _ in range(MAX_ALLOCATION_TRIES):
            try:
                collection.insert_one({**doc, "_id": make_id(number), key: number})
                return number
            except Exception as e:
                if not _is_duplicate(e):
                    raise
                number += 1
        raise StoreError(f"could not allocate a {key} in {self.description} after {MAX_ALLOCATION_TRIES} tries")

    # -- runs --------------------------------------------------------------------------------------
    @_translated
    def create_run(self, run: Run) -> Run:
        run = run.model_copy(update={"id": run.id or new_run_id(), "status": RunStatus.RUNNING})
        self._db.runs.insert_one(run.to_doc())
        return run

    @_translated
    def get_run(self, run_id: str) -> Run | None:
        doc = self._db.runs.find_one({"_id": run_id})
        return self.reap_run(Run.from_doc(doc) if doc else None)

    @_translated
    def find_runs(self, project: str | None = None, status: RunStatus | None = None, path: str | None = None,
                  limit: int = 20) -> list[Run]:
        query: dict[str, Any] = {}
        if project is not None:
            query["project"] = project
        unfinished = (str(RunStatus.RUNNING), str(RunStatus.INTERRUPTED))
        if status is not None:  # a running run may read as interrupted: both are looked at, then filtered
            query["status"] = {"$in": list(unfinished)} if str(status) in unfinished else str(status)
        if path is not None:
            query["path"] = path
        rows = list(self._db.runs.find(query))
        rows.sort(key=lambda r: r.get("created", 0), reverse=True)
        runs = []
        for row in rows:
            run = self.reap_run(Run.from_doc(row))
            if run is not None and (status is None or run.status is status):
                runs.append(run)
                if len(runs) == limit:
                    break
        return runs

    def _require_running(self, run_id: str, or_interrupted: bool = False) -> None:
        run = self._db.runs.find_one({"_id": run_id}, {"status": 1})
        if run is None:
            raise StoreError(f"run {run_id} does not exist in {self.description}")
        if run["status"] == RunStatus.INTERRUPTED and not or_interrupted:
            raise StoreError(f"run {run_id} was interrupted (its driver is gone) and cannot change until it is "
                             "continued")
        if run["status"] not in (RunStatus.RUNNING, RunStatus.INTERRUPTED):
            raise StoreError(f"run {run_id} is finished ({run['status']}) and cannot change")

    @_translated
    def update_run(self, run_id: str, **fields: Any) -> None:
        self._require_running(run_id)
        self._db.runs.update_one({"_id": run_id, "status": str(RunStatus.RUNNING)},
                                 {"$set": _dumped(fields)})

    @_translated
    def finish_run(self, run_id: str, status: RunStatus, **fields: Any) -> None:
        if not status.finished:
            raise ValueError(f"status must be 'passed', 'failed' or 'aborted', but got status={str(status)!r}")
        self._require_running(run_id, or_interrupted=True)
        update = {**_dumped(fields), "status": str(status), "finished": time.time()}
        unfinished = [str(RunStatus.RUNNING), str(RunStatus.INTERRUPTED)]
        result = self._db.runs.update_one({"_id": run_id, "status": {"$in": unfinished}}, {"$set": update})
        if result.matched_count == 0:
            raise StoreError(f"run {run_id} was finished by another process meanwhile")

    @_translated
    def _set_run_status_if(self, run_id: str, expected: RunStatus, new: RunStatus,
                           where: dict[str, Any] | None = None, **fields: Any) -> bool:
        result = self._db.runs.update_one({**(where or {}), "_id": run_id, "status": str(expected)},
                                          {"$set": {**_dumped(fields), "status": str(new)}})
        return result.matched_count == 1

    # -- trials ------------------------------------------------------------------------------------
    @_translated
    def create_trial(self, run_id: str, trial: Trial) -> Trial:
        self._require_running(run_id)
        now = time.time()
        doc = trial.model_copy(update={"run_id": run_id, "status": TrialStatus.RUNNING,
                                       "started_at": trial.started_at or now, "heartbeat": now}).to_doc()
        first = self._db.trials.count_documents({"run_id": run_id}) + 1
        number = self._insert_numbered(self._db.trials, doc, "number", first, lambda n: f"{run_id}/{n}")
        return Trial.from_doc({**doc, "_id": f"{run_id}/{number}", "number": number})

    @_translated
    def update_trial(self, run_id: str, number: int, **fields: Any) -> None:
        self._db.trials.update_one({"_id": f"{run_id}/{number}"}, {"$set": _dumped(fields)})

    @_translated
    def _set_trial_status_if(self, run_id: str, number: int, expected: TrialStatus, new: TrialStatus,
                             **fields: Any) -> bool:
        result = self._db.trials.update_one({"_id": f"{run_id}/{number}", "status": str(expected)},
                                            {"$set": {**_dumped(fields), "status": str(new)}})
        return result.matched_count == 1

    @_translated
    def trials(self, run_id: str) -> list[Trial]:
        rows = sorted(self._db.trials.find({"run_id": run_id}), key=lambda t: t["number"])
        return [Trial.from_doc(r) for r in rows]

    # -- locks -------------------------------------------------------------------------------------
    @_translated
    def _take_lock(self, name: str, token: str, expires: float) -> bool:
        try:
            self._db.locks.insert_one({"_id": name, "token": token, "expires": expires})
            return True
        except Exception as e:
            if not _is_duplicate(e):
                raise
        held = self._db.locks.find_one({"_id": name})
        if held and (held["expires"] < time.time() or worker_gone(held["token"].rsplit(":", 1)[0])):
            self._db.locks.delete_one({"_id": name, "token": held["token"]})  # only that holder's lock
        return False

    @_translated
    def _release_lock(self, name: str, token: str) -> None:
        self._db.locks.delete_one({"_id": name, "token": token})

    # -- files -------------------------------------------------------------------------------------
    @_translated
    def put_file(self, name: str, data: bytes) -> None:
        """Chunks of a new generation first, then the head that points at them, then the old chunks go."""
        generation = secrets.token_hex(6)
        chunks = [data[i:i + FILE_CHUNK_BYTES] for i in range(0, len(data), FILE_CHUNK_BYTES)] or [b""]
        for i, chunk in enumerate(chunks):
            self._db.files.insert_one({"_id": f"{name}#{generation}#{i}", "file": name, "generation": generation,
                                       "i": i, "data": base64.b64encode(chunk).decode("ascii")})
        old = self._db.files.find_one({"_id": name})
        self._db.files.replace_one({"_id": name}, {"_id": name, "file": name, "head": True, "generation": generation,
                                                   "chunks": len(chunks), "size": len(data),
                                                   "time": time.time()}, upsert=True)
        if old:
            self._db.files.delete_many({"file": name, "generation": old["generation"]})

    @_translated
    def get_file(self, name: str) -> bytes | None:
        for _ in range(3):  # a writer replacing the file meanwhile removes the chunks read here: read the new ones
            head = self._db.files.find_one({"_id": name})
            if head is None:
                return None
            parts = [self._db.files.find_one({"_id": f"{name}#{head['generation']}#{i}"})
                     for i in range(head["chunks"])]
            if all(p is not None for p in parts):
                return b"".join(base64.b64decode(p["data"]) for p in parts)  # type: ignore[index]
        raise StoreError(f"the file {name} in {self.description} keeps changing while it is read")

    # -- model versions and aliases ----------------------------------------------------------------
    @_translated
    def create_model_version(self, version: ModelVersion) -> ModelVersion:
        project = version.project
        doc = version.to_doc()
        first = self._db.models.count_documents({"project": project}) + 1
        number = self._insert_numbered(self._db.models, doc, "version", first, lambda n: f"{project}/{n}")
        return ModelVersion.from_doc({**doc, "_id": f"{project}/{number}", "version": number})

    @_translated
    def update_model_version(self, project: str, version: int, **fields: Any) -> None:
        self._db.models.update_one({"_id": f"{project}/{version}"}, {"$set": _dumped(fields)})

    @_translated
    def model_versions(self, project: str) -> list[ModelVersion]:
        rows = sorted(self._db.models.find({"project": project}), key=lambda m: m["version"], reverse=True)
        return [ModelVersion.from_doc(r) for r in rows]

    @_translated
    def move_alias(self, move: AliasMove, expected: int | object | None = ANY_VERSION) -> None:
        key = f"{move.project}/{move.alias}"  # in the replacement too: montydb's upsert ignores the filter's _id
        doc = {"_id": key, "project": move.project, "alias": move.alias, "version": move.version}
        if expected is ANY_VERSION:
            self._db.aliases.replace_one({"_id": key}, doc, upsert=True)
        elif expected is None:  # the first holder: the unique _id lets one insert win
            try:
                self._db.aliases.insert_one(doc)
            except Exception as e:
                if not _is_duplicate(e):
                    raise
                self._alias_moved(move, expected)
        elif self._db.aliases.update_one({"_id": key, "version": expected},
                                         {"$set": {"version": move.version}}).matched_count != 1:
            self._alias_moved(move, expected)
        self._db.alias_history.insert_one(move.to_doc())

    def _alias_moved(self, move: AliasMove, expected: Any) -> None:
        now = self._db.aliases.find_one({"_id": f"{move.project}/{move.alias}"})
        raise AliasMoved(move.project, move.alias, expected, now["version"] if now else None)

    @_translated
    def aliases(self, project: str) -> dict[str, int]:
        return {d["alias"]: d["version"] for d in self._db.aliases.find({"project": project})}

    @_translated
    def alias_history(self, project: str, alias: str | None = None) -> list[AliasMove]:
        query = {"project": project, **({"alias": alias} if alias else {})}
        rows = sorted(self._db.alias_history.find(query), key=lambda m: m["time"])
        return [AliasMove.from_doc(r) for r in rows]

    # -- project identities --------------------------------------------------------------------------
    @_translated
    def bind_project(self, record: ProjectRecord, replace: bool = False) -> ProjectRecord:
        doc = record.to_doc()
        if replace:
            self._db.projects.replace_one({"_id": record.name}, doc, upsert=True)
            return record
        try:
            self._db.projects.insert_one(doc)
        except Exception as e:
            if not _is_duplicate(e):
                raise
            return ProjectRecord.from_doc(self._db.projects.find_one({"_id": record.name}))
        return record

    @_translated
    def projects(self, name: str | None = None) -> list[ProjectRecord]:
        rows = self._db.projects.find({"_id": name} if name is not None else {})
        return sorted((ProjectRecord.from_doc(r) for r in rows), key=lambda r: r.name)

    # -- gate decisions ----------------------------------------------------------------------------
    @_translated
    def record_decision(self, decision: Decision) -> Decision:
        doc = decision.model_copy(update={"id": decision.run_id}).to_doc()
        try:
            self._db.decisions.insert_one(doc)
        except Exception as e:
            if not _is_duplicate(e):
                raise
            return Decision.from_doc(self._db.decisions.find_one({"_id": decision.run_id}))
        return Decision.from_doc(doc)

    @_translated
    def decision(self, run_id: str) -> Decision | None:
        doc = self._db.decisions.find_one({"_id": run_id})
        return Decision.from_doc(doc) if doc else None

    # -- data ----------------------------------------------------------------------------------------
    def data_collection(self, name: str) -> Any:
        base = name.split(".", 1)[0]
        reserved = (*OWN_COLLECTIONS, *CAPTURE_COLLECTIONS)
        if not name or base in reserved or name.startswith("system.") or "$" in name or "\0" in name:
            raise StoreError(f"'{name}' cannot hold data: it is empty, one of the store's own collections "
                             f"({', '.join(reserved)}) or not a valid collection name; choose another name")
        return self._db[name]

    # -- events ------------------------------------------------------------------------------------
    @_translated
    def add_event(self, event: Event) -> None:
        self._db.events.insert_one(event.to_doc())

    @_translated
    def events(self, type: str | None = None, **match: Any) -> list[Event]:
        query = {**({"type": type} if type else {}), **match}
        rows = []
        for doc in self._db.events.find(query):
            doc = dict(doc)
            doc.pop("_id", None)
            rows.append(doc)
        rows.sort(key=lambda e: e["time"])
        return [Event.from_doc(r) for r in rows]

    def close(self) -> None:
        client = getattr(self._db, "client", None)
        if client is not None:
            client.close()


def _dumped(fields: dict[str, Any]) -> dict[str, Any]:
    """Field values as the store keeps them (records and enums as plain JSON values)."""
    out = {}
    for key, value in fields.items():
        if hasattr(value, "to_doc"):
            value = value.to_doc()
        elif hasattr(value, "value") and isinstance(value, str):  # StrEnum
            value = str(value)
        out[key] = copy.deepcopy(value)
    return out
