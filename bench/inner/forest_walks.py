"""Score three forests three ways (the estimator's own call, the trees' calls summed, all trees walked together)
for requests of 1 to 256 rows and print the times (``bench/forest_scoring.py``).

Runs in the serving virtualenv with ``monitor/`` on the path. Arguments: calls per round for one row, rounds,
and ``quick`` (small forests on fewer rows) or ``full``.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from serving.models._forest import MAX_ROWS, MAX_STEPS, Walk, _summed
from sklearn.datasets import load_wine, make_classification
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier


def forests(quick: bool) -> dict[str, tuple[Any, np.ndarray]]:
    """Name -> (fitted forest, the rows it scores)."""
    n_rows, trees, extra = (2_000, 10, 30) if quick else (20_000, 100, 300)
    xw, yw = load_wine(return_X_y=True)
    xs, ys = make_classification(n_rows, 20, n_informative=10, n_classes=3, random_state=0)
    part = n_rows // 4
    return {
        f"wine random forest, {trees} trees": (RandomForestClassifier(trees, random_state=0).fit(xw, yw), xw),
        f"random forest on {n_rows:,} rows, {trees} trees": (RandomForestClassifier(trees, random_state=0).fit(xs, ys),
                                                             xs),
        f"extra trees on {part:,} rows, {extra} trees": (
            ExtraTreesClassifier(extra, random_state=0).fit(xs[:part], ys[:part]), xs),
    }


def per_call(f: Callable[[np.ndarray], Any], x: np.ndarray, n: int) -> float:
    """Milliseconds per call of ``f(x)`` over ``n`` calls, after one."""
    f(x)
    start = time.perf_counter()
    for _ in range(n):
        f(x)
    return (time.perf_counter() - start) / n * 1e3


def compare(name: str, forest: Any, data: np.ndarray, repeat: int, rounds: int) -> None:
    """One forest's table: the three ways for each request size, checked to give the estimator's answers."""
    walk, each = Walk(forest), _summed(forest, "predict_proba", (int(forest.n_classes_),))
    print(f"\n{name}: {walk.depth} levels, {len(walk.threshold):,} nodes")
    print(f"  {'rows':>5} {'estimator':>10} {'trees summed':>13} {'walked':>8}   {'walk vs estimator':>17}"
          f" {'walk vs summed':>15}   served by")
    for rows in (1, 4, 16, 64, 256):
        x = np.ascontiguousarray(np.resize(data, (rows, data.shape[1])))
        own = forest.predict_proba(x)
        assert np.array_equal(walk(x), own) and np.array_equal(each(x), own), (name, rows)
        n = max(3, repeat // max(1, rows // 4))
        times = [[per_call(f, x, n if f is not forest.predict_proba else max(3, n // 10))
                  for f in (forest.predict_proba, each, walk)] for _ in range(rounds)]
        est, summed, walked = (statistics.median(r[i] for r in times) for i in range(3))
        by = "walk" if rows * walk.depth <= MAX_STEPS else "trees summed" if rows <= MAX_ROWS else "estimator"
        print(f"  {rows:>5} {est:>8.3f}ms {summed:>11.3f}ms {walked:>6.3f}ms   {est / walked:>16.1f}x"
              f" {summed / walked:>14.2f}x   {by}", flush=True)


def main() -> None:
    """Every forest's table."""
    warnings.filterwarnings("ignore")
    repeat, rounds, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    for name, (forest, data) in forests(mode == "quick").items():
        compare(name, forest, data, repeat, rounds)


if __name__ == "__main__":
    main()
