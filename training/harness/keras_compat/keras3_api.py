"""What Keras 3 changed without an error at the call, and what trial images lack (stdlib only).

``plot_model`` without pydot (a warning, no image), ``ImageDataGenerator`` and friends served from Keras 3's
legacy package, model and weight file names Keras 3 refuses (``.h5``, ``.pk1``, a ``ModelCheckpoint`` path),
the Keras 2 backend functions, ``optimizer.lr`` and ``model.metrics_names``. Each translation is recorded once on
the script's ``KerasCompat``.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Callable
from typing import Any

from training.harness.keras_compat.state import KerasCompat
from training.harness.patching import add_attribute, safe_patch


def plot_model(keras: types.ModuleType, keras3: bool, compat: KerasCompat) -> None:
    """``plot_model`` without pydot or graphviz (trial images have neither): a warning and no image, as in a
    notebook, instead of an ImportError that stops the script before it trains."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def plot_model(model: Any, to_file: str = "model.png", *args: Any, **kwargs: Any) -> Any:
            try:
                return original(model, to_file, *args, **kwargs)
            except ImportError as e:
                if "pydot" not in str(e) and "graphviz" not in str(e):
                    raise
                compat.used("plot_model without pydot", f"plot_model(to_file={to_file!r}) needs pydot and graphviz, "
                             "which the trial environment has not got: no image was drawn")
                return None

        return plot_model

    utils = keras.utils
    if callable(getattr(utils, "plot_model", None)):
        add_attribute(utils, "plot_model", make(utils.plot_model))


def preprocessing(keras: types.ModuleType, keras3: bool, compat: KerasCompat) -> None:
    """Keras 3 keeps ``ImageDataGenerator`` and friends only in ``keras.src.legacy``: serve them."""
    if not keras3:
        return
    for sub in ("image", "sequence"):
        module = importlib.import_module(f"keras.preprocessing.{sub}")
        if "__getattr__" not in vars(module):
            legacy = f"keras.src.legacy.preprocessing.{sub}"
            add_attribute(module, "__getattr__", _legacy_getattr(module.__name__, legacy, compat))


def _legacy_getattr(public: str, legacy: str, compat: KerasCompat) -> Callable[[str], Any]:
    def __getattr__(attr: str) -> Any:
        value = getattr(importlib.import_module(legacy), attr, None) if not attr.startswith("__") else None
        if value is None:
            raise AttributeError(f"module {public!r} has no attribute {attr!r}")
        compat.used(f"{public}.{attr}", f"{public}.{attr} is only in Keras 3's legacy package; used {legacy}.{attr}")
        return value

    return __getattr__


def saving(keras: types.ModuleType, keras3: bool, compat: KerasCompat) -> None:
    """Keras 3 saves only ``.keras`` / ``.h5`` models and ``.weights.h5`` weights; Keras 2 took any name."""

    def make_save(original: Callable[..., Any]) -> Callable[..., Any]:
        def save(self: Any, filepath: Any, *args: Any, **kwargs: Any) -> Any:
            path = os.fspath(filepath) if isinstance(filepath, (str, os.PathLike)) else None
            if path is None or path.endswith((".keras", ".h5", ".hdf5")):
                return original(self, filepath, *args, **kwargs)
            tmp = path + ".mlops-tmp.keras"
            result = original(self, tmp, *args, **kwargs)
            os.replace(tmp, path)
            compat.used("model.save(other extension)", f"model.save({path!r}): Keras 3 names models .keras; wrote "
                         f"the .keras format under the name given (Keras 2 wrote a TensorFlow SavedModel folder)")
            return result

        return save

    def make_save_weights(original: Callable[..., Any]) -> Callable[..., Any]:
        def save_weights(self: Any, filepath: Any, *args: Any, **kwargs: Any) -> Any:
            path = os.fspath(filepath) if isinstance(filepath, (str, os.PathLike)) else None
            if path is None or path.endswith(".weights.h5") or not path.endswith((".h5", ".hdf5")):
                return original(self, filepath, *args, **kwargs)
            import h5py
            from keras.src.legacy.saving import legacy_h5_format

            with h5py.File(path, "w") as f:
                legacy_h5_format.save_weights_to_hdf5_group(f, self)
            compat.used("model.save_weights(.h5)", f"model.save_weights({path!r}): wrote Keras 2's HDF5 weights "
                         "format (Keras 3 writes only .weights.h5 files, and still reads this one)")
            return None

        return save_weights

    def make_checkpoint_init(original: Callable[..., Any]) -> Callable[..., Any]:
        def __init__(self: Any, filepath: Any, *args: Any, **kwargs: Any) -> None:
            path = os.fspath(filepath)
            weights_only = kwargs.get("save_weights_only", args[4] if len(args) > 4 else False)
            ok = path.endswith(".weights.h5") if weights_only else path.endswith((".keras", ".h5"))
            if ok:
                return original(self, filepath, *args, **kwargs)
            original(self, path + (".weights.h5" if weights_only else ".keras"), *args, **kwargs)
            self.filepath = path
            compat.used("ModelCheckpoint(filepath)", f"ModelCheckpoint({path!r}): Keras 3 refuses that file name; "
                         f"kept it (saved as Keras 2 would: {'HDF5 weights' if weights_only else 'an HDF5 model'})")

        return __init__

    safe_patch(keras.Model, "save", make_save)
    safe_patch(keras.Model, "save_weights", make_save_weights)
    safe_patch(keras.callbacks.ModelCheckpoint, "__init__", make_checkpoint_init)


