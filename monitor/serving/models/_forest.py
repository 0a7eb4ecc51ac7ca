"""Random forests and extra trees scored without joblib, on the calling thread.

A scikit-learn forest scores through joblib even with ``n_jobs=None``, and wraps each tree's call in a
configuration context and a warnings filter: for one row that dispatch costs several times the trees' own work
(10 ms instead of 2 ms for a 100-tree forest here), and the trees' own calls cost about 20 us each. A small request
walks all the trees at once instead, level by level over flat copies of their nodes (0.07 ms for that forest);
a larger one sums the trees' own answers in the estimator's order. Either is used only when it gives exactly the
estimator's own answers on probe rows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

#: Larger requests are scored by the estimator itself, which may spread its trees over threads (``n_jobs``).
MAX_ROWS = 256
#: A request walks the trees together when rows x depth is at most this; past it, the trees' own calls are
#: quicker (measured on forests 8 to 43 levels deep).
MAX_STEPS = 2048
#: Flat copies of the nodes are made when they take at most this much memory (per serving process).
MAX_WALK_BYTES = 128 * 2**20

Scorer = Callable[[Any], np.ndarray]


def tree_by_tree(model: Any, probe: Callable[[], Any]) -> Forest | None:
    """``predict_proba`` of a forest classifier, or ``predict`` of a forest regressor (either alone or as the last
    step of a pipeline), without joblib; ``None`` for any other model, or when the result on the rows ``probe``
    makes (as the model takes them; only made for a forest) is not identical to the estimator's own."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    steps = getattr(model, "steps", None)
    final = steps[-1][1] if steps else model
    head = model[:-1] if steps and len(steps) > 1 else None
    if isinstance(final, RandomForestClassifier | ExtraTreesClassifier):
        if final.n_outputs_ != 1:  # one list of probabilities per output: left to the estimator
            return None
        own, method, tail = model.predict_proba, "predict_proba", (int(final.n_classes_),)
    elif isinstance(final, RandomForestRegressor | ExtraTreesRegressor):
        own, method, tail = model.predict, "predict", (final.n_outputs_,) if final.n_outputs_ > 1 else ()
    else:
        return None
    try:
        scorer = Forest(own, head, _summed(final, method, tail), Walk.of(final))
        return scorer if scorer.checked(probe()) else None
    except Exception:  # the estimator's own scoring decides what happens to such rows
        return None


class Forest:
    """A forest's answers: the estimator's own for a large request, else its trees walked together or summed."""

    def __init__(self, own: Scorer, head: Any, each: Scorer, walk: Walk | None) -> None:
        self.own, self.head, self.each, self.walk = own, head, each, walk

    def checked(self, rows: Any) -> bool:
        """Whether the trees' sum gives exactly the estimator's own answers on ``rows`` and on the first of them;
        the walk is dropped if it does not."""
        samples = [(self._prepared(some), self.own(some)) for some in (rows, rows[:1])]
        if not all(np.array_equal(self.each(x), expected) for x, expected in samples):
            return False
        if self.walk is not None and not all(np.array_equal(self.walk(x), expected) for x, expected in samples):
            self.walk = None
        return True

    def __call__(self, x: Any) -> np.ndarray:
        if len(x) > MAX_ROWS:
            return self.own(x)
        x = self._prepared(x)
        if self.walk is not None and self.walk.takes(x):
            walked = self.walk(x)
            if walked is not None:
                return walked
        return self.each(x)

    def _prepared(self, x: Any) -> Any:
        return self.head.transform(x) if self.head is not None else x


