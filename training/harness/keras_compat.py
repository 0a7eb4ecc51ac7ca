"""Run 2020-era Keras 2 scripts unchanged on today's TensorFlow, reporting every translation (stdlib only).

``install(keras_api, warn)`` runs before the user's script. For a script written for Keras 2
(``keras_api == 2``, see ``keras_api_of``) it redirects ``keras`` and ``keras.*`` to ``tf_keras`` (Keras 2
itself, maintained by the TensorFlow team) and sets ``TF_USE_LEGACY_KERAS=1`` so that ``tensorflow.keras``
is the same Keras 2; any other script keeps Keras 3. On top of either, shims supply what both lost:

* module paths, by an import hook: ``keras.utils.np_utils`` / ``vis_utils`` / ``generic_utils`` / ``data_utils``,
  ``keras.layers.convolutional`` / ``core`` / ``pooling`` / ``normalization`` / ..., ``keras.engine``,
  ``keras.objectives``, ``keras.backend.tensorflow_backend``, ``keras_preprocessing``, and on Keras 3
  ``ImageDataGenerator`` (``plot_model`` without pydot warns and draws nothing);
* for Keras 2 scripts, the TensorFlow 1 calls they make around the model (``tf1_compat``);
* API, patched on the classes once Keras is imported: ``predict_classes``, ``predict_proba``, the
  ``*_generator`` methods, Keras 1 arguments (``Dense(output_dim=, init=)``, ``Convolution2D(32, 3, 3,
  border_mode=)``, ``Model(input=, output=)``), ``Adam(lr=)``, ``SGD(decay=)``, ``image_dim_ordering`` and,
  on Keras 3, ``.h5`` / ``.pk1`` file names.

Each translation calls ``warn`` once with what it did and is listed by ``applied()``; nothing changes
silently. Patches go through ``training.harness.patching`` so ``revert_patches`` undoes them.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import math
import os
import sys
import types
from collections.abc import Callable
from typing import Any

from training.harness.patching import add_attribute, hook_failed, safe_patch, when_imported

#: ``keras.layers.<name>`` modules of Keras 1/2 whose classes now live in ``keras.layers``.
LAYER_MODULES = ("convolutional", "core", "pooling", "normalization", "advanced_activations", "recurrent",
                 "embeddings", "merge", "noise", "local", "wrappers", "convolutional_recurrent", "cudnn_recurrent")

_applied: list[str] = []
_warn: Callable[[str], None] = lambda message: print(f"keras compat: {message}", file=sys.stderr)  # noqa: E731
_redirect = False
_done: set[int] = set()


def install(keras_api: int | None, warn: Callable[[str], None]) -> None:
    """Prepare the import system for the user's script; call it before ``hooks.install``.

    Args:
        keras_api: 2 for a script written for Keras 2 (then ``keras`` is ``tf_keras``), 3 or ``None`` to keep
            Keras 3. The redirect needs ``tf_keras`` installed and neither Keras nor TensorFlow imported yet
            (TensorFlow may be, when it was imported with ``TF_USE_LEGACY_KERAS=1``); otherwise the script runs
            on Keras 3 and ``warn`` says why.
        warn: Called once per translation with a one-line message (the harness records it in the trial).
    """
    global _warn, _redirect
    _warn = warn
    _applied.clear()
    _done.clear()
    _redirect = False
    if keras_api == 2:
        legacy = os.environ.get("TF_USE_LEGACY_KERAS") == "1"  # TensorFlow imported that way (a warm zygote)
        loaded = [name for name in ("keras", "tensorflow") if name in sys.modules
                  and not (name == "tensorflow" and legacy)]
        if loaded:
            warn(f"Keras 2 script, but {loaded[0]} was imported before the harness: it runs on Keras 3")
        elif importlib.machinery.PathFinder.find_spec("tf_keras") is None:
            warn("Keras 2 script, but tf-keras is not installed in this environment: it runs on Keras 3")
        else:
            _redirect = True
            os.environ["TF_USE_LEGACY_KERAS"] = "1"
            _used("keras -> tf_keras", "Keras 2 script: `keras` and `tensorflow.keras` are tf_keras "
                  "(Keras 2, from the tf-keras package)")
    if _FINDER not in sys.meta_path:
        from training.harness import patching

        after = sys.meta_path.index(patching._FINDER) + 1 if patching._FINDER in sys.meta_path else 0
        sys.meta_path.insert(after, _FINDER)
    when_imported("keras", _install_api)
    when_imported("tf_keras", _install_api)
    if keras_api == 2:
        when_imported("tensorflow", _install_tf1)


def _install_tf1(tf: types.ModuleType) -> None:
    from training.harness import tf1_compat

    try:
        tf1_compat.install(tf, _used)
    except Exception as e:
        hook_failed("installing the TensorFlow 1 shims", e)


def uninstall() -> None:
    """Remove the import hook (patches are undone by ``revert_patches``)."""
    global _redirect
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    if _redirect:
        os.environ.pop("TF_USE_LEGACY_KERAS", None)
    _redirect = False


def applied() -> list[str]:
    """The shims the script actually used, in the order of first use (for the trial record)."""
    return list(_applied)


def redirected() -> bool:
    """Whether ``keras`` is ``tf_keras`` in this process."""
    return _redirect


def model_classes() -> tuple[type, ...]:
    """The ``Model`` classes of the Keras packages imported so far (Keras 3's and/or tf_keras's)."""
    found = []
    for name in ("keras", "tf_keras"):
        module = sys.modules.get(name)
        cls = getattr(module, "Model", None)
        if isinstance(cls, type) and cls not in found:
            found.append(cls)
    return tuple(found)


def note(key: str, message: str) -> None:
    """Record a translation made elsewhere (the harness's ``fit`` hook): warn once, list it in ``applied()``."""
    _used(key, message)


def _used(key: str, message: str) -> None:
    if key not in _applied:
        _applied.append(key)
        _warn(message)


# --- which Keras a script was written for ---------------------------------------------------------

_K2_MODULES = {f"keras.layers.{m}" for m in LAYER_MODULES} | {"keras.utils.np_utils", "keras_preprocessing",
                                                              "keras.wrappers.scikit_learn", "keras.engine",
                                                              "keras.utils.vis_utils", "keras.utils.generic_utils",
                                                              "keras.utils.data_utils", "keras.objectives",
                                                              "keras.callbacks.callbacks", "keras.legacy",
                                                              "keras.backend.tensorflow_backend"}
#: ``tf.<name>`` of TensorFlow 1 that Keras 2 scripts call (``tf1_compat``): they make a script a Keras 2 one.
_TF1_ATTRS = {"set_random_seed", "Session", "ConfigProto", "GPUOptions", "global_variables_initializer", "logging",
              "get_default_graph", "placeholder"}
_K2_METHODS = {"fit_generator", "evaluate_generator", "predict_generator", "predict_classes", "predict_proba",
               "set_image_dim_ordering", "image_dim_ordering"}
#: Keras 2 methods that scikit-learn estimators have too: a Keras 2 sign only in a script that imports Keras.
_SKLEARN_TOO = {"predict_proba"}
_K2_KWARGS = {"nb_epoch", "border_mode", "init", "output_dim", "nb_filter", "subsample", "samples_per_epoch",
              "nb_val_samples", "W_regularizer", "dim_ordering"}
_OPTIMIZERS = {"SGD", "RMSprop", "Adam", "Adamax", "Nadam", "Adagrad", "Adadelta", "Ftrl"}
_K3_MODULES = ("keras.ops", "keras.config", "keras.random", "keras.src", "keras_core", "keras.tree")


def keras_api_of(source: str) -> int | None:
    """The Keras major version a script was written for, from its code (no imports run).

    Returns:
        2 when it uses names or arguments that only Keras 1/2 have (``np_utils``, ``fit_generator``,
        ``Adam(lr=)``, ``ImageDataGenerator``, ...) and nothing only Keras 3 has (``keras.ops``, a ``.keras``
        file); 3 when it uses Keras 3 names; ``None`` when nothing tells (it then runs on Keras 3).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    k2 = k3 = False
    tf_names = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for a in node.names if a.name == "tensorflow"}
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names} | {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    any_keras = any(m.split(".")[0] in ("keras", "tensorflow", "tf_keras") for m in imported)
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            k2 |= any(a.name in ("np_utils", "ImageDataGenerator") for a in node.names)
        for name in modules:
            bare = name.removeprefix("tensorflow.")
            k2 |= bare in _K2_MODULES or bare.startswith("keras_preprocessing")
            k3 |= any(bare == m or bare.startswith(m + ".") for m in _K3_MODULES)
        if isinstance(node, ast.Attribute):
            k2 |= node.attr in _K2_METHODS and (any_keras or node.attr not in _SKLEARN_TOO)
            k2 |= node.attr in ("np_utils", "ImageDataGenerator")
            k2 |= node.attr in _TF1_ATTRS and isinstance(node.value, ast.Name) and node.value.id in tf_names
            k2 |= node.attr in ("set_session", "get_session")
            k3 |= node.attr in ("ops", "config") and isinstance(node.value, ast.Name) and node.value.id == "keras"
        if isinstance(node, ast.Call):
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            words = {k.arg for k in node.keywords if k.arg}
            k2 |= bool(words & _K2_KWARGS)
            k2 |= fname in _OPTIMIZERS and bool(words & {"lr", "decay"})
            k2 |= fname == "Model" and bool(words & {"input", "output"})
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            k3 |= node.value.endswith((".keras", ".weights.h5")) and " " not in node.value
    if k3:
        return 3
    return 2 if k2 else None


# --- the import hook ------------------------------------------------------------------------------

def _active() -> types.ModuleType:
    """The Keras package the script's ``keras`` means (imports it when needed)."""
    return importlib.import_module("tf_keras" if _redirect else "keras")


class _Loader(importlib.abc.Loader):
    """Gives an existing or made-up module for an import; keeps a real module's own ``__spec__``."""

    def __init__(self, make: Callable[[], types.ModuleType]) -> None:
        self._make = make
        self._spec: Any = None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = self._make()
        self._spec = getattr(module, "__spec__", None)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        if self._spec is not None:  # an alias: importlib overwrote __spec__ with ours
            module.__spec__ = self._spec


class _ShimModule(types.ModuleType):
    """A removed module path whose names come from where Keras keeps them now."""

    def __init__(self, name: str, sources: list[Callable[[], Any]]) -> None:
        super().__init__(name)
        self.__path__: list[str] = []  # a package, so that ``keras_preprocessing.image`` imports
        self._sources = sources

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        for source in self._sources:
            value = getattr(source(), attr, None)
            if value is not None:
                return value
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r} (a Keras compat shim)")


