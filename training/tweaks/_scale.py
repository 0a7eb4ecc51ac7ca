"""Feature scaling: standardise the inputs, fitted on the training data only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import libcst as cst

from training.analysis import ScriptAnalysis, is_estimator
from training.tweaks._base import SkipTweak, Tweak, register
from training.tweaks._cst import BlockEditor, code, ensure_top, expr, rewrite_calls, stmt

NO_ESTIMATOR = "no scikit-learn estimator constructed outside another scikit-learn call"
#: The names a rewritten scikit-learn script builds its scaled Pipeline with (scaling, feature crosses).
PIPELINE_IMPORTS = ("from sklearn.preprocessing import StandardScaler as _MlopsStandardScaler",
                    "from sklearn.pipeline import make_pipeline as _mlops_make_pipeline")
#: A StandardScaler that gives back what it was given, written into Keras scripts: pandas code after the split
#: (``X_train.values``, ``.iloc``, column access) keeps working. Plain scikit-learn otherwise: the rewritten
#: script runs without mlops.
TYPE_KEEPING_SCALER = '''from sklearn.preprocessing import StandardScaler as _MlopsSklearnStandardScaler


class _MlopsStandardScaler(_MlopsSklearnStandardScaler):
    """StandardScaler that returns the type it is given (added by mlops): a pandas DataFrame keeps its index and
    columns, a Series stays a Series, a NumPy array stays an array."""

    @staticmethod
    def _table(X):
        return X.to_frame() if getattr(X, "ndim", 2) == 1 and hasattr(X, "to_frame") else X

    def fit(self, X, y=None, sample_weight=None):
        return super().fit(self._table(X), y, sample_weight)

    def transform(self, X, copy=None):
        scaled = super().transform(self._table(X), copy)
        if hasattr(X, "to_frame") and X.ndim == 1:  # a pandas Series
            return type(X)(scaled.ravel(), index=X.index, name=X.name)
        if hasattr(X, "columns") and hasattr(X, "index"):  # a pandas DataFrame
            return type(X)(scaled, index=X.index, columns=X.columns)
        return scaled
'''


@register
class ScaleTweak(Tweak):
    """Standardise features: a Pipeline around a scikit-learn estimator, or a scaler fitted on ``X_train`` after
    ``train_test_split`` in a Keras script on tabular data."""

    name = "scale"
    order = 20

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if script.scaled:
            return "the script already scales its features"
        if script.framework == "sklearn":
            return None if script.estimators else NO_ESTIMATOR
        if script.kind == "cnn":
            return "image input: feature scaling is for tabular data"
        if not script.splits:
            return "no 'X_train, X_test, ... = train_test_split(...)' to fit a scaler on the training split"
        return None

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [False, True]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        if script.framework == "sklearn":
            return self._pipeline(script)
        return self._after_split(script)

    @staticmethod
    def _pipeline(script: ScriptAnalysis) -> tuple[cst.Module, str]:
        module, count = rewrite_calls(
            script.module, script.calls, lambda node, name: is_estimator(name),
            lambda node, name: expr(f"_mlops_make_pipeline(_MlopsStandardScaler(), {code(node)})"),
            outside_sklearn_calls=True)
        if not count:
            raise SkipTweak(NO_ESTIMATOR)
        for line in PIPELINE_IMPORTS:
            module = ensure_top(module, line)
        return module, "scale features (StandardScaler in a Pipeline)"

    @staticmethod
    def _after_split(script: ScriptAnalysis) -> tuple[cst.Module, str]:
        train, test = script.splits[0]
        calls = script.calls

        def edit_block(original: Sequence[cst.CSTNode], updated: list[cst.CSTNode]) -> list[cst.CSTNode] | None:
            for i, statement in enumerate(original):
                if isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Assign):
                    value_node = statement.body[0].value
                    if isinstance(value_node, cst.Call) and calls.get(value_node, "").endswith("train_test_split"):
                        lines = [stmt(f"_mlops_scaler = _MlopsStandardScaler().fit({train})\n"),
                                 stmt(f"{train} = _mlops_scaler.transform({train})\n"),
                                 stmt(f"{test} = _mlops_scaler.transform({test})\n")]
                        return updated[: i + 1] + lines + updated[i + 1:]
            return None

        module = script.module.visit(BlockEditor(edit_block))
        module = ensure_top(module, TYPE_KEEPING_SCALER)
        return module, f"scale features (StandardScaler fitted on {train} only)"
