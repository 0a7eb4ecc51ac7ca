"""Which Keras a script was written for, read from its code with ``ast`` (no imports run; stdlib only).

The harness asks when no detection told it (``--keras-api``); the markers are ``training.harness.keras_markers``,
the same ones the analysis reads.
"""

from __future__ import annotations

import ast

from training.harness.keras_markers import (
    BACKEND_SESSION,
    FIT_KWARGS,
    KERAS2_LAYERS,
    KERAS2_METHODS,
    KERAS2_MODULES,
    KERAS2_NAMES,
    KERAS3_FILES,
    KERAS3_MODULES,
    LAYER_KWARGS,
    MODEL_KWARGS,
    OPTIMIZER_KWARGS,
    OPTIMIZERS,
    TF1_MODULES,
    TF1_NAMES,
)

#: Top-level packages a Keras script imports (one of them at least).
_KERAS_PACKAGES = frozenset({"keras", "tensorflow", "tf_keras", "keras_preprocessing"})
#: Keras 2 methods scikit-learn estimators have too: a Keras 2 sign only in a script that imports Keras.
_SKLEARN_TOO = frozenset({"predict_proba"})
#: ``keras.<name>`` attributes only Keras 3 has (``keras.ops.argmax``).
_KERAS3_ATTRS = frozenset(m.split(".")[1] for m in KERAS3_MODULES if m.startswith("keras."))


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
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names} | {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imports_keras = any(m.split(".")[0] in _KERAS_PACKAGES for m in imported)
    k2 = k3 = False
    tf_names = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for a in node.names if a.name == "tensorflow"}
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            k2 |= any(a.name in KERAS2_NAMES or KERAS2_LAYERS.match(a.name) for a in node.names)
        for name in modules:
            bare = name.removeprefix("tensorflow.")
            k2 |= any(bare == m or bare.startswith(m + ".") for m in KERAS2_MODULES | TF1_MODULES)
            k3 |= any(bare == m or bare.startswith(m + ".") for m in KERAS3_MODULES)
        if isinstance(node, ast.Attribute):
            k2 |= node.attr in KERAS2_METHODS and (imports_keras or node.attr not in _SKLEARN_TOO)
            k2 |= node.attr in KERAS2_NAMES
            k2 |= node.attr in TF1_NAMES and isinstance(node.value, ast.Name) and node.value.id in tf_names
            k2 |= node.attr in BACKEND_SESSION
            k3 |= node.attr in _KERAS3_ATTRS and isinstance(node.value, ast.Name) and node.value.id == "keras"
        if isinstance(node, ast.Call):
            k2 |= _keras2_call(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            k3 |= node.value.endswith(KERAS3_FILES) and " " not in node.value
    if k3:
        return 3
    return 2 if k2 else None


def _keras2_call(node: ast.Call) -> bool:
    """A call with Keras 1/2 arguments (``Dense(output_dim=)``, ``Adam(lr=)``) or to a Keras 1 layer class."""
    func = node.func
    fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    words = {k.arg for k in node.keywords if k.arg}
    return (bool(words & (LAYER_KWARGS | FIT_KWARGS)) or bool(KERAS2_LAYERS.match(fname))
            or (fname in OPTIMIZERS and bool(words & OPTIMIZER_KWARGS))
            or (fname == "Model" and bool(words & MODEL_KWARGS)))
