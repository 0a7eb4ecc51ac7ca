"""Tweaks for a rare class the model does not learn, and for a relation a linear model cannot draw: balanced
class weights (Keras ``class_weight=``, scikit-learn ``class_weight="balanced"``), a decision threshold tuned
on the training rows (never the test rows), and polynomial feature crosses for linear models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import libcst as cst

from training.analysis import ScriptAnalysis, arg, is_estimator
from training.tweaks._base import SkipTweak, Tweak, register
from training.tweaks._cst import code, ensure_top, expr, rewrite_calls, set_kwarg
from training.tweaks._scale import PIPELINE_IMPORTS

#: scikit-learn classifiers that take ``class_weight``.
WEIGHTED = {"LogisticRegression", "LogisticRegressionCV", "SVC", "NuSVC", "LinearSVC", "RandomForestClassifier",
            "ExtraTreesClassifier", "DecisionTreeClassifier", "ExtraTreeClassifier", "RidgeClassifier",
            "RidgeClassifierCV", "SGDClassifier", "Perceptron", "PassiveAggressiveClassifier",
            "HistGradientBoostingClassifier"}
#: scikit-learn metrics whose default (no ``average=``) is a binary task's: a tuned threshold is for those.
BINARY_METRICS = {"f1_score", "precision_score", "recall_score"}
#: Linear scikit-learn models that polynomial crosses of the features help.
LINEAR = {"LogisticRegression", "LinearSVC", "LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDClassifier",
          "SGDRegressor", "RidgeClassifier", "Perceptron", "LinearSVR"}
#: The Keras helper written into a script: balanced weights of its training labels.
CLASS_WEIGHT_HELPER = '''def _mlops_class_weight(labels):
    """Balanced class weights of the training labels (added by mlops): a rare class counts as much as a common
    one. One-hot labels count by their largest column."""
    import numpy as _np

    labels = _np.asarray(labels)
    labels = labels.argmax(axis=1) if labels.ndim == 2 and labels.shape[1] > 1 else labels.reshape(len(labels))
    classes, counts = _np.unique(labels.astype(int), return_counts=True)
    return {int(c): len(labels) / (len(classes) * int(n)) for c, n in zip(classes, counts)}
'''


def _class_name(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _classifier_task(script: ScriptAnalysis) -> str | None:
    if script.task == "regression":
        return "a regression has no classes to weigh"
    return None


@register
class ClassWeightTweak(Tweak):
    """Weigh classes by the inverse of their frequency in the training labels."""

    name = "class_weight"
    order = 85

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if reason := _classifier_task(script):
            return reason
        if script.framework == "keras":
            return None if script.fit_calls else "no fit(...) call found"
        if script.framework == "sklearn" and script.estimators:
            return None
        return "no Keras fit or scikit-learn estimator"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [False, True]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        if script.framework == "keras":
            return self._keras(script)
        module, count = rewrite_calls(
            script.module, script.calls,
            lambda node, name: is_estimator(name) and _class_name(name) in WEIGHTED
            and arg(node, None, "class_weight") is None,
            lambda node, name: set_kwarg(node, "class_weight", '"balanced"'))
        if not count:
            raise SkipTweak(f"no estimator that takes class_weight ({', '.join(script.estimators)})")
        return module, 'class_weight="balanced"'

    @staticmethod
    def _keras(script: ScriptAnalysis) -> tuple[cst.Module, str]:
        fits = {c for c in script.fit_calls if c.func.attr.value == "fit"  # type: ignore[attr-defined]
                and arg(c, 1, "y") is not None and arg(c, None, "class_weight") is None}

        def weigh(node: cst.Call, name: str) -> cst.Call:
            labels = arg(node, 1, "y")
            return set_kwarg(node, "class_weight", f"_mlops_class_weight({code(labels.value)})")  # type: ignore[union-attr]

        module, count = rewrite_calls(script.module, script.calls, lambda node, name: node in fits, weigh)
        if not count:
            raise SkipTweak("no fit(x, y) call without class_weight")
        return ensure_top(module, CLASS_WEIGHT_HELPER), "balanced class weights in fit"


@register
class ThresholdTweak(Tweak):
    """Tune a binary classifier's decision threshold for F1 by cross-validation on the training rows it is
    fitted on (``TunedThresholdClassifierCV``): the test rows never choose it."""

    name = "threshold"
    order = 90

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if script.framework != "sklearn" or not script.estimators:
            return "the script does not train a scikit-learn model"
        if reason := _classifier_task(script):
            return reason
        binary = any(name.startswith("sklearn.metrics.") and name.rsplit(".", 1)[-1] in BINARY_METRICS
                     and arg(call, None, "average") is None for call, name in script.calls.items())
        return None if binary else "no binary metric (f1_score, precision_score, recall_score without average=)"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [False, True]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        module, count = rewrite_calls(
            script.module, script.calls, lambda node, name: is_estimator(name),
            lambda node, name: expr(f'_MlopsTunedThreshold({code(node)}, scoring="f1", random_state=0)'),
            outside_sklearn_calls=True)
        if not count:
            raise SkipTweak("no scikit-learn estimator constructed outside another scikit-learn call")
        module = ensure_top(module, "from sklearn.model_selection import TunedThresholdClassifierCV as "
                                    "_MlopsTunedThreshold")
        return module, "decision threshold tuned for F1 on the training rows (5-fold)"


@register
class CrossesTweak(Tweak):
    """Polynomial features (squares and pairwise products) before a linear model, scaled: the model can then
    draw a curved boundary or an interaction."""

    name = "crosses"
    order = 15

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if script.framework != "sklearn":
            return "the script does not train a scikit-learn model"
        linear = [e for e in script.estimators if e in LINEAR]
        return None if linear else "no linear scikit-learn model"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [False, True]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        module, count = rewrite_calls(
            script.module, script.calls, lambda node, name: is_estimator(name) and _class_name(name) in LINEAR,
            lambda node, name: expr("_mlops_make_pipeline(_MlopsPolynomialFeatures(2, include_bias=False), "
                                    f"_MlopsStandardScaler(), {code(node)})"),
            outside_sklearn_calls=True)
        if not count:
            raise SkipTweak("no linear model constructed outside another scikit-learn call")
        scaler, pipeline = PIPELINE_IMPORTS
        for line in (scaler, "from sklearn.preprocessing import PolynomialFeatures as _MlopsPolynomialFeatures",
                     pipeline):
            module = ensure_top(module, line)
        return module, "feature crosses: degree-2 polynomial features, scaled, before the linear model"
