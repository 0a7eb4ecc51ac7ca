"""API patches for Keras 1/2 names, put on the Keras classes once Keras is imported (stdlib only).

``predict_classes``, ``predict_proba``, the ``*_generator`` methods (with Keras 1's ``samples_per_epoch=``,
``nb_val_samples=``), Keras 1 arguments (``Dense(output_dim=, init=)``, ``Convolution2D(32, 3, 3,
border_mode=)``, ``b_regularizer=``, ``Model(input=, output=)``), ``Adam(lr=)``, ``SGD(decay=)`` and
``image_dim_ordering``. Each translation is recorded once on the script's ``KerasCompat``.
"""

from __future__ import annotations

import inspect
import math
import sys
import types
from collections.abc import Callable
from typing import Any

from training.harness.keras_compat.state import KerasCompat
from training.harness.keras_markers import OPTIMIZERS
from training.harness.patching import add_attribute, safe_patch


def _set(owner: Any, name: str, value: Any, replace: bool = False) -> None:
    """Add ``owner.name`` if it is missing (or replace it), reverted with the harness patches."""
    if hasattr(owner, name) and not replace:
        return
    add_attribute(owner, name, value)


def model_methods(keras: types.ModuleType, keras3: bool, compat: KerasCompat) -> None:
    """``predict_classes``, ``predict_proba`` and the ``*_generator`` methods on ``Model``."""
    model = keras.Model
    import numpy as np

    def predict_classes(self: Any, x: Any, batch_size: int = 32, verbose: int = 0) -> Any:
        compat.used("Model.predict_classes", "model.predict_classes() was removed from Keras; used "
                     "argmax of model.predict() (0/1 at 0.5 for one output), as Keras 2 did")
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        return proba.argmax(axis=-1) if proba.shape[-1] > 1 else (proba > 0.5).astype("int32")

    def predict_proba(self: Any, x: Any, batch_size: int = 32, verbose: int = 0) -> Any:
        compat.used("Model.predict_proba", "model.predict_proba() was removed from Keras; used model.predict()")
        return np.asarray(self.predict(x, batch_size=batch_size, verbose=verbose))

    _set(model, "predict_classes", predict_classes)
    _set(model, "predict_proba", predict_proba)
    # tf_keras has the *_generator methods, but they call fit/evaluate from inside Keras, where the harness
    # does not look for the user's calls: these call them as the user's script would.
    for name, target in (("fit_generator", "fit"), ("evaluate_generator", "evaluate"),
                         ("predict_generator", "predict")):
        _set(model, name, _generator_method(name, target, keras3, compat), replace=True)


_GEN_POSITIONAL = {
    "fit": ("steps_per_epoch", "epochs", "verbose", "callbacks", "validation_data", "validation_steps",
            "validation_freq", "class_weight", "max_queue_size", "workers", "use_multiprocessing", "shuffle",
            "initial_epoch"),
    "evaluate": ("steps", "callbacks", "max_queue_size", "workers", "use_multiprocessing", "verbose"),
    "predict": ("steps", "callbacks", "max_queue_size", "workers", "use_multiprocessing", "verbose"),
}
_QUEUE_ARGS = ("max_queue_size", "workers", "use_multiprocessing")


def _generator_method(name: str, target: str, keras3: bool, compat: KerasCompat) -> Callable[..., Any]:
    def method(self: Any, generator: Any, *args: Any, **kwargs: Any) -> Any:
        if keras3:  # tf_keras's own method makes this very call: nothing to report there
            compat.used(f"Model.{name}", f"model.{name}() was removed in Keras 3; called model.{target}() with "
                         "the generator, as Keras 2 did")
        kwargs.update(zip(_GEN_POSITIONAL[target], args, strict=False))
        if target != "fit":
            kwargs.setdefault("verbose", 0)  # Keras 2's default for evaluate/predict_generator
        keras1_generator_args(kwargs, generator, compat)
        if keras3:
            dropped = [k for k in _QUEUE_ARGS if k in kwargs]
            for k in dropped:
                kwargs.pop(k)
            if dropped:
                compat.used(f"{name}({dropped[0]}=)", f"{name}({', '.join(d + '=' for d in dropped)}) are Keras 2 "
                             "loading options that Keras 3 has not got; ignored them (they change speed, not results)")
        return getattr(self, target)(generator, **kwargs)

    method.__name__ = name
    return method


def _batches(samples: int, generator: Any, arg: str) -> int:
    size = getattr(generator, "batch_size", None)
    if not isinstance(size, int) or size < 1:
        raise TypeError(f"{arg}={samples} is a Keras 1 argument counted in samples; give steps (batches) "
                        f"instead: the generator has no batch_size to convert it")
    return math.ceil(samples / size)


