"""scikit-learn tweaks: hyper-parameters of the estimator (``param:<Class>:<name>``) and a stronger estimator
family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import libcst as cst

from training.analysis import ScriptAnalysis
from training.estimators import ESTIMATORS, estimator_task, is_estimator
from training.tweaks._base import SkipTweak, Tweak, register
from training.tweaks._cst import ensure_top, expr, rewrite_calls, set_kwarg

NO_ESTIMATOR = "no scikit-learn estimator constructed outside another scikit-learn call"

#: Family name -> (module, class prefix, constructor arguments); the suffix is Classifier or Regressor.
FAMILIES = {
    "random_forest": ("sklearn.ensemble", "RandomForest", "n_estimators=300, random_state=0"),
    "gradient_boosting": ("sklearn.ensemble", "HistGradientBoosting", "random_state=0"),
}


def _sklearn_script(script: ScriptAnalysis) -> str | None:
    if script.framework != "sklearn":
        return "the script does not train a scikit-learn model"
    return None


@register
class EstimatorParamTweak(Tweak):
    """Set a hyper-parameter on every constructor call of an estimator class: key ``param:<Class>:<name>``.

    The space offers the grid of the script's first estimator (``training.estimators``).
    """

    name = "param"
    order = 80

    def owns(self, key: str) -> bool:
        return key.startswith("param:")

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if reason := _sklearn_script(script):
            return reason
        return None if script.estimators else "no scikit-learn estimator constructed"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        main = ESTIMATORS.get(script.estimators[0])
        return {f"param:{main.name}:{param}": list(values) for param, values in main.grid.items()} if main else {}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        cls, _, param = key[len("param:"):].partition(":")
        if not param:
            raise SkipTweak(f"expected 'param:<Class>:<name>', but got {key!r}")
        module, count = rewrite_calls(script.module, script.calls,
                                      lambda node, name: is_estimator(name) and name.endswith("." + cls),
                                      lambda node, name: set_kwarg(node, param, repr(value)))
        if not count:
            raise SkipTweak(f"no {cls}(...) constructed")
        return module, f"{cls} {param}={value!r}"


@register
class FamilyTweak(Tweak):
    """Replace the estimator with a stronger family (random forest or gradient boosting), a regressor for a
    regressor and a classifier otherwise."""

    name = "family"
    order = 10

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if reason := _sklearn_script(script):
            return reason
        return None if script.estimators else NO_ESTIMATOR

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [None, *FAMILIES]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        if value not in FAMILIES:
            raise SkipTweak(f"family must be one of {', '.join(FAMILIES)}, but got {value!r}")
        mod, prefix, args = FAMILIES[value]
        chosen: list[str] = []

        def replace(node: cst.Call, name: str) -> cst.BaseExpression:
            regressor = estimator_task(name.rsplit(".", 1)[-1]) == "regression"
            cls = prefix + ("Regressor" if regressor else "Classifier")
            chosen.append(cls)
            return expr(f"_Mlops{cls}({args})")

        module, count = rewrite_calls(script.module, script.calls, lambda node, name: is_estimator(name), replace,
                                      outside_sklearn_calls=True)
        if not count:
            raise SkipTweak(NO_ESTIMATOR)
        for cls in sorted(set(chosen)):
            module = ensure_top(module, f"from {mod} import {cls} as _Mlops{cls}")
        return module, f"estimator replaced by {', '.join(sorted(set(chosen)))}"