def _legacy_image() -> Any:
    if _redirect:
        return importlib.import_module("tf_keras.preprocessing.image")
    return importlib.import_module("keras.src.legacy.preprocessing.image")


#: Keras 2 module paths that Keras 3 and tf_keras's public API dropped -> where their names are now (attributes
#: of the active Keras package, in order; ``tf1`` is ``set_session``/``get_session`` of ``tf1_compat``).
_MOVED: dict[str, tuple[str, ...]] = {
    "keras.utils.np_utils": ("utils",),
    "keras.utils.vis_utils": ("utils",),  # plot_model, model_to_dot
    "keras.utils.generic_utils": ("utils",),  # get_custom_objects, CustomObjectScope, Progbar, to_list...
    "keras.utils.data_utils": ("utils",),  # get_file, Sequence
    "keras.utils.io_utils": ("utils",),
    "keras.utils.layer_utils": ("utils",),
    "keras.engine": ("layers", "models", ""),  # Layer, InputSpec, Input, Model, Sequential
    "keras.engine.topology": ("layers", "models", ""),
    "keras.engine.base_layer": ("layers",),
    "keras.engine.input_layer": ("layers", ""),
    "keras.engine.training": ("models", ""),
    "keras.engine.sequential": ("models",),
    "keras.objectives": ("losses",),  # Keras 1's name of losses
    "keras.callbacks.callbacks": ("callbacks",),  # Keras 2.3
    "keras.backend.tensorflow_backend": ("tf1", "backend"),  # set_session, get_session, and the backend
}


