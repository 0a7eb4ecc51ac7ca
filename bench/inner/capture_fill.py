"""Fill two capture spools block by block, one with our time-ordered inference ids, one with random ones, and print
the writer's CPU time per row of each block (``bench/capture_writes.py``).

Runs in the serving virtualenv with ``monitor/`` on the path. Arguments: rows per spool, rows per block.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from serving.capture import SpoolCapture
from serving.capture.sink import Prediction, documents
from serving.http.predict import new_ids

BATCH = 500
ROW = np.array([[13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]])
RESULT = {"predictions": [0], "probabilities": [[0.98, 0.02, 0.0]], "classes": [0, 1, 2]}
KINDS = {"time-ordered (ours, v7)": lambda: new_ids(1), "random (v4)": lambda: (uuid.uuid4().hex,)}


def fill(total: int, block: int, folder: Path) -> dict[str, list[float]]:
    """Microseconds of writer CPU per row, block by block, for each kind of id; printed as they come."""
    spools = {kind: SpoolCapture(folder / str(i)) for i, kind in enumerate(KINDS)}
    costs: dict[str, list[float]] = {kind: [] for kind in KINDS}
    print("CPU time of the writer per row, in µs")
    print(f"  {'rows so far':>11}  " + "  ".join(f"{kind:>24}" for kind in KINDS) + "  random / ours")
    for done in range(0, total, block):
        for kind, make_ids in KINDS.items():
            prepared = [r for _ in range(block) for r in spools[kind].prepare(documents(
                Prediction("wine", 1, ROW, RESULT, 0.001, make_ids(), time.time())))]
            start = time.process_time()
            for i in range(0, block, BATCH):
                spools[kind].add_prepared(prepared[i:i + BATCH])
            costs[kind].append((time.process_time() - start) / block * 1e6)
        ours, rand = (costs[kind][-1] for kind in KINDS)
        print(f"  {done + block:>11,}  {ours:>24.1f}  {rand:>24.1f}  {rand / ours:>12.1f}x", flush=True)
    for spool in spools.values():
        spool.close()
    return costs


def main() -> None:
    """Fill, then print the last quarter's figures."""
    total, block = int(sys.argv[1]), int(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        costs = fill(total, block, Path(tmp))
    last = max(1, len(costs[next(iter(KINDS))]) // 4)
    ours, rand = (sum(costs[kind][-last:]) / last for kind in KINDS)
    print(f"last quarter of the fill: ours {ours:.1f} µs per row, random ids {rand:.1f} µs: {rand / ours:.1f}x")


if __name__ == "__main__":
    main()
