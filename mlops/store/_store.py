"""The run store: runs, trials and models, on any database with the pymongo API."""

from __future__ import annotations

import copy
import functools
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

from mlops.errors import StoreError

RUNNING, PASSED, FAILED = "running", "passed", "failed"
F = TypeVar("F", bound=Callable[..., Any])


def _translated(fn: F) -> F:
    """Turn any database error into one ``StoreError`` naming the operation and the store."""

    @functools.wraps(fn)
    def wrapper(self: RunStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except (StoreError, ValueError):
            raise
        except Exception as e:
            raise StoreError(f"{fn.__name__} failed in {self.description}: {type(e).__name__}: {e}") from e

    return wrapper  # type: ignore[return-value]


def new_run_id() -> str:
    """A sortable, unique run id such as ``20261123-081502-3f9a1c``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class RunStore:
    """Runs, their trials and the models they produced.

    Contract:
    - Every returned record is a copy: changing it never changes the store.
    - A run is created ``running``; ``finish_run`` sets its final status once. A finished
      run is immutable: updating or finishing it again raises ``StoreError``.
    - Trials are numbered from 1 within their run, in the order they were added; a trial
      that failed is stored like any other, with ``status: failed`` and its error.
    - Every write is durable when the call returns, so nothing is lost if the caller dies next.

    Args:
        database: A pymongo ``Database`` or anything with its API (the embedded montydb one).
        description: Where the data lives, safe to print (no credentials).
    """

    def __init__(self, database: Any, description: str) -> None:
        self._db = database
        self.description = description

    # -- runs ---------------------------------------------------------------------------------
    @_translated
    def create_run(self, doc: dict[str, Any]) -> str:
        """Insert a new ``running`` run and return its id."""
        run_id = doc.get("_id") or new_run_id()
        record = {**copy.deepcopy(doc), "_id": run_id, "status": RUNNING, "created": time.time()}
        self._db.runs.insert_one(record)
        return run_id

    @_translated
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run with that id, or ``None``."""
        return self._db.runs.find_one({"_id": run_id})

    @_translated
    def find_runs(self, query: dict[str, Any] | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Runs matching ``query``, newest first."""
        rows = list(self._db.runs.find(query or {}))
        rows.sort(key=lambda r: r.get("created", 0), reverse=True)
        return rows[:limit]

    @_translated
    def update_run(self, run_id: str, fields: dict[str, Any]) -> None:
        """Set fields on a running run.

        Raises:
            StoreError: The run does not exist or is finished.
        """
        self._require_running(run_id)
        self._db.runs.update_one({"_id": run_id}, {"$set": copy.deepcopy(fields)})

    @_translated
    def finish_run(self, run_id: str, status: str, fields: dict[str, Any] | None = None) -> None:
        """Give a running run its final status (``passed`` or ``failed``) and make it immutable."""
        if status not in (PASSED, FAILED):
            raise ValueError(f"status must be '{PASSED}' or '{FAILED}', but got {status=}")
        self._require_running(run_id)
        update = {**copy.deepcopy(fields or {}), "status": status, "finished": time.time()}
        self._db.runs.update_one({"_id": run_id}, {"$set": update})

    def _require_running(self, run_id: str) -> None:
        run = self.get_run(run_id)
        if run is None:
            raise StoreError(f"run {run_id} does not exist in {self.description}")
        if run["status"] != RUNNING:
            raise StoreError(f"run {run_id} is finished ({run['status']}) and cannot change")

    # -- trials -------------------------------------------------------------------------------
    @_translated
    def add_trial(self, run_id: str, doc: dict[str, Any]) -> int:
        """Store a trial of a running run and return its number (1, 2, ...)."""
        self._require_running(run_id)
        number = self._db.trials.count_documents({"run_id": run_id}) + 1
        record = {**copy.deepcopy(doc), "_id": f"{run_id}/{number}", "run_id": run_id, "number": number}
        self._db.trials.insert_one(record)
        return number

    @_translated
    def trials(self, run_id: str) -> list[dict[str, Any]]:
        """The run's trials in order."""
        rows = list(self._db.trials.find({"run_id": run_id}))
        return sorted(rows, key=lambda t: t["number"])

    # -- models -------------------------------------------------------------------------------
    @_translated
    def register_model(self, doc: dict[str, Any]) -> int:
        """Record a model of a project and return its version (1, 2, ... per project)."""
        project = doc["project"]
        version = self._db.models.count_documents({"project": project}) + 1
        record = {**copy.deepcopy(doc), "_id": f"{project}/{version}", "version": version,
                  "created": time.time()}
        self._db.models.insert_one(record)
        return version

    @_translated
    def models(self, project: str) -> list[dict[str, Any]]:
        """The project's models, newest version first."""
        rows = list(self._db.models.find({"project": project}))
        return sorted(rows, key=lambda m: m["version"], reverse=True)

    # -- events (mails, watchdog incidents) ---------------------------------------------------
    @_translated
    def add_event(self, doc: dict[str, Any]) -> None:
        """Append an event record (``kind`` says what: ``mail``, ``restart``, ...)."""
        self._db.events.insert_one({**copy.deepcopy(doc), "time": time.time()})

    @_translated
    def events(self, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Events matching ``query``, oldest first."""
        return sorted(self._db.events.find(query or {}), key=lambda e: e["time"])

    def close(self) -> None:
        """Release the client."""
        client = getattr(self._db, "client", None)
        if client is not None:
            client.close()
