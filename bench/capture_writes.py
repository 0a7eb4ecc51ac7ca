"""What writing captured predictions costs as the capture spool grows, side by side in one run: the server's own
inference ids (version-7 UUIDs, time first) against random ones (version-4 UUIDs, as the server made them
before, or as a client may send its own).

Usage, from a clean clone with the tool virtualenv (``make setup``)::

    .venv/bin/python bench/capture_writes.py [--rows 200000]

Runs in the serving virtualenv (``ml-serve``, built on first use as ``mlops deploy`` builds it without Docker).
Each kind of id fills its own spool (``SpoolCapture``, the SQLite file a server without MongoDB captures into)
with one-row predictions of the wine forest, in batches of 500 as the capture writer takes them. The two fill in
alternating blocks of 10,000 rows so that both see the same load, and the CPU time per row of ``add_prepared``
(the writer thread's part) is printed for each block: random ids land at random places in the primary key's
index, so the cost grows with the table; time-ordered ids land at its end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Run in the serving virtualenv, with ``monitor/`` on the path; argument: the rows per spool.
INNER = r"""
import os, sys, tempfile, time, uuid
from pathlib import Path
import numpy as np
from serving.capture import SpoolCapture
from serving.http.predict import new_ids
from serving.capture.sink import Prediction, documents

BLOCK, BATCH = 10_000, 500
total = int(sys.argv[1])
row = np.array([[13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]])
result = {"predictions": [0], "probabilities": [[0.98, 0.02, 0.0]], "classes": [0, 1, 2]}
kinds = {"time-ordered (ours, v7)": lambda: new_ids(1), "random (v4)": lambda: (uuid.uuid4().hex,)}
with tempfile.TemporaryDirectory() as tmp:
    spools = {kind: SpoolCapture(Path(tmp) / str(i)) for i, kind in enumerate(kinds)}
    costs = {kind: [] for kind in kinds}
    print("CPU time of the writer per row, in µs")
    print(f"  {'rows so far':>11}  " + "  ".join(f"{kind:>24}" for kind in kinds) + "  random / ours")
    for done in range(0, total, BLOCK):
        for kind, make_ids in kinds.items():
            prepared = [r for _ in range(BLOCK) for r in spools[kind].prepare(documents(
                Prediction("wine", 1, row, result, 0.001, make_ids(), time.time())))]
            start = time.process_time()
            for i in range(0, BLOCK, BATCH):
                spools[kind].add_prepared(prepared[i:i + BATCH])
            costs[kind].append((time.process_time() - start) / BLOCK * 1e6)
        ours, rand = (costs[kind][-1] for kind in kinds)
        print(f"  {done + BLOCK:>11,}  {ours:>24.1f}  {rand:>24.1f}  {rand / ours:>12.1f}x", flush=True)
    for spool in spools.values():
        spool.close()
last = max(1, len(costs[next(iter(kinds))]) // 4)
ours, rand = (sum(costs[kind][-last:]) / last for kind in kinds)
print(f"last quarter of the fill: ours {ours:.1f} µs per row, random ids {rand:.1f} µs: {rand / ours:.1f}x")
"""


def main() -> int:
    """Fill both spools block by block in the serving virtualenv and print the per-row cost of each block."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows written into each spool (default 200,000)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from serving import serve_venv  # bench/serving.py

    python = serve_venv("ml")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'monitor'}{os.pathsep}{ROOT}"}
    print(f"load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    done = subprocess.run([str(python), "-c", INNER, str(args.rows)], env=env, check=False)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
