"""Data-layer timings on the APS subset (3 files x 3000 rows x 171 columns), side by side in one run.

Usage: ``.venv/bin/python -m bench.data [--mongodb URI] [--quick]``, with ``MLOPS_TEST_APS_DIR`` naming the
directory of the APS subset (``aps_subset_*.csv.gz``); without it, generated files of the same shape stand in
(the bench says so). ``--quick`` times 3 x 300 generated rows.

Loads the three files into a fresh embedded store (and, with ``--mongodb``, into a scratch collection of a real
MongoDB), loads them again (idempotent: nothing added), reads the collection back, then times on all the rows:
snapshot (hash + stratified split), writing it, inferring the schema, validating against it, drift of file 3
against files 1+2, and fitting the transformation. Each step is printed with its time and its ratio to reading
the three CSV files with pandas, the cheapest thing one can do with them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench._common import aps_files, parser, table, timed
from core.data import (
    content_hash,
    detect_drift,
    fitted_transform,
    infer_schema,
    load_files,
    read_collection,
    read_files,
    take_snapshot,
    validate,
    write_snapshot,
)
from core.store import get_run_store

NA = ["na"]


def generated(folder: Path, rows: int, seed: int = 0) -> list[Path]:
    """Three files in the APS subset's shape: a ``class`` (``neg`` / ``pos``, 1 in 60) and 170 skewed counts,
    a few percent of them ``na``."""
    rng = np.random.default_rng(seed)
    files = []
    for n in range(3):
        label = np.where(rng.random(rows) < 1 / 60, "pos", "neg")
        features = rng.lognormal(3, 2, size=(rows, 170)).round()
        features[label == "pos", :20] *= 3
        frame = pd.DataFrame(features, columns=[f"f{i:03d}" for i in range(170)]).astype(object)
        frame[rng.random(frame.shape) < 0.05] = "na"
        frame.insert(0, "class", label)
        files.append(folder / f"generated_{n}.csv.gz")
        frame.to_csv(files[-1], index=False)
    return files


def store_rows(files: list[Path], frame: pd.DataFrame, tmp: Path, mongodb: str | None) -> list[tuple[str, float]]:
    """Loading into the embedded store (and a real MongoDB), again, and reading back."""
    rows = []
    store = get_run_store(None, home=tmp)
    collection = store._db["aps"]
    seconds, report = timed(lambda: load_files(collection, files, batch_size=1000, na_values=NA))
    assert report.inserted == len(frame), report
    rows.append((f"load {len(files)} files into the embedded store", seconds))
    seconds, again = timed(lambda: load_files(collection, files, na_values=NA))
    assert again.inserted == 0
    rows.append(("load them again (nothing to add)", seconds))
    seconds, stored = timed(lambda: read_collection(collection))
    assert content_hash(stored) == content_hash(frame)
    rows.append(("read the collection back", seconds))
    store.close()
    if mongodb:
        remote = get_run_store(mongodb)
        scratch = remote._db["bench_aps"]
        scratch.drop()
        scratch["files"].drop()
        seconds, _ = timed(lambda: load_files(scratch, files, batch_size=1000, na_values=NA))
        rows.append((f"load {len(files)} files into MongoDB", seconds))
        seconds, _ = timed(lambda: read_collection(scratch))
        rows.append(("read the MongoDB collection back", seconds))
        scratch.drop()
        scratch["files"].drop()
        remote.close()
    return rows


def main() -> int:
    """Time each step and print the table."""
    cli = parser(__doc__)
    cli.add_argument("--mongodb", help="also load into a scratch collection of this MongoDB")
    args = cli.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        files, reason = ([], "quick mode") if args.quick else aps_files()
        if not files:
            size = 300 if args.quick else 3000
            print(f"APS subset skipped ({reason}): timing generated files of its shape instead (3 x {size} rows)")
            files = generated(tmp, size)
        rows: list[tuple[str, float]] = []
        base, frame = timed(lambda: read_files(files, NA))
        rows.append((f"read the {len(files)} CSV files (pandas)", base))
        rows += store_rows(files, frame, tmp, args.mongodb)
        seconds, snap = timed(lambda: take_snapshot(frame, "class", seed=0))
        rows.append((f"snapshot: hash + stratified split ({len(frame)} rows)", seconds))
        seconds, _ = timed(lambda: write_snapshot(snap, tmp / "snapshots"))
        rows.append(("write the snapshot (Parquet)", seconds))
    seconds, schema = timed(lambda: infer_schema(snap.frame, "class", snapshot=snap.summary.id))
    rows.append(("infer the schema", seconds))
    seconds, issues = timed(lambda: validate(snap.frame, schema))
    rows.append((f"validate {len(frame)} rows against it", seconds))
    split = len(frame) * 2 // 3
    reference, current = frame.iloc[:split], frame.iloc[split:]
    seconds, drift = timed(lambda: detect_drift(reference, current, label="class"))
    rows.append((f"drift: file 3 vs files 1+2 ({frame.shape[1] - 1} features)", seconds))
    seconds, _ = timed(lambda: fitted_transform(snap.train, "class"))
    rows.append(("fit the transformation on the train split", seconds))

    table(["step", "seconds", "x CSV read"], [(name, f"{s:.2f}", f"{s / base:.1f}") for name, s in rows])
    print(f"validation issues: {len(issues)}; drifted features: {len(drift.drifted_columns)}; "
          f"drift share {drift.drift_share:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