def keras1_generator_args(kwargs: dict[str, Any], generator: Any, compat: KerasCompat) -> None:
    """``fit_generator``'s Keras 1 arguments (``nb_epoch=``, and counts of samples turned into steps of the
    generator's ``batch_size``) as today's ``fit`` takes them (``kwargs`` is changed in place).

    Raises:
        TypeError: A count of samples, but the generator has no ``batch_size`` to turn it into steps.
    """
    if "nb_epoch" in kwargs:
        kwargs["epochs"] = kwargs.pop("nb_epoch")
        compat.used("fit_generator(nb_epoch=)", "fit_generator(nb_epoch=) is Keras 1; used epochs=")
    if "samples_per_epoch" in kwargs:
        samples = kwargs.pop("samples_per_epoch")
        kwargs["steps_per_epoch"] = _batches(samples, generator, "samples_per_epoch")
        compat.used("fit_generator(samples_per_epoch=)", f"fit_generator(samples_per_epoch={samples}) is Keras 1; "
                     f"used steps_per_epoch={kwargs['steps_per_epoch']} (samples / the generator's batch size)")
    if "nb_val_samples" in kwargs:
        samples = kwargs.pop("nb_val_samples")
        kwargs["validation_steps"] = _batches(samples, kwargs.get("validation_data"), "nb_val_samples")
        compat.used("fit_generator(nb_val_samples=)", f"fit_generator(nb_val_samples={samples}) is Keras 1; used "
                     f"validation_steps={kwargs['validation_steps']}")


# Keras 1 argument names -> Keras 2/3 names, per layer family (from Keras 2.3's legacy interfaces).
_WEIGHTS = {"init": "kernel_initializer", "W_regularizer": "kernel_regularizer", "b_regularizer":
            "bias_regularizer", "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint",
            "bias": "use_bias"}
_RENAMES = {
    "Dense": {"output_dim": "units", **_WEIGHTS},
    "Conv": {"nb_filter": "filters", "subsample": "strides", "border_mode": "padding",
             "dim_ordering": "data_format", "filter_length": "kernel_size", "atrous_rate": "dilation_rate",
             **_WEIGHTS},
    "Pooling": {"border_mode": "padding", "dim_ordering": "data_format", "pool_length": "pool_size",
                "stride": "strides"},
    "Dropout": {"p": "rate"},
}
_FAMILIES = {"Dense": "Dense", "Conv1D": "Conv", "Conv2D": "Conv", "Conv3D": "Conv", "SeparableConv2D": "Conv",
             "Conv2DTranspose": "Conv", "MaxPooling1D": "Pooling", "MaxPooling2D": "Pooling",
             "MaxPooling3D": "Pooling", "AveragePooling1D": "Pooling", "AveragePooling2D": "Pooling",
             "AveragePooling3D": "Pooling", "Dropout": "Dropout"}
_ORDERING = {"tf": "channels_last", "th": "channels_first"}


def layer_arguments(keras: types.ModuleType, keras3: bool, compat: KerasCompat) -> None:
    """Keras 1 arguments of layers (``Dense(output_dim=)``, ``Convolution2D(32, 3, 3)``) and ``Model(input=)``."""
    for cls_name in _FAMILIES:
        cls = getattr(keras.layers, cls_name, None)
        if isinstance(cls, type):
            safe_patch(cls, "__init__", _keras1_init(cls_name, compat))
    functional = sys.modules.get("keras.src.models.functional" if keras3 else "tf_keras.src.engine.functional")
    safe_patch(keras.Model, "__new__", _model_new(compat))
    safe_patch(keras.Model, "__init__", _model_init(compat))
    if functional is not None:
        safe_patch(functional.Functional, "__init__", _model_init(compat))


def keras1_layer_args(cls_name: str, args: tuple, kwargs: dict[str, Any], compat: KerasCompat) -> tuple:
    """A layer's Keras 1 arguments as today's Keras takes them (``kwargs`` is changed in place).

    Args:
        cls_name: The layer class (``Dense``, ``Conv2D``, ``MaxPooling2D``, ``Dropout``, ...).
        args: Its positional arguments; ``Convolution2D(32, 3, 3)`` gives the kernel as two of them.
        kwargs: Its keyword arguments (``output_dim=``, ``border_mode=``, ``b_regularizer=``, ...).
        compat: Where each translation is recorded.

    Returns:
        The positional arguments to pass on.
    """
    family = _FAMILIES[cls_name]
    if family == "Conv":
        args = _conv_kernel(cls_name, args, kwargs, compat)
    for old, new in _RENAMES[family].items():
        if old in kwargs and new not in kwargs:
            value = kwargs.pop(old)
            kwargs[new] = _ORDERING.get(value, value) if old == "dim_ordering" else value
            compat.used(f"{cls_name}({old}=)", f"{cls_name}({old}=...) is Keras 1; used {new}=")
    return args


def _keras1_init(cls_name: str, compat: KerasCompat) -> Callable[..., Any]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            args = keras1_layer_args(cls_name, args, kwargs, compat)
            original(self, *args, **kwargs)

        # Keras 3 reads the signature of __init__ to record a layer's config: show it the original one.
        __init__.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]
        return __init__

    return make


