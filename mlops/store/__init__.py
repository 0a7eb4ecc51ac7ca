"""Run store factory: the embedded store by default, MongoDB when ``MONGODB_URI`` is set."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from mlops.errors import StoreError
from mlops.store._store import FAILED, PASSED, RUNNING, RunStore, new_run_id

__all__ = ["FAILED", "PASSED", "RUNNING", "RunStore", "get_run_store", "new_run_id", "redact_uri"]

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
        home: Folder of the embedded store; default ``$MLOPS_HOME/store``.

    Raises:
        StoreError: MongoDB cannot be reached.
    """
    uri = uri if uri is not None else os.environ.get("MONGODB_URI")
    if uri:
        return _mongo(uri)
    from mlops import paths

    folder = (home or paths.home()) / "store"
    return _embedded(folder)


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
    return RunStore(db, f"MongoDB {safe}")


def _embedded(folder: Path) -> RunStore:
    """montydb on SQLite: an embedded engine with the pymongo API, safe across processes."""
    from montydb import MontyClient, set_storage

    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "monty.storage.cfg").exists():
        set_storage(str(folder), storage="sqlite", use_bson=False)
    client = MontyClient(str(folder))
    return RunStore(client[DB_NAME], f"embedded store {folder}")
