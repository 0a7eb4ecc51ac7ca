"""Snapshots: the rows a run used, their content hash and a seeded, stratified train/validation/test split.

The content hash ignores row order, column order and how numbers are typed (``int64`` from a file and
``float64`` from a collection with missing values give the same hash), so the same data read from files or from
a collection is one snapshot. Rows are put in a canonical order (by row hash) before splitting, so the split
depends only on the content, the label, the ratios and the seed. A snapshot is written to
``<root>/<id>/`` where ``id`` hashes all four: two runs on the same data with the same split share one folder.

A snapshot taken with ``keep=`` an earlier one (the production model's) leaves every row that earlier snapshot
had in the split it had there, and splits only the new rows (stratified among themselves): a row never moves
from one model's test split into the next one's training split, so two models can be compared on test rows
that neither was trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from core.data._columns import Task, class_names, column_kind, label_task, text_values
from core.errors import DataError

SPLITS = ("train", "validation", "test")
SUMMARY_FILE = "snapshot.json"
HASH_FORMAT = 1


class SplitRatios(BaseModel):
    """Shares of the rows for training, validation and test; they must add up to 1 and train must be above 0."""

    model_config = ConfigDict(frozen=True)

    train: float = 0.7
    validation: float = 0.15
    test: float = 0.15

    @model_validator(mode="after")
    def _check(self) -> SplitRatios:
        for name in SPLITS:
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"split ratio {name} must be between 0 and 1, but got {name}={value}")
        if self.train <= 0:
            raise ValueError(f"split ratio train must be above 0, but got train={self.train}")
        total = self.train + self.validation + self.test
        if abs(total - 1) > 1e-6:
            raise ValueError(f"split ratios must add up to 1, but train+validation+test={total:g}")
        return self


class SplitCounts(BaseModel):
    """Rows of one split and, for classification, rows per class."""

    rows: int
    classes: dict[str, int]


class SnapshotSummary(BaseModel):
    """What a run or a model version names: which data, which split, how many rows of each class.

    Attributes:
        id: Hash of the content, label, task, ratios and seed; the snapshot's folder name.
        content_hash: SHA-256 of the data alone (see ``content_hash``).
        source: Where the rows were read from when the snapshot was first written.
    """

    id: str
    content_hash: str
    label: str
    task: Task
    rows: int
    columns: list[str]
    ratios: SplitRatios
    seed: int
    splits: dict[str, SplitCounts]
    classes: dict[str, int]
    source: str = ""
    created: float
    #: The earlier snapshot whose rows kept their split (``keep=``, when that changed the split), and how many
    #: rows did.
    kept_from: str = ""
    kept_rows: int = 0


@dataclass
class Snapshot:
    """A summary and the three splits (``validation`` or ``test`` may have no row when its ratio is 0)."""

    summary: SnapshotSummary
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    @property
    def frame(self) -> pd.DataFrame:
        """All rows: train, then validation, then test."""
        return pd.concat([self.train, self.validation, self.test], ignore_index=True)

    def split(self, name: Literal["train", "validation", "test"]) -> pd.DataFrame:
        """One split by name."""
        return getattr(self, name)


def _canonical_columns(frame: pd.DataFrame, kinds: dict[str, str] | None = None
                       ) -> tuple[list[tuple[str, str]], pd.DataFrame]:
    """Columns sorted by name with one representation per kind: numbers as float64, categories as text.

    ``kinds`` forces a column's kind (to hash rows of two frames alike, whatever values each happens to hold).
    """
    header = []
    data = {}
    for name in sorted(frame.columns, key=str):
        series = frame[name]
        kind = (kinds or {}).get(str(name)) or column_kind(series) or "empty"
        if kind == "number":
            values = series.to_numpy(dtype="float64", na_value=np.nan) + 0.0  # -0.0 -> 0.0
            values[np.isnan(values)] = np.nan  # one NaN bit pattern
            data[str(name)] = values
        elif kind == "datetime":
            data[str(name)] = text_values(pd.to_datetime(series, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        elif kind == "category":
            data[str(name)] = text_values(series)
        else:
            data[str(name)] = np.zeros(len(series))
        header.append((str(name), kind))
    return header, pd.DataFrame(data, index=pd.RangeIndex(len(frame)))


def _row_hashes(frame: pd.DataFrame, kinds: dict[str, str] | None = None
                ) -> tuple[list[tuple[str, str]], np.ndarray]:
    header, canonical = _canonical_columns(frame, kinds)
    hashes = pd.util.hash_pandas_object(canonical, index=False).to_numpy(dtype="<u8")
    return header, hashes


def content_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's content, independent of row order, column order and numeric dtypes.

    Two frames get the same hash when they hold the same multiset of rows over the same named columns, each column
    of the same kind (number, category, datetime) with equal values; ``1`` and ``1.0`` are equal, ``"1"`` is not.
    """
    return _digest(*_row_hashes(frame))