def _where(place: str) -> Callable[[], Any]:
    """The object a moved module's names come from (looked up when a name is asked for)."""
    if place == "tf1":
        from training.harness import tf1_compat

        extras = types.SimpleNamespace(set_session=tf1_compat.set_session(_used),
                                       get_session=tf1_compat.get_session(_used))
        return lambda: extras
    return lambda: getattr(_active(), place) if place else _active()


def _shim(fullname: str) -> types.ModuleType | None:
    """The made-up module for a removed path, or ``None``."""
    parts = fullname.split(".")
    if fullname == "keras.preprocessing.text" and not _redirect:  # Keras 3 keeps Tokenizer only in legacy
        return _ShimModule(fullname, [lambda: importlib.import_module("keras.src.legacy.preprocessing.text")])
    if fullname == "keras.wrappers" and _redirect:  # tf_keras has no wrappers package at all
        return _ShimModule(fullname, [])
    if fullname == "keras.wrappers.scikit_learn":
        from training.harness import keras2_sklearn

        return keras2_sklearn.module(fullname)  # type: ignore[return-value]
    if fullname in _MOVED:
        return _ShimModule(fullname, [_where(place) for place in _MOVED[fullname]])
    if len(parts) == 3 and parts[:2] == ["keras", "layers"] and parts[2] in LAYER_MODULES:
        return _ShimModule(fullname, [lambda: _active().layers])
    if parts[0] == "keras_preprocessing" and len(parts) <= 2:
        sub = parts[1] if len(parts) == 2 else ""
        if sub == "image":
            return _ShimModule(fullname, [lambda: _active().preprocessing.image, _legacy_image])
        return _ShimModule(fullname, [lambda: importlib.import_module(
            ".".join(filter(None, (_active().__name__, "preprocessing", sub))))])
    return None