def _conv_kernel(cls_name: str, args: tuple, kwargs: dict[str, Any], compat: KerasCompat) -> tuple:
    """Keras 1's ``Convolution2D(filters, nb_row, nb_col)``: the kernel given as separate numbers."""
    dims = {"Conv1D": 1, "Conv3D": 3}.get(cls_name, 2)
    if dims == 1:
        return args
    names = ("nb_row", "nb_col") if dims == 2 else ("kernel_dim1", "kernel_dim2", "kernel_dim3")
    if len(args) == 1 + dims and all(isinstance(a, int) for a in args[1:]) and "kernel_size" not in kwargs:
        kernel = tuple(args[1:])
        args = args[:1]
    elif all(n in kwargs for n in names):
        kernel = tuple(kwargs.pop(n) for n in names)
    else:
        return args
    kwargs["kernel_size"] = kernel
    shown = ", ".join(str(k) for k in kernel)
    compat.used(f"{cls_name}(filters, {', '.join(names)})",
                 f"{cls_name}(filters, {shown}) is the Keras 1 signature; used kernel_size=({shown}) "
                 f"(today's Keras would read the numbers after the kernel as strides)")
    return args


def keras1_model_kwargs(kwargs: dict[str, Any], compat: KerasCompat) -> dict[str, Any]:
    """``Model(input=, output=)`` of Keras 1 as ``inputs=``, ``outputs=`` (a new dict when changed)."""
    for old, new in (("input", "inputs"), ("output", "outputs")):
        if old in kwargs and new not in kwargs:
            kwargs = {**kwargs}
            kwargs[new] = kwargs.pop(old)
            compat.used(f"Model({old}=)", f"Model({old}=...) is Keras 1; used {new}=")
    return kwargs


def _model_new(compat: KerasCompat) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
            return original(cls, *args, **keras1_model_kwargs(kwargs, compat))

        return __new__

    return make


def _model_init(compat: KerasCompat) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **keras1_model_kwargs(kwargs, compat))

        __init__.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]
        return __init__

    return make


def optimizers(keras: types.ModuleType, keras3: bool, compat: KerasCompat) -> None:
    """``lr=`` (tf_keras ignores it, Keras 3 refuses it) and a non-zero ``decay=`` (dropped by both)."""
    schedules = keras.optimizers.schedules

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            name = type(self).__name__
            if "lr" in kwargs:
                lr = kwargs.pop("lr")
                if "learning_rate" not in kwargs:
                    kwargs["learning_rate"] = lr
                compat.used(f"{name}(lr=)", f"{name}(lr=...) is Keras 2; used learning_rate=")
            decay = kwargs.pop("decay", None)
            if decay:
                rate = kwargs.get("learning_rate", 0.01 if name == "SGD" else 0.001)
                kwargs["learning_rate"] = schedules.InverseTimeDecay(rate, decay_steps=1, decay_rate=decay)
                compat.used(f"{name}(decay=)", f"{name}(decay={decay}) is Keras 2; used "
                             f"InverseTimeDecay(decay_steps=1, decay_rate={decay}), Keras 2's lr / (1 + decay * step)")
            original(self, *args, **kwargs)

        return __init__

    for name in sorted(OPTIMIZERS):
        cls = getattr(keras.optimizers, name, None)
        if isinstance(cls, type):
            safe_patch(cls, "__init__", make)


def backend(keras: types.ModuleType, keras3: bool, compat: KerasCompat) -> None:
    """``image_dim_ordering`` and, on tf_keras, ``set_session``/``get_session`` of TensorFlow 1."""
    backend = keras.backend

    def image_dim_ordering() -> str:
        compat.used("backend.image_dim_ordering", "backend.image_dim_ordering() is Keras 1; "
                     "answered from image_data_format()")
        return "th" if backend.image_data_format() == "channels_first" else "tf"

    def set_image_dim_ordering(ordering: str) -> None:
        if ordering not in _ORDERING:
            raise ValueError(f"set_image_dim_ordering() takes 'tf' or 'th', but got {ordering!r}")
        compat.used("backend.set_image_dim_ordering", f"backend.set_image_dim_ordering({ordering!r}) is Keras 1; "
                     f"used set_image_data_format({_ORDERING[ordering]!r})")
        backend.set_image_data_format(_ORDERING[ordering])

    _set(backend, "image_dim_ordering", image_dim_ordering)
    _set(backend, "set_image_dim_ordering", set_image_dim_ordering)
    if not keras3:  # Keras 2 scripts: K.set_session(tf.Session(config=...)) set threads or GPU memory
        from training.harness import tf1_compat

        _set(backend, "set_session", tf1_compat.set_session(compat.used), replace=True)
        _set(backend, "get_session", tf1_compat.get_session(compat.used), replace=True)
