"""Keras 2's ``keras.wrappers.scikit_learn`` (``KerasClassifier``, ``KerasRegressor``), which Keras removed.

Served by ``keras_compat`` for ``from keras.wrappers.scikit_learn import KerasClassifier``. Same behaviour as
Keras 2.x: ``build_fn`` builds and compiles the model, the other keyword arguments go to whichever of
``build_fn``, ``fit``, ``predict`` or ``evaluate`` accepts them, ``score`` is the accuracy (classifier) or
the negated loss (regressor). Uses only the ``Model`` API, so it works on Keras 3 and on tf_keras.
Stdlib-only at import; numpy and scikit-learn are imported when a wrapper is built.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any


def _estimator_bases(kind: str) -> tuple[type, ...]:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    return (ClassifierMixin if kind == "classifier" else RegressorMixin, BaseEstimator)


class _BaseWrapper:
    """Keras 2's ``BaseWrapper``: ``build_fn`` plus scikit-learn parameters (``sk_params``)."""

    _estimator_type = ""

    def __init__(self, build_fn: Callable[..., Any] | None = None, **sk_params: Any) -> None:
        if build_fn is None or not callable(build_fn):
            raise ValueError(f"build_fn must be a function that returns a compiled model, but got {build_fn=}")
        self.build_fn = build_fn
        self.sk_params = sk_params

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments (scikit-learn's ``clone`` rebuilds the wrapper from them)."""
        return {**self.sk_params, "build_fn": self.build_fn}

    def set_params(self, **params: Any) -> _BaseWrapper:
        """Set ``sk_params`` (e.g. from a grid search)."""
        self.sk_params.update(params)
        return self

    def _filter(self, fn: Callable[..., Any], override: dict[str, Any] | None = None) -> dict[str, Any]:
        names = set(inspect.signature(fn).parameters)
        found = {k: v for k, v in self.sk_params.items() if k in names}
        found.update(override or {})
        return found

    def fit(self, x: Any, y: Any, **kwargs: Any) -> Any:
        """Build a new model with ``build_fn`` and fit it; returns the Keras ``History``."""
        self.model = self.build_fn(**self._filter(self.build_fn))
        fit_args = self._filter(self.model.fit, kwargs)
        return self.model.fit(x, y, **fit_args)

    def _loss_is_categorical(self) -> bool:
        loss = getattr(self.model, "loss", None)
        name = loss if isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__)
        return str(name).lower().replace("_", "") in ("categoricalcrossentropy",)


class KerasClassifier(_BaseWrapper):
    """Keras 2's scikit-learn classifier wrapper."""

    _estimator_type = "classifier"

    def fit(self, x: Any, y: Any, **kwargs: Any) -> Any:
        """Fit on ``y`` given as labels or one-hot rows, as Keras 2 accepted."""
        import numpy as np

        y = np.array(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        else:
            self.classes_ = np.unique(y)
            y = np.searchsorted(self.classes_, y)
        self.n_classes_ = len(self.classes_)
        self.model = self.build_fn(**self._filter(self.build_fn))
        if self._loss_is_categorical() and y.ndim == 1:
            y = np.eye(self.n_classes_)[y]
        return self.model.fit(x, y, **self._filter(self.model.fit, kwargs))

    def predict_proba(self, x: Any, **kwargs: Any) -> Any:
        """Class probabilities (two columns for a single sigmoid output)."""
        import numpy as np

        kwargs.setdefault("verbose", 0)
        probs = np.asarray(self.model.predict(x, **self._filter(self.model.predict, kwargs)))
        return np.hstack([1 - probs, probs]) if probs.shape[1] == 1 else probs

    def predict(self, x: Any, **kwargs: Any) -> Any:
        """The predicted class labels."""
        probs = self.predict_proba(x, **kwargs)
        return self.classes_[probs.argmax(axis=-1)]

    def score(self, x: Any, y: Any, **kwargs: Any) -> float:
        """The model's accuracy metric on ``(x, y)``, from ``model.evaluate``."""
        import numpy as np

        y = np.array(y)
        if y.ndim == 2 and y.shape[1] > 1:
            y = y.argmax(axis=1)
        y = np.searchsorted(self.classes_, y)
        if self._loss_is_categorical():
            y = np.eye(self.n_classes_)[y]
        kwargs.setdefault("verbose", 0)
        outputs = self.model.evaluate(x, y, **self._filter(self.model.evaluate, kwargs))
        outputs = outputs if isinstance(outputs, list) else [outputs]
        for name, value in zip(self.model.metrics_names, outputs, strict=False):
            if name in ("accuracy", "acc", "compile_metrics"):
                return float(value)
        raise ValueError("KerasClassifier.score needs the model compiled with metrics=['accuracy']")


class KerasRegressor(_BaseWrapper):
    """Keras 2's scikit-learn regressor wrapper."""

    _estimator_type = "regressor"

    def predict(self, x: Any, **kwargs: Any) -> Any:
        """The predictions, squeezed to one dimension for one output."""
        import numpy as np

        kwargs.setdefault("verbose", 0)
        return np.squeeze(np.asarray(self.model.predict(x, **self._filter(self.model.predict, kwargs))))

    def score(self, x: Any, y: Any, **kwargs: Any) -> float:
        """Minus the loss (greater is better, as scikit-learn expects)."""
        kwargs.setdefault("verbose", 0)
        loss = self.model.evaluate(x, y, **self._filter(self.model.evaluate, kwargs))
        return -float(loss[0] if isinstance(loss, list) else loss)


def module(name: str) -> types.ModuleType:
    """The ``keras.wrappers.scikit_learn`` module, with classes that are scikit-learn estimators."""
    mod = types.ModuleType(name, __doc__)
    for cls in (KerasClassifier, KerasRegressor):
        # scikit-learn >= 1.6 reads tags from its base classes; our get_params/set_params/score come first.
        bases = (cls, *_estimator_bases(cls._estimator_type))
        setattr(mod, cls.__name__, type(cls.__name__, bases, {"__module__": name}))
    return mod