class _CompatFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        top = fullname.partition(".")[0]
        if top not in ("keras", "keras_preprocessing", "tf_keras"):
            return None
        if top == "tf_keras":  # `from keras.utils import np_utils` asks for tf_keras.utils.np_utils when redirected
            if not _redirect or importlib.machinery.PathFinder.find_spec(fullname, path) is not None:
                return None
            fullname, alias = "keras" + fullname[len("tf_keras"):], fullname
        else:
            alias = fullname
        try:
            if _redirect and top == "keras":
                real = "tf_keras" + fullname[len("keras"):]
                if _exists(real):
                    return importlib.machinery.ModuleSpec(
                        fullname, _Loader(lambda: importlib.import_module(real)), is_package=True)
            if importlib.machinery.PathFinder.find_spec(fullname, path) is not None:
                return None  # it exists: the real module wins
            module = _shim(fullname)
        except Exception as e:
            hook_failed(f"Keras compat import of {fullname}", e)
            return None
        if module is None:
            return None
        key = f"import {fullname}"
        _used(key, f"`{fullname}` was removed from Keras; served its names from "
                   f"{_active_name()}{'' if 'preprocessing' not in fullname else ' (preprocessing)'}")
        return importlib.machinery.ModuleSpec(alias, _Loader(lambda: module), is_package=True)


def _exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _active_name() -> str:
    return "tf_keras" if _redirect else "keras"


_FINDER = _CompatFinder()


# --- API shims, once Keras is imported ------------------------------------------------------------

def _install_api(keras: types.ModuleType) -> None:
    if id(keras) in _done:
        return
    _done.add(id(keras))
    keras3 = keras.__name__ == "keras" and keras.__version__.startswith("3")
    for install_part in (_model_methods, _layer_arguments, _optimizers, _backend, _preprocessing, _plot_model):
        try:
            install_part(keras, keras3)
        except Exception as e:
            hook_failed(f"installing Keras compat {install_part.__name__.strip('_')}", e)
    if keras3:
        _saving(keras)
        _keras3_semantics(keras)


def _set(owner: Any, name: str, value: Any, replace: bool = False) -> None:
    """Add ``owner.name`` if it is missing (or replace it), reverted with the harness patches."""
    if hasattr(owner, name) and not replace:
        return
    add_attribute(owner, name, value)