def _digest(header: list[tuple[str, str]], hashes: np.ndarray) -> str:
    digest = hashlib.sha256(json.dumps([HASH_FORMAT, header]).encode())
    digest.update(np.sort(hashes).tobytes())
    return digest.hexdigest()


def take_snapshot(frame: pd.DataFrame, label: str, ratios: SplitRatios | None = None, seed: int = 0,
                  task: Task | None = None, source: str = "", keep: Snapshot | None = None) -> Snapshot:
    """Fix the rows of a run and split them.

    For classification the split is stratified: in each class the rows are shuffled with ``seed`` and shared out by
    the ratios (rounded), so every split keeps the class balance and a class with very few rows still lands in
    train. For regression the rows are shuffled and shared out as one group.

    Args:
        frame: The rows, e.g. from ``read_files`` or ``read_collection``.
        label: The column to predict.
        ratios: Train/validation/test shares; default 0.7/0.15/0.15.
        seed: Seed of the shuffle.
        task: ``classification`` or ``regression``; default: inferred from the label (see ``label_task``).
        source: Where the rows come from (a file list or ``mongodb:<collection>``), kept in the summary.
        keep: An earlier snapshot: its rows keep their split there; only the other rows are split.

    Raises:
        DataError: There is no row, the label column is missing, or some rows have no label.
    """
    ratios = ratios or SplitRatios()
    where = source or None
    if frame.empty:
        raise DataError(f"{source or 'the data'}: no rows to take a snapshot of", source=where)
    if label not in frame.columns:
        raise DataError(f"label column '{label}' is missing from {source or 'the data'}; columns are "
                        f"{', '.join(map(str, list(frame.columns)[:8]))}...", source=where, column=label)
    missing = int(frame[label].isna().sum())
    if missing:
        raise DataError(f"label column '{label}' has no value in {missing} of {len(frame)} rows; fill or drop them",
                        source=where, column=label)
    frame = frame.rename(columns=str)
    task = task or label_task(frame[label])
    header, hashes = _row_hashes(frame)
    data_hash = _digest(header, hashes)
    ordered = frame.iloc[np.argsort(hashes, kind="stable")].reset_index(drop=True)

    groups = class_names(ordered[label]) if task == "classification" else pd.Series("", index=ordered.index)
    assignment = _stratified_assignment(groups.to_numpy(), ratios, seed)
    kept_rows, kept_from = 0, ""
    if keep is not None:
        kept = _kept_assignment(ordered, keep)
        new = kept < 0
        kept[new] = _stratified_assignment(groups.to_numpy()[new], ratios, seed)
        if not np.array_equal(kept, assignment):  # the same split as a fresh one (the same rows): the same id
            assignment, kept_from, kept_rows = kept, keep.summary.id, int((~new).sum())
    parts = {name: ordered[assignment == i].reset_index(drop=True) for i, name in enumerate(SPLITS)}

    spec = json.dumps([data_hash, label, task, ratios.model_dump(), seed] + ([kept_from] if kept_from else []))
    summary = SnapshotSummary(
        id=hashlib.sha256(spec.encode()).hexdigest()[:16], content_hash=data_hash, label=label, task=task,
        rows=len(ordered), columns=list(ordered.columns), ratios=ratios, seed=seed,
        splits={name: _counts(part, label, task) for name, part in parts.items()},
        classes=_counts(ordered, label, task).classes, source=source, created=time.time(), kept_from=kept_from,
        kept_rows=kept_rows)
    return Snapshot(summary, parts["train"], parts["validation"], parts["test"])


