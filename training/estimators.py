"""What mlops knows about each scikit-learn estimator, one record per class: its task, the hyper-parameters the
tweaks may try (the search grid) and the ladder's step.

The analysis reads the task (detection's task signals, the family tweak's classifier or regressor), the
``param`` tweak reads the grid (``training.tweaks._sklearn``) and the ladder reads the step
(``training.strategies._space``). A class without a record is still an estimator when its module is one of
``ESTIMATOR_MODULES``; its task then comes from its name (``...Classifier``, ``...Regressor``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ESTIMATORS", "ESTIMATOR_MODULES", "Estimator", "estimator_task", "is_estimator"]

CLASSIFICATION = "classification"
REGRESSION = "regression"

#: scikit-learn modules whose classes are estimators the tweaks may tune or replace.
ESTIMATOR_MODULES = ("linear_model", "svm", "neighbors", "ensemble", "tree", "naive_bayes", "neural_network",
                     "discriminant_analysis", "gaussian_process")


@dataclass(frozen=True)
class Estimator:
    """One scikit-learn estimator class and what the tuning loop does with it.

    Attributes:
        name: The class name (``KNeighborsClassifier``).
        task: ``classification`` or ``regression``.
        grid: Hyper-parameter -> values worth trying; the first, ``None``, keeps what the script wrote.
        ladder: The ladder's hyper-parameter step: the classic "more regularised / more capacity" move.
    """

    name: str
    task: str
    grid: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    ladder: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in (CLASSIFICATION, REGRESSION):
            raise ValueError(f"task must be {CLASSIFICATION!r} or {REGRESSION!r}, but got {self.task=}")


def _pair(suffix_free: str, grid: Mapping[str, tuple[Any, ...]], ladder: Mapping[str, Any] | None = None
          ) -> tuple[Estimator, Estimator]:
    """The ``...Classifier`` and ``...Regressor`` of one family, with the same grid and step."""
    return (Estimator(f"{suffix_free}Classifier", CLASSIFICATION, grid, ladder or {}),
            Estimator(f"{suffix_free}Regressor", REGRESSION, grid, ladder or {}))


def _tasks(task: str, *names: str) -> tuple[Estimator, ...]:
    """Estimators known only by their task (no grid, no ladder step)."""
    return tuple(Estimator(name, task) for name in names)


_C = (None, 0.1, 1.0, 10.0, 100.0)

#: Class name -> its record.
ESTIMATORS: Mapping[str, Estimator] = {e.name: e for e in (
    *_pair("KNeighbors", {"n_neighbors": (None, 3, 7, 11, 15), "weights": (None, "distance")},
           {"n_neighbors": 7, "weights": "distance"}),
    Estimator("SVC", CLASSIFICATION, {"C": _C}, {"C": 10.0}),
    Estimator("SVR", REGRESSION, {"C": _C}, {"C": 10.0}),
    Estimator("LinearSVC", CLASSIFICATION, {"C": (None, 0.1, 1.0, 10.0), "max_iter": (None, 5000)},
              {"max_iter": 5000}),
    Estimator("LogisticRegression", CLASSIFICATION, {"C": (None, 0.1, 1.0, 10.0), "max_iter": (None, 2000)},
              {"max_iter": 2000, "C": 10.0}),
    *_pair("RandomForest", {"n_estimators": (None, 100, 300), "max_depth": (None, 5, 10)}, {"n_estimators": 300}),
    *_pair("DecisionTree", {"max_depth": (None, 3, 5, 10)}, {"max_depth": 5}),
    *_pair("GradientBoosting", {"n_estimators": (None, 200), "learning_rate": (None, 0.05, 0.2)}),
    Estimator("MLPClassifier", CLASSIFICATION, {"max_iter": (None, 1000), "alpha": (None, 0.001, 0.01)},
              {"max_iter": 1000}),
    Estimator("Ridge", REGRESSION, {"alpha": (None, 0.1, 1.0, 10.0)}),
    Estimator("Lasso", REGRESSION, {"alpha": (None, 0.01, 0.1, 1.0)}),
    *_tasks(CLASSIFICATION, "LogisticRegressionCV", "NuSVC", "GaussianNB", "MultinomialNB", "BernoulliNB",
            "ComplementNB", "CategoricalNB", "LinearDiscriminantAnalysis", "QuadraticDiscriminantAnalysis",
            "Perceptron", "NearestCentroid", "RidgeClassifierCV"),
    *_tasks(REGRESSION, "LinearRegression", "RidgeCV", "LassoCV", "ElasticNet", "ElasticNetCV", "Lars", "LarsCV",
            "LassoLars", "LassoLarsCV", "LassoLarsIC", "BayesianRidge", "LinearSVR", "NuSVR", "KernelRidge",
            "OrthogonalMatchingPursuit", "MultiTaskLasso", "MultiTaskElasticNet"),
)}


def estimator_task(cls: str) -> str | None:
    """``classification`` or ``regression`` for a scikit-learn estimator class name (by name); else ``None``."""
    if cls in ESTIMATORS:
        return ESTIMATORS[cls].task
    if cls.endswith("Classifier"):
        return CLASSIFICATION
    if cls.endswith(("Regressor", "Regression")):
        return REGRESSION
    return None


def is_estimator(name: str) -> bool:
    """Whether a qualified name is a scikit-learn estimator class."""
    parts = name.split(".")
    return len(parts) >= 3 and parts[0] == "sklearn" and parts[1] in ESTIMATOR_MODULES and parts[-1][:1].isupper()