def _model_methods(keras: types.ModuleType, keras3: bool) -> None:
    model = keras.Model
    import numpy as np

    def predict_classes(self: Any, x: Any, batch_size: int = 32, verbose: int = 0) -> Any:
        _used("Model.predict_classes", "model.predict_classes() was removed from Keras; used "
              "argmax of model.predict() (0/1 at 0.5 for one output), as Keras 2 did")
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        return proba.argmax(axis=-1) if proba.shape[-1] > 1 else (proba > 0.5).astype("int32")

    def predict_proba(self: Any, x: Any, batch_size: int = 32, verbose: int = 0) -> Any:
        _used("Model.predict_proba", "model.predict_proba() was removed from Keras; used model.predict()")
        return np.asarray(self.predict(x, batch_size=batch_size, verbose=verbose))

    _set(model, "predict_classes", predict_classes)
    _set(model, "predict_proba", predict_proba)
    # tf_keras has the *_generator methods, but they call fit/evaluate from inside Keras, where the harness
    # does not look for the user's calls: these call them as the user's script would.
    for name, target in (("fit_generator", "fit"), ("evaluate_generator", "evaluate"),
                         ("predict_generator", "predict")):
        _set(model, name, _generator_method(name, target, keras3), replace=True)


_GEN_POSITIONAL = {
    "fit": ("steps_per_epoch", "epochs", "verbose", "callbacks", "validation_data", "validation_steps",
            "validation_freq", "class_weight", "max_queue_size", "workers", "use_multiprocessing", "shuffle",
            "initial_epoch"),
    "evaluate": ("steps", "callbacks", "max_queue_size", "workers", "use_multiprocessing", "verbose"),
    "predict": ("steps", "callbacks", "max_queue_size", "workers", "use_multiprocessing", "verbose"),
}
_QUEUE_ARGS = ("max_queue_size", "workers", "use_multiprocessing")


def _generator_method(name: str, target: str, keras3: bool) -> Callable[..., Any]:
    def method(self: Any, generator: Any, *args: Any, **kwargs: Any) -> Any:
        if keras3:  # tf_keras's own method makes this very call: nothing to report there
            _used(f"Model.{name}", f"model.{name}() was removed in Keras 3; called model.{target}() with "
                  "the generator, as Keras 2 did")
        kwargs.update(zip(_GEN_POSITIONAL[target], args, strict=False))
        if target != "fit":
            kwargs.setdefault("verbose", 0)  # Keras 2's default for evaluate/predict_generator
        _keras1_generator_args(kwargs, generator)
        if keras3:
            dropped = [k for k in _QUEUE_ARGS if k in kwargs]
            for k in dropped:
                kwargs.pop(k)
            if dropped:
                _used(f"{name}({dropped[0]}=)", f"{name}({', '.join(d + '=' for d in dropped)}) are Keras 2 "
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


def _keras1_generator_args(kwargs: dict[str, Any], generator: Any) -> None:
    if "nb_epoch" in kwargs:
        kwargs["epochs"] = kwargs.pop("nb_epoch")
        _used("fit_generator(nb_epoch=)", "fit_generator(nb_epoch=) is Keras 1; used epochs=")
    if "samples_per_epoch" in kwargs:
        samples = kwargs.pop("samples_per_epoch")
        kwargs["steps_per_epoch"] = _batches(samples, generator, "samples_per_epoch")
        _used("fit_generator(samples_per_epoch=)", f"fit_generator(samples_per_epoch={samples}) is Keras 1; "
              f"used steps_per_epoch={kwargs['steps_per_epoch']} (samples / the generator's batch size)")
    if "nb_val_samples" in kwargs:
        samples = kwargs.pop("nb_val_samples")
        kwargs["validation_steps"] = _batches(samples, kwargs.get("validation_data"), "nb_val_samples")
        _used("fit_generator(nb_val_samples=)", f"fit_generator(nb_val_samples={samples}) is Keras 1; used "
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


def _layer_arguments(keras: types.ModuleType, keras3: bool) -> None:
    for cls_name, family in _FAMILIES.items():
        cls = getattr(keras.layers, cls_name, None)
        if isinstance(cls, type):
            safe_patch(cls, "__init__", _keras1_init(cls_name, _RENAMES[family], family == "Conv"))
    functional = sys.modules.get("keras.src.models.functional" if keras3 else "tf_keras.src.engine.functional")
    safe_patch(keras.Model, "__new__", _model_new)
    safe_patch(keras.Model, "__init__", _model_init)
    if functional is not None:
        safe_patch(functional.Functional, "__init__", _model_init)


def _keras1_init(cls_name: str, renames: dict[str, str], conv: bool) -> Callable[..., Any]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if conv:
                args = _conv_kernel(cls_name, args, kwargs)
            for old, new in renames.items():
                if old in kwargs and new not in kwargs:
                    value = kwargs.pop(old)
                    kwargs[new] = _ORDERING.get(value, value) if old == "dim_ordering" else value
                    _used(f"{cls_name}({old}=)", f"{cls_name}({old}=...) is Keras 1; used {new}=")
            original(self, *args, **kwargs)

        # Keras 3 reads the signature of __init__ to record a layer's config: show it the original one.
        __init__.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]
        return __init__

    return make


def _conv_kernel(cls_name: str, args: tuple, kwargs: dict[str, Any]) -> tuple:
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
    _used(f"{cls_name}(filters, {', '.join(names)})",
          f"{cls_name}(filters, {shown}) is the Keras 1 signature; used kernel_size=({shown}) "
          f"(today's Keras would read the numbers after the kernel as strides)")
    return args


def _model_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    for old, new in (("input", "inputs"), ("output", "outputs")):
        if old in kwargs and new not in kwargs:
            kwargs = {**kwargs}
            kwargs[new] = kwargs.pop(old)
            _used(f"Model({old}=)", f"Model({old}=...) is Keras 1; used {new}=")
    return kwargs


def _model_new(original: Callable[..., Any]) -> Callable[..., Any]:
    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        return original(cls, *args, **_model_kwargs(kwargs))

    return __new__


def _model_init(original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **_model_kwargs(kwargs))

    __init__.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]
    return __init__