def keras3_semantics(keras: types.ModuleType, keras3: bool, compat: KerasCompat) -> None:
    """What Keras 3 renamed or moved without an error at the call: backend functions, ``optimizer.lr``, and
    ``model.metrics_names`` (``['loss', 'compile_metrics']`` instead of the metric names)."""
    backend = keras.backend
    if "__getattr__" not in vars(backend):
        def set_value(x: Any, value: Any) -> None:  # the legacy one expects a tf.Variable
            x.assign(value)

        def get_value(x: Any) -> Any:
            return keras.ops.convert_to_numpy(x)

        own = {"set_value": set_value, "get_value": get_value}

        def __getattr__(attr: str) -> Any:
            legacy = importlib.import_module("keras.src.legacy.backend")
            value = own.get(attr) or (getattr(legacy, attr, None) if not attr.startswith("__") else None)
            if value is None:
                raise AttributeError(f"module {backend.__name__!r} has no attribute {attr!r}")
            compat.used("keras.backend legacy functions", f"keras.backend.{attr} (and the other Keras 2 backend "
                         "functions) are only in Keras 3's legacy package; used keras.src.legacy.backend")
            return value

        add_attribute(backend, "__getattr__", __getattr__)

    base = keras.optimizers.Optimizer
    if not hasattr(base, "lr"):
        def get_lr(self: Any) -> Any:
            if not _from_library(sys._getframe(1)):  # Keras's saving walks every attribute
                compat.used("optimizer.lr", "optimizer.lr is Keras 2; used optimizer.learning_rate")
            return self.learning_rate

        def set_lr(self: Any, value: Any) -> None:
            compat.used("optimizer.lr", "optimizer.lr is Keras 2; used optimizer.learning_rate")
            self.learning_rate = value

        add_attribute(base, "lr", property(get_lr, set_lr))

    names = vars(keras.Model).get("metrics_names") or getattr(keras.Model, "metrics_names", None)
    if isinstance(names, property) and names.fget is not None:
        original = names.fget

        def metrics_names(self: Any) -> list[str]:
            found = list(original(self))
            if "compile_metrics" not in found or _from_library(sys._getframe(1)):
                return found
            expanded: list[str] = []
            for metric in self.metrics:
                inner = getattr(metric, "metrics", None) if metric.name == "compile_metrics" else None
                expanded.extend([m.name for m in inner] if inner else [metric.name])
            compat.used("Model.metrics_names", "model.metrics_names is ['loss', 'compile_metrics'] in Keras 3; "
                         f"gave the metric names, as Keras 2 did: {expanded}")
            return expanded

        add_attribute(keras.Model, "metrics_names", property(metrics_names))


def _from_library(frame: Any) -> bool:
    """Whether the code reading an attribute is Keras or TensorFlow itself, not the user's script."""
    name = frame.f_code.co_filename
    return any(f"{os.sep}{pkg}{os.sep}" in name for pkg in ("keras", "tensorflow", "tf_keras"))
