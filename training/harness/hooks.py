"""Hooks that observe Keras, scikit-learn and ``print`` while a user's script runs.

Only calls made from the user's own files are recorded, so the scores that
scikit-learn's cross-validation or Keras's internal validation compute are not
mistaken for the script's result.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from training.harness.capture import _HARNESS_DIR, Capture, current
from training.harness.facts import keras_facts
from training.harness.patching import hook_failed, safe_patch, when_imported

SKLEARN_METRICS = ("accuracy_score", "f1_score", "precision_score", "recall_score", "roc_auc_score",
                   "r2_score", "mean_squared_error", "mean_absolute_error", "root_mean_squared_error")


def _user_call(through: tuple[str, str] | None = None) -> Capture | None:
    """The capture of the running trial, if the current call comes from the user's code."""
    cap = current()
    if cap is not None and cap.from_user_code(through):
        return cap
    return None


# --- Keras -------------------------------------------------------------------------------------

def _keras_callback(keras: ModuleType, cap: Capture, capture_test: bool, checkpoint: Any = None,
                    history: dict[str, list[float]] | None = None) -> Any:
    class _MlopsCapture(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            try:
                cap.epoch(epoch, dict(logs or {}))
                if checkpoint is not None and history is not None:
                    for k, v in (logs or {}).items():
                        history.setdefault(k, []).append(float(v))
                    checkpoint.save(self.model, epoch, history)
            except Exception as e:
                hook_failed("recording epoch", e)

        if capture_test:
            def on_test_end(self, logs: dict | None = None) -> None:
                try:
                    for k, v in (logs or {}).items():
                        cap.record(k, v, "keras.evaluate")
                except Exception as e:
                    hook_failed("recording evaluate()", e)

    return _MlopsCapture()


def _resume(model: Any, cap: Capture, kwargs: dict) -> tuple[Any, dict[str, list[float]]]:
    """Restore this fit call's checkpoint, if a previous attempt of the trial left one."""
    from training.harness.checkpoint import FitCheckpoint

    cap.fit_calls += 1
    checkpoint = FitCheckpoint(cap.run_dir / "checkpoint" / f"fit-{cap.fit_calls}")
    restored = checkpoint.restore(model, cap.warn)
    history: dict[str, list[float]] = {}
    if restored is not None:
        epoch, history = restored
        kwargs["initial_epoch"] = epoch + 1
        cap.resumed_from.append(epoch + 1)
        for key, values in history.items():
            cap.history[key] = list(values)
        print(f"mlops harness: resuming fit at epoch {epoch + 2} from the checkpoint of epoch {epoch + 1}",
              flush=True)
    return checkpoint, history


def _with_callback(kwargs: dict, callback: Any) -> dict:
    callbacks = list(kwargs.get("callbacks") or [])
    callbacks.append(callback)
    return {**kwargs, "callbacks": callbacks}


def _install_keras(keras: ModuleType, note: Callable[[str, str], None]) -> None:
    model_cls = keras.Model

    def make_fit(original: Callable[..., Any]) -> Callable[..., Any]:
        def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
            cap = _user_call()
            if cap is None:
                return original(self, *args, **kwargs)
            if "nb_epoch" in kwargs:  # Keras 1 spelling
                kwargs["epochs"] = kwargs.pop("nb_epoch")
                note("fit(nb_epoch=)", "fit(nb_epoch=...) is Keras 1; used epochs=")
            try:
                checkpoint, history = _resume(self, cap, kwargs)
                kwargs = _with_callback(kwargs, _keras_callback(keras, cap, False, checkpoint, history))
            except Exception as e:
                hook_failed("adding the fit() callback", e)
            history = original(self, *args, **kwargs)
            try:
                cap.model, cap.model_source = self, "keras.fit"
                cap.facts = keras_facts(self, args[0] if args else kwargs.get("x"),
                                        args[1] if len(args) > 1 else kwargs.get("y"))
                for key, values in (getattr(history, "history", None) or {}).items():
                    if not values:
                        continue
                    if key.startswith("val_"):
                        cap.record(key[4:], values[-1], "keras.fit.validation")
                    else:
                        cap.record(key, values[-1], "keras.fit.training")
            except Exception as e:
                hook_failed("reading fit() history", e)
            return history

        return fit

    def make_evaluate(original: Callable[..., Any]) -> Callable[..., Any]:
        def evaluate(self: Any, *args: Any, **kwargs: Any) -> Any:
            cap = _user_call()
            if cap is None:
                return original(self, *args, **kwargs)
            try:
                kwargs = _with_callback(kwargs, _keras_callback(keras, cap, capture_test=True))
                if cap.model is None:
                    cap.model, cap.model_source = self, "keras.evaluate"
            except Exception as e:
                hook_failed("adding the evaluate() callback", e)
            return original(self, *args, **kwargs)

        return evaluate

    safe_patch(model_cls, "fit", make_fit)
    safe_patch(model_cls, "evaluate", make_evaluate)


# --- scikit-learn ------------------------------------------------------------------------------

def _outermost_scorer(estimator: Any) -> Any:
    """The object whose ``score`` the user called: a Pipeline's (or a meta-estimator's) ``score`` calls its last
    step's, and the model to keep is the Pipeline with its transforms, not that step."""
    outer = estimator
    frame = sys._getframe(1)
    marker = f"{os.sep}sklearn{os.sep}"
    while frame is not None:
        code = frame.f_code
        if code.co_name == "score" and marker in code.co_filename:
            outer = frame.f_locals.get("self", outer)
        elif not code.co_filename.startswith(_HARNESS_DIR):
            break
        frame = frame.f_back
    return outer


def _install_sklearn_base(base: ModuleType) -> None:
    for mixin, metric in ((base.ClassifierMixin, "accuracy"), (base.RegressorMixin, "r2")):
        def make_score(original: Callable[..., Any], metric: str = metric) -> Callable[..., Any]:
            def score(self: Any, *args: Any, **kwargs: Any) -> Any:
                result = original(self, *args, **kwargs)
                cap = _user_call(through=("sklearn", "score"))
                if cap is not None:
                    try:
                        cap.record(metric, result, "sklearn.score")
                        cap.model, cap.model_source = _outermost_scorer(self), "sklearn.score"
                    except Exception as e:
                        hook_failed("recording score()", e)
                return result

            return score

        safe_patch(mixin, "score", make_score)


def _install_split(model_selection: ModuleType) -> None:
    """Remember the user's ``X_train, X_test, y_train, y_test = train_test_split(X, y)``: the diagnosis scores
    the model on its training rows too (``facts.sklearn_facts``)."""
    def make_split(original: Callable[..., Any]) -> Callable[..., Any]:
        def train_test_split(*arrays: Any, **kwargs: Any) -> Any:
            result = original(*arrays, **kwargs)
            cap = _user_call()
            if cap is not None and len(arrays) == 2 and cap.split is None:
                cap.split = (result[0], result[1], result[2], result[3])
            return result

        return train_test_split

    safe_patch(model_selection, "train_test_split", make_split)


def _install_sklearn_metrics(metrics: ModuleType) -> None:
    for name in SKLEARN_METRICS:
        def make_metric(original: Callable[..., Any], name: str = name) -> Callable[..., Any]:
            def metric(*args: Any, **kwargs: Any) -> Any:
                result = original(*args, **kwargs)
                cap = _user_call()
                if cap is not None:
                    try:
                        cap.record(name, result, "sklearn.metrics")
                    except Exception as e:
                        hook_failed(f"recording {name}()", e)
                return result

            return metric

        safe_patch(metrics, name, make_metric)


# --- print -------------------------------------------------------------------------------------

def _install_print(printed: list[str]) -> None:
    def make_print(original: Callable[..., Any]) -> Callable[..., Any]:
        def print_(*args: Any, **kwargs: Any) -> None:
            original(*args, **kwargs)
            if kwargs.get("file") not in (None, sys.stdout):
                return
            cap = current()
            if cap is not None and cap.from_user_code():
                try:
                    printed.append(str(kwargs.get("sep", " ")).join(str(a) for a in args))
                except Exception as e:
                    hook_failed("reading print()", e)

        return print_

    safe_patch(builtins, "print", make_print)


def install(printed: list[str], note: Callable[[str, str], None]) -> None:
    """Install every hook; the Keras and scikit-learn ones apply when those libraries are imported.

    ``tf_keras`` is hooked too: a Keras 2 script runs on it (``keras_compat``), also when it imports only
    ``tensorflow.keras``. Keras 2 names and arguments are translated by ``keras_compat``, not here, except
    ``fit(nb_epoch=)``, which the ``fit`` hook translates and records with ``note(key, message)``.
    """
    when_imported("keras", lambda keras: _install_keras(keras, note))
    when_imported("tf_keras", lambda keras: _install_keras(keras, note))
    when_imported("sklearn.base", _install_sklearn_base)
    when_imported("sklearn.metrics", _install_sklearn_metrics)
    when_imported("sklearn.model_selection", _install_split)
    _install_print(printed)
