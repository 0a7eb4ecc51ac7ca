"""How a served forest is scored, side by side in one run: the estimator's own call, the trees' own calls summed
in order, and all the trees walked together (``monitor/serving/models/_forest.py``), for requests of 1 to 256 rows.

Usage, from a clean clone with the tool virtualenv (``make setup``)::

    .venv/bin/python bench/forest_scoring.py [--repeat 200]

Runs in the serving virtualenv (``ml-serve``, built on first use as ``mlops deploy`` builds it without Docker).
Three forests: the wine random forest (100 trees, 8 levels), a random forest on 20,000 synthetic rows (100 trees,
about 34 levels) and extra trees on 5,000 of them (300 trees, about 43 levels). Each call is checked to give the
estimator's own answers to the last bit, and each size says which way the server takes (``served by``): the walk
while rows x depth is at most ``MAX_STEPS``, the trees' own calls up to ``MAX_ROWS``, the estimator above.
Rounds of the three ways are interleaved so that they see the same load; the median of 5 rounds is printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

INNER = r"""
import statistics, sys, time, warnings
import numpy as np
from sklearn.datasets import load_wine, make_classification
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from serving.models._forest import MAX_ROWS, MAX_STEPS, Walk, _summed

warnings.filterwarnings("ignore")
repeat = int(sys.argv[1])
Xw, yw = load_wine(return_X_y=True)
Xs, ys = make_classification(20000, 20, n_informative=10, n_classes=3, random_state=0)
forests = {
    "wine random forest, 100 trees": (RandomForestClassifier(100, random_state=0).fit(Xw, yw), Xw),
    "random forest on 20,000 rows, 100 trees": (RandomForestClassifier(100, random_state=0).fit(Xs, ys), Xs),
    "extra trees on 5,000 rows, 300 trees": (ExtraTreesClassifier(300, random_state=0).fit(Xs[:5000], ys[:5000]), Xs),
}


def per_call(f, x, n):
    f(x)
    start = time.perf_counter()
    for _ in range(n):
        f(x)
    return (time.perf_counter() - start) / n * 1e3


for name, (forest, data) in forests.items():
    walk, each = Walk(forest), _summed(forest, "predict_proba", (int(forest.n_classes_),))
    print(f"\n{name}: {walk.depth} levels, {len(walk.threshold):,} nodes")
    print(f"  {'rows':>5} {'estimator':>10} {'trees summed':>13} {'walked':>8}   {'walk vs estimator':>17}"
          f" {'walk vs summed':>15}   served by")
    for rows in (1, 4, 16, 64, 256):
        x = np.ascontiguousarray(np.resize(data, (rows, data.shape[1])))
        own = forest.predict_proba(x)
        assert np.array_equal(walk(x), own) and np.array_equal(each(x), own), (name, rows)
        n = max(3, repeat // max(1, rows // 4))
        rounds = [[per_call(f, x, n if f is not forest.predict_proba else max(3, n // 10))
                   for f in (forest.predict_proba, each, walk)] for _ in range(5)]
        est, summed, walked = (statistics.median(r[i] for r in rounds) for i in range(3))
        by = "walk" if rows * walk.depth <= MAX_STEPS else "trees summed" if rows <= MAX_ROWS else "estimator"
        print(f"  {rows:>5} {est:>8.3f}ms {summed:>11.3f}ms {walked:>6.3f}ms   {est / walked:>16.1f}x"
              f" {summed / walked:>14.2f}x   {by}")
"""


def main() -> int:
    """Run the comparison in the serving virtualenv and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="calls per round for one row (fewer for more rows)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from serving import serve_venv  # bench/serving.py

    python = serve_venv("ml")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'monitor'}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1"}
    print(f"load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    done = subprocess.run([str(python), "-c", INNER, str(args.repeat)], env=env, check=False)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