class Walk:
    """All the trees of a forest walked together, one level per step, over flat copies of their nodes.

    A leaf points to itself, so every row takes ``depth`` steps; a row goes right where its feature (as float32,
    as scikit-learn compares it) is above the node's threshold. The trees' leaf values are summed in the
    estimators' order, as scikit-learn sums them.
    """

    def __init__(self, forest: Any) -> None:
        trees = [estimator.tree_ for estimator in forest.estimators_]
        starts = np.cumsum([0, *(tree.node_count for tree in trees[:-1])])
        children, features, thresholds, values = [], [], [], []
        for tree, start in zip(trees, starts, strict=True):
            leaf = tree.children_left == -1
            own = np.arange(tree.node_count) + start
            pair = np.empty((tree.node_count, 2), dtype=np.intp)
            pair[:, 0] = np.where(leaf, own, tree.children_left + start)
            pair[:, 1] = np.where(leaf, own, tree.children_right + start)
            children.append(pair.ravel())
            features.append(np.where(leaf, 0, tree.feature).astype(np.intp))
            thresholds.append(np.where(leaf, np.inf, tree.threshold))
            values.append(_leaf_values(forest, tree))
        self.child = np.concatenate(children)
        self.feature = np.concatenate(features)
        self.threshold = np.concatenate(thresholds)
        self.value = np.concatenate(values)
        self.roots = starts.astype(np.intp)
        self.depth = max(tree.max_depth for tree in trees)
        self.width = int(forest.n_features_in_)

    @classmethod
    def of(cls, forest: Any) -> Walk | None:
        """The walk for ``forest``, or ``None`` when its flat copy would take more than ``MAX_WALK_BYTES``."""
        nodes = sum(estimator.tree_.node_count for estimator in forest.estimators_)
        width = int(np.prod(forest.estimators_[0].tree_.value.shape[1:]))
        if nodes * (8 * 4 + 8 * width) > MAX_WALK_BYTES:
            return None
        return cls(forest)

    def takes(self, x: Any) -> bool:
        """Whether ``x`` is a small enough array of rows of the right width for the walk to be the quicker."""
        return (isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[1] == self.width
                and len(x) * self.depth <= MAX_STEPS)

    def __call__(self, x: np.ndarray) -> np.ndarray | None:
        """The mean of the trees' answers for the rows ``x``; ``None`` for a value that is missing or not finite
        as float32 (left to scikit-learn, which knows where missing values go or says what is wrong)."""
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(x32).all():
            return None
        rows, trees = len(x32), len(self.roots)
        flat = x32.ravel()
        at = np.repeat(np.arange(rows, dtype=np.intp) * self.width, trees) if rows > 1 else 0
        nodes = np.tile(self.roots, rows)
        for _ in range(self.depth):
            nodes = self.child[2 * nodes + (flat[at + self.feature[nodes]] > self.threshold[nodes])]
        total = np.cumsum(self.value[nodes.reshape(rows, trees)], axis=1)[:, -1]
        total += 0.0  # scikit-learn's sum starts at 0.0, so it is never -0.0
        total /= trees
        return total


def _leaf_values(forest: Any, tree: Any) -> np.ndarray:
    """What one tree's ``predict_proba`` (classifier) or ``predict`` (regressor) answers at each node."""
    from sklearn.base import is_classifier

    if not is_classifier(forest):
        value = tree.value[:, :, 0]
        return value[:, 0].copy() if forest.n_outputs_ == 1 else value.copy()
    value = tree.value[:, 0, : int(forest.n_classes_)].copy()
    if not _fractions_stored():  # before scikit-learn 1.4 the tree divided its counts at each call
        normalizer = value.sum(axis=1)[:, np.newaxis]
        normalizer[normalizer == 0.0] = 1.0
        value /= normalizer
    return value


@cache
def _fractions_stored() -> bool:
    """Whether a classifier tree's ``value`` holds fractions (scikit-learn 1.4 on) rather than counts."""
    import sklearn

    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    return (major, minor) >= (1, 4)


def _summed(forest: Any, method: str, tail: tuple[int, ...]) -> Scorer:
    """The mean of the trees' ``method`` over validated rows, summed in the estimators' order as scikit-learn
    does (so the floating-point result is the same)."""
    trees = [getattr(tree, method) for tree in forest.estimators_]

    def mean(x: Any) -> np.ndarray:
        x = forest._validate_X_predict(x)
        total = np.zeros((x.shape[0], *tail), dtype=np.float64)
        for tree in trees:
            total += tree(x, check_input=False)
        total /= len(trees)
        return total

    return mean
