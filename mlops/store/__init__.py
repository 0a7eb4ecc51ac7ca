"""The run store: the contract (``RunStore``) and a factory that opens the embedded store or MongoDB."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from mlops.errors import StoreError
from mlops.store._base import ANY_VERSION, HEARTBEAT_GRACE_S, RunStore, new_run_id, this_worker, worker_gone
from mlops.store._pymongo import OWN_COLLECTIONS, PymongoRunStore

__all__ = ["ANY_VERSION", "HEARTBEAT_GRACE_S", "PymongoRunStore", "RunStore", "get_run_store", "new_run_id",
           "redact_uri", "this_worker", "worker_gone"]

DB_NAME = "mlops"


def redact_uri(uri: str) -> str:
    """The URI without its password, safe to print."""
    parts = urlsplit(uri)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return uri


def get_run_store(uri: str | None = None, home: Path | None = None) -> RunStore:
    """Open the run store.

    Args:
        uri: A MongoDB URI; default ``$MONGODB_URI``. Without one, the embedded store is used.
        home: Folder of the embedded store's parent; default ``$MLOPS_HOME``.

    Raises:
        StoreError: MongoDB cannot be reached.
    """
    uri = uri if uri is not None else os.environ.get("MONGODB_URI")
    if uri:
        return _mongo(uri)
    from mlops import paths

    return _embedded((home or paths.home()) / "store")


def _mongo(uri: str) -> RunStore:
    import pymongo
    from pymongo.errors import PyMongoError

    safe = redact_uri(uri)
    try:
        client: pymongo.MongoClient = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        client.admin.command("ping")
        db = client.get_default_database(default=DB_NAME)
    except PyMongoError as e:
        raise StoreError(f"cannot reach MongoDB at {safe}: {e}; check MONGODB_URI") from e
    return PymongoRunStore(db, f"MongoDB {safe}")


#: The collections of the store (created up front in the embedded store; see ``_embedded``).
COLLECTIONS = OWN_COLLECTIONS


def _embedded(folder: Path) -> RunStore:
    """montydb on SQLite: an embedded engine with the pymongo API, safe across processes.

    montydb creates a collection's SQLite file on its first write, and two processes writing a new
    collection at once can see the file before its table; so every collection is created here, once,
    under a file lock.
    """
    import fcntl

    from montydb import MontyClient, set_storage

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "monty.storage.cfg").exists():
            set_storage(str(folder), storage="sqlite", use_bson=False)
        client = MontyClient(str(folder))
        db = client[DB_NAME]
        existing = set(db.list_collection_names())
        for name in COLLECTIONS:
            if name not in existing:
                db.create_collection(name)
    return PymongoRunStore(db, f"embedded store {folder}", one_thread_at_a_time=True)
