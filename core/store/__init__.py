"""The run store: the contract (``RunStore``) and a factory that opens the embedded store or MongoDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core import settings
from core.errors import StoreError, disk_fault
from core.store._base import (
    ANY_VERSION,
    HEARTBEAT_GRACE_S,
    RunStore,
    driver_gone,
    new_run_id,
    this_worker,
    worker_gone,
)
from core.store._pymongo import OWN_COLLECTIONS, PymongoRunStore, store_failure

__all__ = ["ANY_VERSION", "HEARTBEAT_GRACE_S", "PymongoRunStore", "RunStore", "driver_gone", "get_run_store",
           "new_run_id",
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
    uri = uri if uri is not None else settings.MONGODB_URI.get()
    if uri:
        return _mongo(uri)
    from core import paths

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
    description = f"embedded store {folder}"
    damaged = _unreadable_config(folder)
    if damaged:
        raise StoreError(damaged)
    try:
        db = _open_embedded(folder)
    except OSError as e:
        raise StoreError(f"cannot open the {description}: {disk_fault(e) or e}") from e
    except Exception as e:  # montydb has errors of its own
        raise StoreError(_unreadable_config(folder) or store_failure("opening", description, e, folder)) from e
    return PymongoRunStore(db, description, one_thread_at_a_time=True, folder=folder)


def _open_embedded(folder: Path) -> Any:
    import fcntl

    from montydb import MontyClient, set_storage

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ((folder / STORAGE_CONFIG).exists() and (folder / STORAGE_IDENT).exists()):  # montydb would pick
            # its default engine for a missing one, hiding the stored runs
            set_storage(str(folder), storage="sqlite", use_bson=False)
        client = MontyClient(str(folder))
        db = client[DB_NAME]
        existing = set(db.list_collection_names())
        for name in COLLECTIONS:
            if name not in existing:
                db.create_collection(name)
    return db


#: The embedded store's configuration file and the file naming its engine (both written by montydb).
STORAGE_CONFIG = "monty.storage.cfg"
STORAGE_IDENT = ".monty.storage"


def _unreadable_config(folder: Path) -> str:
    """What to do when the embedded store's configuration files are damaged, or ``""`` when they are fine. They
    only hold what mlops chose (SQLite, no BSON): removed, they are written again as they were, and the stored
    data (the SQLite files beside them) is kept."""
    import configparser

    config, ident = folder / STORAGE_CONFIG, folder / STORAGE_IDENT
    fix = "remove it: mlops writes it again as it was, and the runs stored beside it are kept"
    try:
        parsed = configparser.ConfigParser()
        parsed.read(config, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0]
        return f"{config} is damaged ({type(e).__name__}: {first}); {fix}"
    if parsed.sections() and "sqlite" not in parsed.sections():
        return f"{config} is not the embedded store's configuration (no [sqlite] section); {fix}"
    if parsed.has_section("sqlite") and parsed["sqlite"].get("use_bson", "").strip() not in ("", "False", "0"):
        return f"{config} asks for BSON, which the stored runs are not written in; {fix}"
    if ident.is_file() and ident.read_text(encoding="utf-8", errors="replace").strip() != "sqlite":
        return f"{ident} does not name the sqlite engine; {fix}"
    return ""
