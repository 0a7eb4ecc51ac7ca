"""Data-layer timings on the real APS subset (3 files x 3000 rows x 171 columns), side by side in one run.

Usage: ``.venv/bin/python bench/data.py [--mongodb URI]``

Loads the three files into a fresh embedded store (and, with ``--mongodb``, into a scratch collection of a real
MongoDB), loads them again (idempotent: nothing added), reads the collection back, then times on the 9000 rows:
snapshot (hash + stratified split), writing it, inferring the schema, validating against it, drift of file 3
against files 1+2, and fitting the transformation. Each step is printed with its time and its ratio to reading
the three CSV files with pandas, the cheapest thing one can do with them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.data import (  # noqa: E402
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

FILES = sorted(Path("/work/shared/data").glob("aps_subset_*.csv.gz"))
NA = ["na"]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mongodb", help="also load into a scratch collection of this MongoDB")
    args = parser.parse_args()
    rows: list[tuple[str, float]] = []

    base, frame = timed(lambda: read_files(FILES, NA))
    rows.append(("read the 3 CSV files (pandas)", base))
    with tempfile.TemporaryDirectory() as tmp:
        from core.store import get_run_store

        store = get_run_store(None, home=Path(tmp))
        collection = store._db["aps"]
        seconds, report = timed(lambda: load_files(collection, FILES, batch_size=1000, na_values=NA))
        assert report.inserted == 9000, report
        rows.append(("load 3 files into the embedded store", seconds))
        seconds, again = timed(lambda: load_files(collection, FILES, na_values=NA))
        assert again.inserted == 0
        rows.append(("load them again (nothing to add)", seconds))
        seconds, stored = timed(lambda: read_collection(collection))
        assert content_hash(stored) == content_hash(frame)
        rows.append(("read the collection back", seconds))
        store.close()

        if args.mongodb:
            remote = get_run_store(args.mongodb)
            scratch = remote._db["bench_aps"]
            scratch.drop()
            scratch["files"].drop()
            seconds, _ = timed(lambda: load_files(scratch, FILES, batch_size=1000, na_values=NA))
            rows.append(("load 3 files into MongoDB", seconds))
            seconds, _ = timed(lambda: read_collection(scratch))
            rows.append(("read the MongoDB collection back", seconds))
            scratch.drop()
            scratch["files"].drop()
            remote.close()

        seconds, snap = timed(lambda: take_snapshot(frame, "class", seed=0))
        rows.append(("snapshot: hash + stratified split (9000 rows)", seconds))
        seconds, _ = timed(lambda: write_snapshot(snap, Path(tmp) / "snapshots"))
        rows.append(("write the snapshot (Parquet)", seconds))
    seconds, schema = timed(lambda: infer_schema(snap.frame, "class", snapshot=snap.summary.id))
    rows.append(("infer the schema", seconds))
    seconds, issues = timed(lambda: validate(snap.frame, schema))
    rows.append(("validate 9000 rows against it", seconds))
    reference, current = frame.iloc[:6000], frame.iloc[6000:]
    seconds, drift = timed(lambda: detect_drift(reference, current, label="class"))
    rows.append(("drift: file 3 vs files 1+2 (170 features)", seconds))
    seconds, _ = timed(lambda: fitted_transform(snap.train, "class"))
    rows.append(("fit the transformation on the train split", seconds))

    width = max(len(name) for name, _ in rows)
    print(f"{'step':<{width}}  {'seconds':>8}  {'x CSV read':>10}")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:8.2f}  {seconds / base:10.1f}")
    print(f"validation issues: {len(issues)}; drifted features: {len(drift.drifted_columns)}; "
          f"drift share {drift.drift_share:.1%}")


if __name__ == "__main__":
    main()
