"""Where captured predictions and users' labels live: MongoDB (the run store's database) or a SQLite spool.

Standard library plus pymongo only, so that the tool (``mlops monitor``, ``mlops feedback``, ``mlops retrain``)
reads the same data through this package as the server writes, without FastAPI.

- ``CaptureStore`` (``_base.py``): the contract, written in its docstring, that both stores keep.
- ``documents.py``: the typed documents (``NewPrediction`` in, ``CapturedPrediction``, ``LabelRecord``,
  ``ServedModelInfo``, ``LiveStatus`` out) and how a row is kept.
- ``MongoCapture`` (``_mongo.py``): collections of the run store's database, with ``MONGODB_URI``.
- ``SpoolCapture`` (``_spool.py``): tables of ``<folder>/capture.sqlite`` without it (the deploy mounts
  ``$MLOPS_HOME/capture/<project>/`` there).
- ``open_capture``: the one place that picks a store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._base import DEFAULT_RETENTION, CaptureStore, CaptureUnavailable, LabelResult
from ._mongo import MongoCapture
from ._spool import SPOOL_FILE, SpoolCapture
from .documents import (
    CapturedPrediction,
    Label,
    LabelRecord,
    LiveStatus,
    NewPrediction,
    Output,
    Row,
    ServedModelInfo,
    clean_row,
    row_bytes,
    row_of,
)

__all__ = [
    "DEFAULT_RETENTION",
    "SPOOL_FILE",
    "CaptureStore",
    "CaptureUnavailable",
    "CapturedPrediction",
    "Label",
    "LabelRecord",
    "LabelResult",
    "LiveStatus",
    "MongoCapture",
    "NewPrediction",
    "Output",
    "Row",
    "ServedModelInfo",
    "SpoolCapture",
    "clean_row",
    "open_capture",
    "row_bytes",
    "row_of",
]


def open_capture(mongodb_uri: str | None, spool: Path | None, timeout_ms: int = 2000) -> CaptureStore[Any] | None:
    """MongoDB when a URI is given, else the spool folder when one is given, else ``None`` (capture off).

    Connecting to MongoDB is lazy: an unreachable server shows in the first operation, not here.

    Args:
        mongodb_uri: ``MONGODB_URI``, or ``None``/empty for none.
        spool: The spool folder, or ``None`` for none.
        timeout_ms: How long MongoDB operations wait for the server.
    """
    if mongodb_uri:
        import pymongo

        client: Any = pymongo.MongoClient(mongodb_uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
        host = mongodb_uri.split("@")[-1].split("/")[0].split("?")[0]
        return MongoCapture(client.get_default_database(default="mlops"), f"MongoDB {host}")
    if spool is not None:
        return SpoolCapture(spool)
    return None