def new_rows(snapshot: Snapshot, earlier: Snapshot) -> pd.DataFrame:
    """The rows of ``snapshot`` that ``earlier`` does not have (all of them when their columns differ)."""
    frame = snapshot.frame
    return frame[_kept_assignment(frame, earlier) < 0].reset_index(drop=True)


def _kept_assignment(frame: pd.DataFrame, keep: Snapshot) -> np.ndarray:
    """0/1/2 for the rows of ``frame`` that ``keep`` has (the split they have there), -1 for the others."""
    if sorted(map(str, frame.columns)) != sorted(map(str, keep.summary.columns)):
        return np.full(len(frame), -1, dtype=np.int8)
    both = pd.concat([keep.frame, frame], ignore_index=True)
    kinds = {str(c): column_kind(both[c]) or "empty" for c in both.columns}
    where: dict[int, int] = {}
    for i, name in enumerate(SPLITS):
        for h in _row_hashes(keep.split(name), kinds)[1].tolist():
            where.setdefault(h, i)
    hashes = _row_hashes(frame, kinds)[1].tolist()
    return np.array([where.get(h, -1) for h in hashes], dtype=np.int8)


def _stratified_assignment(groups: np.ndarray, ratios: SplitRatios, seed: int) -> np.ndarray:
    """0/1/2 (train/validation/test) per row; each group shuffled with the seed and cut by rounded ratios."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(groups), dtype=np.int8)
    for group in sorted(set(groups)):
        rows = rng.permutation(np.flatnonzero(groups == group))
        n_val = int(np.floor(len(rows) * ratios.validation + 0.5))
        n_test = int(np.floor(len(rows) * ratios.test + 0.5))
        n_val = min(n_val, max(len(rows) - 1, 0))  # train keeps at least one row of each group
        n_test = min(n_test, max(len(rows) - 1 - n_val, 0))
        out[rows[len(rows) - n_val - n_test:len(rows) - n_test]] = 1
        out[rows[len(rows) - n_test:]] = 2
    return out


def _counts(frame: pd.DataFrame, label: str, task: Task) -> SplitCounts:
    if task != "classification":
        return SplitCounts(rows=len(frame), classes={})
    counts = class_names(frame[label]).value_counts()
    return SplitCounts(rows=len(frame), classes={str(k): int(v) for k, v in sorted(counts.items())})


def write_snapshot(snapshot: Snapshot, root: str | Path) -> Path:
    """Store a snapshot as ``<root>/<id>/{snapshot.json,train.parquet,validation.parquet,test.parquet}``.

    If that folder already holds the snapshot (another run, same data and split), nothing is written. The folder
    appears at once, complete, so a reader never sees half a snapshot.

    Returns:
        The snapshot's folder.

    Raises:
        DataError: A column cannot be stored as Parquet (e.g. it mixes numbers and text).
    """
    root = Path(root)
    folder = root / snapshot.summary.id
    if (folder / SUMMARY_FILE).is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{snapshot.summary.id}-", dir=root))
    try:
        for name in SPLITS:
            try:
                snapshot.split(name).to_parquet(staging / f"{name}.parquet", index=False)
            except (ValueError, TypeError) as e:  # pyarrow's ArrowInvalid/ArrowTypeError derive from these
                raise DataError(f"snapshot {snapshot.summary.id}: cannot store the rows as Parquet: {e}",
                                source=snapshot.summary.source or None) from e
        (staging / SUMMARY_FILE).write_text(snapshot.summary.model_dump_json(indent=2))
        try:
            os.rename(staging, folder)
        except OSError:
            if not (folder / SUMMARY_FILE).is_file():  # not a concurrent writer of the same snapshot
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def read_snapshot(folder: str | Path) -> Snapshot:
    """Read a snapshot written by ``write_snapshot``.

    Raises:
        DataError: The folder holds no complete snapshot.
    """
    folder = Path(folder)
    try:
        summary = SnapshotSummary.model_validate_json((folder / SUMMARY_FILE).read_text())
        parts = {name: pd.read_parquet(folder / f"{name}.parquet") for name in SPLITS}
    except (OSError, ValueError) as e:
        raise DataError(f"{folder}: not a readable snapshot: {type(e).__name__}: {e}", source=str(folder)) from e
    return Snapshot(summary, parts["train"], parts["validation"], parts["test"])
