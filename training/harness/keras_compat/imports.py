"""The import hook: Keras 1/2 module paths that Keras removed, served from where their names are now (stdlib only).

``keras.utils.np_utils`` / ``vis_utils`` / ``generic_utils`` / ``data_utils``, ``keras.layers.convolutional`` /
``core`` / ``pooling`` / ..., ``keras.engine``, ``keras.objectives``, ``keras.backend.tensorflow_backend``,
``keras_preprocessing``, ``keras.wrappers.scikit_learn`` (``keras2_sklearn``), and on Keras 3
``keras.preprocessing.text``. For a Keras 2 script it also makes ``keras`` (and ``keras.*``) ``tf_keras``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import types
from collections.abc import Callable
from typing import Any

from training.harness.keras_compat.state import KerasCompat
from training.harness.keras_markers import LAYER_MODULES
from training.harness.patching import hook_failed


def _active(compat: KerasCompat) -> types.ModuleType:
    """The Keras package the script's ``keras`` means (imports it when needed)."""
    return importlib.import_module(_active_name(compat))


def _active_name(compat: KerasCompat) -> str:
    return "tf_keras" if compat.redirect else "keras"


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


def _legacy_image(compat: KerasCompat) -> Any:
    if compat.redirect:
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


def _where(place: str, compat: KerasCompat) -> Callable[[], Any]:
    """The object a moved module's names come from (looked up when a name is asked for)."""
    if place == "tf1":
        from training.harness import tf1_compat

        extras = types.SimpleNamespace(set_session=tf1_compat.set_session(compat.used),
                                       get_session=tf1_compat.get_session(compat.used))
        return lambda: extras
    return lambda: getattr(_active(compat), place) if place else _active(compat)


def shim(fullname: str, compat: KerasCompat) -> types.ModuleType | None:
    """The made-up module for a removed Keras module path, or ``None`` when it is not one."""
    parts = fullname.split(".")
    if fullname == "keras.preprocessing.text" and not compat.redirect:  # Keras 3 keeps Tokenizer only in legacy
        return _ShimModule(fullname, [lambda: importlib.import_module("keras.src.legacy.preprocessing.text")])
    if fullname == "keras.wrappers" and compat.redirect:  # tf_keras has no wrappers package at all
        return _ShimModule(fullname, [])
    if fullname == "keras.wrappers.scikit_learn":
        from training.harness import keras2_sklearn

        return keras2_sklearn.module(fullname)  # type: ignore[return-value]
    if fullname in _MOVED:
        return _ShimModule(fullname, [_where(place, compat) for place in _MOVED[fullname]])
    if len(parts) == 3 and parts[:2] == ["keras", "layers"] and parts[2] in LAYER_MODULES:
        return _ShimModule(fullname, [lambda: _active(compat).layers])
    if parts[0] == "keras_preprocessing" and len(parts) <= 2:
        sub = parts[1] if len(parts) == 2 else ""
        if sub == "image":
            return _ShimModule(fullname, [lambda: _active(compat).preprocessing.image,
                                          lambda: _legacy_image(compat)])
        return _ShimModule(fullname, [lambda: importlib.import_module(
            ".".join(filter(None, (_active(compat).__name__, "preprocessing", sub))))])
    return None


class CompatFinder(importlib.abc.MetaPathFinder):
    """Serves removed Keras module paths (and, for a Keras 2 script, ``keras.*`` as ``tf_keras.*``).

    Args:
        compat: The script's translations: whether ``keras`` is ``tf_keras``, and where each one is recorded.
    """

    def __init__(self, compat: KerasCompat) -> None:
        self.compat = compat

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        top = fullname.partition(".")[0]
        if top not in ("keras", "keras_preprocessing", "tf_keras"):
            return None
        if top == "tf_keras":  # `from keras.utils import np_utils` asks for tf_keras.utils.np_utils when redirected
            if not self.compat.redirect or importlib.machinery.PathFinder.find_spec(fullname, path) is not None:
                return None
            fullname, alias = "keras" + fullname[len("tf_keras"):], fullname
        else:
            alias = fullname
        try:
            if self.compat.redirect and top == "keras":
                real = "tf_keras" + fullname[len("keras"):]
                if _exists(real):
                    return importlib.machinery.ModuleSpec(
                        fullname, _Loader(lambda: importlib.import_module(real)), is_package=True)
            if importlib.machinery.PathFinder.find_spec(fullname, path) is not None:
                return None  # it exists: the real module wins
            module = shim(fullname, self.compat)
        except Exception as e:
            hook_failed(f"Keras compat import of {fullname}", e)
            return None
        if module is None:
            return None
        where = _active_name(self.compat) + ("" if "preprocessing" not in fullname else " (preprocessing)")
        self.compat.used(f"import {fullname}", f"`{fullname}` was removed from Keras; served its names from {where}")
        return importlib.machinery.ModuleSpec(alias, _Loader(lambda: module), is_package=True)


def _exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