def _optimizers(keras: types.ModuleType, keras3: bool) -> None:
    """``lr=`` (tf_keras ignores it, Keras 3 refuses it) and a non-zero ``decay=`` (dropped by both)."""
    schedules = keras.optimizers.schedules

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            name = type(self).__name__
            if "lr" in kwargs:
                lr = kwargs.pop("lr")
                if "learning_rate" not in kwargs:
                    kwargs["learning_rate"] = lr
                _used(f"{name}(lr=)", f"{name}(lr=...) is Keras 2; used learning_rate=")
            decay = kwargs.pop("decay", None)
            if decay:
                rate = kwargs.get("learning_rate", 0.01 if name == "SGD" else 0.001)
                kwargs["learning_rate"] = schedules.InverseTimeDecay(rate, decay_steps=1, decay_rate=decay)
                _used(f"{name}(decay=)", f"{name}(decay={decay}) is Keras 2; used "
                      f"InverseTimeDecay(decay_steps=1, decay_rate={decay}), Keras 2's lr / (1 + decay * step)")
            original(self, *args, **kwargs)

        return __init__

    for name in sorted(_OPTIMIZERS):
        cls = getattr(keras.optimizers, name, None)
        if isinstance(cls, type):
            safe_patch(cls, "__init__", make)


def _backend(keras: types.ModuleType, keras3: bool) -> None:
    backend = keras.backend

    def image_dim_ordering() -> str:
        _used("backend.image_dim_ordering", "backend.image_dim_ordering() is Keras 1; "
              "answered from image_data_format()")
        return "th" if backend.image_data_format() == "channels_first" else "tf"

    def set_image_dim_ordering(ordering: str) -> None:
        if ordering not in _ORDERING:
            raise ValueError(f"set_image_dim_ordering() takes 'tf' or 'th', but got {ordering!r}")
        _used("backend.set_image_dim_ordering", f"backend.set_image_dim_ordering({ordering!r}) is Keras 1; "
              f"used set_image_data_format({_ORDERING[ordering]!r})")
        backend.set_image_data_format(_ORDERING[ordering])

    _set(backend, "image_dim_ordering", image_dim_ordering)
    _set(backend, "set_image_dim_ordering", set_image_dim_ordering)
    if not keras3:  # Keras 2 scripts: K.set_session(tf.Session(config=...)) set threads or GPU memory
        from training.harness import tf1_compat

        _set(backend, "set_session", tf1_compat.set_session(_used), replace=True)
        _set(backend, "get_session", tf1_compat.get_session(_used), replace=True)


