"""Where a project's rows come from: CSV or Parquet files, or a collection with the pymongo API.

``load_files`` copies files into a collection (what a project's "data dump" script does), idempotently: each
file is recorded by the SHA-256 of its content in the sibling collection ``<name>.files``, and its rows get
``_id`` ``<file hash>:<row number>``, so re-loading a file adds nothing and a load cut short resumes where it
stopped. Missing values are left out of the stored documents.

Rows read back from a collection (or from a Parquet file of text) are typed as a CSV reader types them (``typed``):
the project's missing-value markers (``na_values``) are missing values, and a column that held a marker and
otherwise numbers is numeric, even when the files were loaded without the markers (their text was then stored as it
was, numbers as text included).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from core.errors import DataError

#: ``progress(file, rows_done, rows_total)``, called after each batch.
Progress = Callable[[str, int, int], None]

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
FILES_SUFFIX = "files"


def _kind(path: Path) -> str:
    """``csv``, ``tsv`` or ``parquet``, for an existing file."""
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        kind = "tsv" if ".tsv" in name else "csv"
    elif name.endswith(PARQUET_SUFFIXES):
        kind = "parquet"
    else:
        raise DataError(f"{path}: unsupported file type; use .csv, .csv.gz, .tsv or .parquet", source=str(path))
    if not path.is_file():
        raise DataError(f"{path}: no such file", source=str(path))
    return kind


def read_file(path: str | Path, na_values: Sequence[str] = ()) -> pd.DataFrame:
    """Read one CSV (plain or gzipped) or Parquet file.

    Args:
        path: The file.
        na_values: Extra strings that mean "missing" (pandas' defaults always apply), e.g. ``["na"]``.

    Raises:
        DataError: The file is missing, of an unknown type or cannot be parsed.
    """
    path = Path(path)
    kind = _kind(path)
    try:
        if kind == "parquet":
            frame = typed(pd.read_parquet(path), na_values)  # text columns typed as a CSV reader types them
        else:
            frame = pd.read_csv(path, na_values=list(na_values), sep="\t" if kind == "tsv" else ",",
                                low_memory=False)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise DataError(f"{path}: cannot be read as {kind}: {type(e).__name__}: {e}", source=str(path)) from e
    frame.columns = [str(c) for c in frame.columns]
    return frame


def read_files(paths: Iterable[str | Path], na_values: Sequence[str] = ()) -> pd.DataFrame:
    """Read files that hold the same columns into one frame, in the order given.

    Raises:
        DataError: No file is given, one cannot be read, its columns differ from the first file's, or there is
            no row at all.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("no data file given")
    frames = []
    for path in paths:
        frame = read_file(path, na_values)
        if frames:
            _require_same_columns(list(frames[0].columns), list(frame.columns), path, f"{paths[0].name}")
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if frame.empty:
        raise DataError(f"{', '.join(map(str, paths))}: no data rows", source=str(paths[0]))
    return frame


def _require_same_columns(expected: list[str], got: list[str], path: Path, where: str) -> None:
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    if missing or extra:
        parts = ([f"missing {_names(missing)}"] if missing else []) + ([f"extra {_names(extra)}"] if extra else [])
        raise DataError(f"{path}: its columns differ from {where}: {'; '.join(parts)}",
                        source=str(path), column=(missing or extra)[0])


def _names(columns: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def read_collection(collection: Any, na_values: Sequence[str] = ()) -> pd.DataFrame:
    """Read every document of a collection into a frame (``_id`` dropped, absent fields missing), typed by ``typed``.

    Columns come in the order of the files ``load_files`` put there, then any other field in order of appearance.

    Args:
        collection: A pymongo ``Collection`` or one with its API (montydb's).
        na_values: Strings that mean "missing" (the project's ``na_values``), whether or not the files were loaded
            with them.

    Raises:
        DataError: The collection is empty.
    """
    docs = list(collection.find({}))
    if not docs:
        raise DataError(f"collection '{collection.name}' is empty: load data into it first, e.g. "
                        f"`mlops data load FILE --collection {collection.name}`", source=_where(collection))
    frame = pd.DataFrame.from_records(docs).drop(columns="_id", errors="ignore")
    known: list[str] = []
    for record in sorted(collection[FILES_SUFFIX].find({}), key=lambda r: r.get("loaded", 0)):
        known += [c for c in record.get("columns", []) if c not in known]
    for column in known:
        if column not in frame.columns:  # missing in every row, so stored in none
            frame[column] = np.nan
    order = known + [c for c in frame.columns if c not in known]
    return typed(frame[order], na_values)


def typed(frame: pd.DataFrame, na_values: Sequence[str] = ()) -> pd.DataFrame:
    """Text columns that hold a missing-value marker of ``na_values``, typed as ``pandas.read_csv`` types a file's
    columns: the markers become missing values, and a column whose other values are all numbers, or text that reads
    as a number, becomes numeric. Other columns (no marker; booleans; other text) stay as they are."""
    markers = list(na_values)
    if not markers:
        return frame
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if series.dtype != object or not series.isin(markers).any():
            continue
        series = series.mask(series.isin(markers))
        present = series.dropna()
        if len(present) and not any(isinstance(v, bool) for v in present):
            numbers = pd.to_numeric(present, errors="coerce")
            if int(numbers.notna().sum()) == len(present):
                series = pd.to_numeric(series, errors="coerce")
        out[column] = series
    return out


def _where(collection: Any) -> str:
    return f"mongodb:{collection.name}"


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content; a gzipped file is hashed uncompressed, so re-compressing it changes nothing."""
    path = Path(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    digest = hashlib.sha256()
    try:
        with opener(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot be read: {e}", source=str(path)) from e
    return digest.hexdigest()


class FileLoad(BaseModel):
    """What loading one file did. ``markers``: text that looks like a missing-value marker (see ``likely_markers``),
    with the columns that hold it."""

    path: str
    sha256: str
    rows: int
    inserted: int
    already_loaded: bool
    markers: dict[str, list[str]] = Field(default_factory=dict)


class LoadReport(BaseModel):
    """What ``load_files`` did, file by file."""

    collection: str
    files: list[FileLoad]
    seconds: float

    @property
    def inserted(self) -> int:
        """Documents added by this load (0 when every file was loaded before)."""
        return sum(f.inserted for f in self.files)


def load_files(collection: Any, files: Iterable[str | Path], batch_size: int = 1000,
               na_values: Sequence[str] = (), progress: Progress | None = None) -> LoadReport:
    """Insert the rows of files into a collection, in batches, once per file content.

    A file whose content was loaded before (under any name) is skipped. A load that stopped half-way is resumed:
    rows already stored are not inserted again. Files must hold the same columns as those loaded before.

    Args:
        collection: A pymongo ``Collection`` or one with its API (montydb's).
        files: CSV or Parquet files.
        batch_size: Documents per ``insert_many``.
        na_values: Extra strings that mean "missing", e.g. ``["na"]``; missing values are not stored.
        progress: Called as ``progress(file, rows_done, rows_total)`` after each batch.

    Raises:
        DataError: A file cannot be read or its columns differ from the data already in the collection.
        ValueError: ``batch_size`` is below 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, but got {batch_size=}")
    start = time.perf_counter()
    registry = collection[FILES_SUFFIX]
    paths = [Path(p) for p in files]
    for path in paths:  # a missing or unsupported file stops the load before anything is stored
        _kind(path)
    loads = []
    for path in paths:
        digest = file_digest(path)
        record = registry.find_one({"_id": digest})
        if record is not None and record.get("complete"):
            loads.append(FileLoad(path=str(path), sha256=digest, rows=record["rows"], inserted=0,
                                  already_loaded=True))
            if progress:
                progress(str(path), record["rows"], record["rows"])
            continue
        frame = read_file(path, na_values)
        _require_matching(registry, digest, list(frame.columns), path, collection)
        if record is None:
            registry.insert_one({"_id": digest, "name": path.name, "rows": len(frame),
                                 "columns": list(frame.columns), "loaded": time.time(), "complete": False})
        resumed = record is not None  # a load of this file stopped half-way: some rows are stored
        inserted = _insert_rows(collection, frame, digest, batch_size, str(path), progress, resumed)
        registry.update_one({"_id": digest}, {"$set": {"complete": True, "finished": time.time()}})
        loads.append(FileLoad(path=str(path), sha256=digest, rows=len(frame), inserted=inserted,
                              already_loaded=False, markers=likely_markers(frame)))
    return LoadReport(collection=collection.name, files=loads, seconds=time.perf_counter() - start)


def likely_markers(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Text that probably means "missing": the one word in a text column whose other values are all numbers (e.g.
    ``na`` in 17 APS sensor columns loaded without ``--na-value na``), with the columns that hold it."""
    found: dict[str, list[str]] = {}
    for column in frame.columns:
        series = frame[column]
        if series.dtype != object:
            continue
        present = series.dropna()
        text = present[pd.to_numeric(present, errors="coerce").isna()]
        words = set(map(str, text))
        if len(words) == 1 and len(text) < len(present):
            found.setdefault(words.pop(), []).append(str(column))
    return found


def _require_matching(registry: Any, digest: str, columns: list[str], path: Path, collection: Any) -> None:
    for other in registry.find({}):
        if other["_id"] != digest:
            _require_same_columns(other["columns"], columns, path,
                                  f"{other['name']} already loaded in collection '{collection.name}'")
            return


def _insert_rows(collection: Any, frame: pd.DataFrame, digest: str, batch_size: int, name: str,
                 progress: Progress | None, resumed: bool) -> int:
    prefix = digest[:24]
    stored: set[str] = set()
    if resumed:  # one pass over the ids (montydb answers each ``$in`` query with a full scan)
        stored = {d["_id"] for d in collection.find({}, {"_id": 1}) if str(d["_id"]).startswith(prefix)}
    inserted = 0
    total = len(frame)
    for first in range(0, total, batch_size):
        part = frame.iloc[first:first + batch_size]
        ids = [f"{prefix}:{first + i}" for i in range(len(part))]
        docs = [{"_id": i, **_present(row)} for i, row in zip(ids, part.to_dict("records"), strict=True)
                if i not in stored]
        if docs:
            collection.insert_many(docs)
            inserted += len(docs)
        if progress:
            progress(name, first + len(part), total)
    return inserted


def _present(row: dict[str, Any]) -> dict[str, Any]:
    """The row without its missing values, as plain Python values the database can store."""
    out = {}
    for key, value in row.items():
        if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        elif hasattr(value, "item"):
            value = value.item()
        out[key] = value
    return out