def _plot_model(keras: types.ModuleType, keras3: bool) -> None:
    """``plot_model`` without pydot or graphviz (trial images have neither): a warning and no image, as in a
    notebook, instead of an ImportError that stops the script before it trains."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def plot_model(model: Any, to_file: str = "model.png", *args: Any, **kwargs: Any) -> Any:
            try:
                return original(model, to_file, *args, **kwargs)
            except ImportError as e:
                if "pydot" not in str(e) and "graphviz" not in str(e):
                    raise
                _used("plot_model without pydot", f"plot_model(to_file={to_file!r}) needs pydot and graphviz, "
                      "which the trial environment has not got: no image was drawn")
                return None

        return plot_model

    utils = keras.utils
    if callable(getattr(utils, "plot_model", None)):
        add_attribute(utils, "plot_model", make(utils.plot_model))


def _preprocessing(keras: types.ModuleType, keras3: bool) -> None:
    """Keras 3 keeps ``ImageDataGenerator`` and friends only in ``keras.src.legacy``: serve them."""
    if not keras3:
        return
    for sub in ("image", "sequence"):
        module = importlib.import_module(f"keras.preprocessing.{sub}")
        if "__getattr__" not in vars(module):
            legacy = f"keras.src.legacy.preprocessing.{sub}"
            add_attribute(module, "__getattr__", _legacy_getattr(module.__name__, legacy))


def _legacy_getattr(public: str, legacy: str) -> Callable[[str], Any]:
    def __getattr__(attr: str) -> Any:
        value = getattr(importlib.import_module(legacy), attr, None) if not attr.startswith("__") else None
        if value is None:
            raise AttributeError(f"module {public!r} has no attribute {attr!r}")
        _used(f"{public}.{attr}", f"{public}.{attr} is only in Keras 3's legacy package; used {legacy}.{attr}")
        return value

    return __getattr__


def _saving(keras: types.ModuleType) -> None:
    """Keras 3 saves only ``.keras`` / ``.h5`` models and ``.weights.h5`` weights; Keras 2 took any name."""

    def make_save(original: Callable[..., Any]) -> Callable[..., Any]:
        def save(self: Any, filepath: Any, *args: Any, **kwargs: Any) -> Any:
            path = os.fspath(filepath) if isinstance(filepath, (str, os.PathLike)) else None
            if path is None or path.endswith((".keras", ".h5", ".hdf5")):
                return original(self, filepath, *args, **kwargs)
            tmp = path + ".mlops-tmp.keras"
            result = original(self, tmp, *args, **kwargs)
            os.replace(tmp, path)
            _used("model.save(other extension)", f"model.save({path!r}): Keras 3 names models .keras; wrote "
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
            _used("model.save_weights(.h5)", f"model.save_weights({path!r}): wrote Keras 2's HDF5 weights "
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
            _used("ModelCheckpoint(filepath)", f"ModelCheckpoint({path!r}): Keras 3 refuses that file name; "
                  f"kept it (saved as Keras 2 would: {'HDF5 weights' if weights_only else 'an HDF5 model'})")

        return __init__

    safe_patch(keras.Model, "save", make_save)
    safe_patch(keras.Model, "save_weights", make_save_weights)
    safe_patch(keras.callbacks.ModelCheckpoint, "__init__", make_checkpoint_init)


def _keras3_semantics(keras: types.ModuleType) -> None:
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
            _used("keras.backend legacy functions", f"keras.backend.{attr} (and the other Keras 2 backend "
                  "functions) are only in Keras 3's legacy package; used keras.src.legacy.backend")
            return value

        add_attribute(backend, "__getattr__", __getattr__)

    base = keras.optimizers.Optimizer
    if not hasattr(base, "lr"):
        def get_lr(self: Any) -> Any:
            if not _from_library(sys._getframe(1)):  # Keras's saving walks every attribute
                _used("optimizer.lr", "optimizer.lr is Keras 2; used optimizer.learning_rate")
            return self.learning_rate

        def set_lr(self: Any, value: Any) -> None:
            _used("optimizer.lr", "optimizer.lr is Keras 2; used optimizer.learning_rate")
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
            _used("Model.metrics_names", "model.metrics_names is ['loss', 'compile_metrics'] in Keras 3; "
                  f"gave the metric names, as Keras 2 did: {expanded}")
            return expanded

        add_attribute(keras.Model, "metrics_names", property(metrics_names))


def _from_library(frame: Any) -> bool:
    """Whether the code reading an attribute is Keras or TensorFlow itself, not the user's script."""
    name = frame.f_code.co_filename
    return any(f"{os.sep}{pkg}{os.sep}" in name for pkg in ("keras", "tensorflow", "tf_keras"))
