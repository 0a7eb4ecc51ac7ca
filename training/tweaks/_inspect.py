"""Read a training script with libcst and find what the tweaks can change.

Names are resolved through the script's imports (libcst's ``QualifiedNameProvider``), so
``layers.Dense``, ``tf.keras.layers.Dense`` and ``from keras.layers import Dense as D`` all count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, QualifiedNameProvider

_CONV = re.compile(r"^(Conv|Convolution|SeparableConv|SeparableConvolution|DepthwiseConv)\dD$")
_POOL = re.compile(r"^(Max|Average)Pool(ing)?\dD$")
_FLATTEN = {"Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
            "GlobalMaxPooling1D"}
ESTIMATOR_MODULES = ("linear_model", "svm", "neighbors", "ensemble", "tree", "naive_bayes", "neural_network",
                     "discriminant_analysis", "gaussian_process")
SCALERS = {"StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler", "Normalizer", "normalize", "scale"}


def normalize(qualified: str) -> str:
    """``tensorflow.keras.layers.Dense`` -> ``keras.layers.Dense``; other names unchanged."""
    for prefix in ("tensorflow.python.keras", "tensorflow.keras", "tf_keras"):
        if qualified == prefix or qualified.startswith(prefix + "."):
            return "keras" + qualified[len(prefix):]
    return qualified


def layer_kind(name: str) -> str | None:
    """``dense``, ``conv``, ``pool``, ``flatten`` or ``other`` for a Keras name; ``None`` otherwise."""
    if not name.startswith("keras."):
        return None
    last = name.rsplit(".", 1)[-1]
    if last == "Dense":
        return "dense"
    if _CONV.match(last):
        return "conv"
    if _POOL.match(last):
        return "pool"
    if last in _FLATTEN:
        return "flatten"
    return "other"


@dataclass
class ScriptInfo:
    """What a script contains, as far as the tweaks care."""

    framework: str  # "keras" | "sklearn" | "none"
    dense: int = 0
    conv: int = 0
    conv_dims: int = 2
    fits: int = 0
    epochs: int | None = None
    splits: list[tuple[str, str]] = field(default_factory=list)  # (train name, test name) of train_test_split
    scaled: bool = False
    estimators: list[str] = field(default_factory=list)  # class names, in order
    hidden_units: list[int] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """``ml``, ``ann`` or ``cnn``."""
        if self.framework != "keras":
            return "ml"
        return "cnn" if self.conv else "ann"


class Names(cst.CSTVisitor):
    """Resolve the qualified name of every call's function, once."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider, ParentNodeProvider)

    def __init__(self) -> None:
        self.calls: dict[cst.Call, str] = {}

    def visit_Call(self, node: cst.Call) -> None:
        receiver = node.func
        while isinstance(receiver, cst.Attribute):
            receiver = receiver.value
        if isinstance(receiver, cst.Call):  # a method of a call's result, e.g. Estimator().fit(...)
            self.calls[node] = "<result>." + (node.func.attr.value if isinstance(node.func, cst.Attribute) else "")
            return
        names = self.get_metadata(QualifiedNameProvider, node.func, set())
        for q in names:
            self.calls[node] = normalize(q.name)
            break


def resolve(module: cst.Module) -> tuple[cst.Module, dict[cst.Call, str]]:
    """Return the module as wrapped for metadata and the qualified name of each call in it."""
    wrapper = MetadataWrapper(module)
    names = Names()
    wrapper.visit(names)
    return wrapper.module, names.calls


def int_value(node: cst.BaseExpression | None) -> int | None:
    """The value of an integer literal, else ``None``."""
    if isinstance(node, cst.Integer):
        return int(node.value.replace("_", ""), 0)
    return None


def arg(call: cst.Call, position: int | None, *keywords: str) -> cst.Arg | None:
    """The argument given by keyword (any of ``keywords``) or at ``position``."""
    for a in call.args:
        if a.keyword is not None and a.keyword.value in keywords:
            return a
    if position is not None:
        positional = [a for a in call.args if a.keyword is None and not a.star]
        if position < len(positional):
            return positional[position]
    return None


def inspect_script(source: str) -> ScriptInfo:
    """Analyse a script's source.

    Raises:
        libcst.ParserSyntaxError: The source does not parse.
    """
    module, calls = resolve(cst.parse_module(source))
    names = list(calls.values())
    keras = any(n.startswith("keras") for n in names)
    sklearn = any(n.startswith("sklearn") for n in names)
    info = ScriptInfo(framework="keras" if keras else "sklearn" if sklearn else "none")
    dense_calls = [c for c, n in calls.items() if layer_kind(n) == "dense"]
    info.dense = len(dense_calls)
    for c in dense_calls[:-1]:
        units = arg(c, 0, "units", "output_dim")
        if units is not None and int_value(units.value) is not None:
            info.hidden_units.append(int_value(units.value))  # type: ignore[arg-type]
    convs = [n for n in names if layer_kind(n) == "conv"]
    info.conv = len(convs)
    if convs:
        info.conv_dims = int(re.search(r"(\d)D", convs[-1].rsplit(".", 1)[-1]).group(1))  # type: ignore[union-attr]
    for n in calls.values():
        last = n.rsplit(".", 1)[-1]
        if n.startswith("sklearn.") and last in SCALERS:
            info.scaled = True
        parts = n.split(".")
        if len(parts) >= 3 and parts[0] == "sklearn" and parts[1] in ESTIMATOR_MODULES and last[:1].isupper():
            info.estimators.append(last)
    for c in keras_fit_calls(module, calls) if keras else []:
        info.fits += 1
        epochs = arg(c, 3, "epochs", "nb_epoch")
        if epochs is not None:
            info.epochs = int_value(epochs.value)
    info.splits = find_splits(module, calls)
    return info


def find_splits(module: cst.Module, calls: dict[cst.Call, str]) -> list[tuple[str, str]]:
    """``(X_train, X_test)`` names of every ``a, b, c, d = train_test_split(X, y, ...)``."""
    found: list[tuple[str, str]] = []

    class V(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if not isinstance(node.value, cst.Call):
                return
            if not calls.get(node.value, "").endswith("model_selection.train_test_split"):
                return
            target = node.targets[0].target
            if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) >= 2:
                first, second = target.elements[0].value, target.elements[1].value
                if isinstance(first, cst.Name) and isinstance(second, cst.Name):
                    found.append((first.value, second.value))

    module.visit(V())
    return found


def keras_fit_calls(module: cst.Module, calls: dict[cst.Call, str]) -> list[cst.Call]:
    """``.fit(...)`` calls that are not on a scikit-learn object (a scaler, an estimator)."""
    sklearn_names: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if isinstance(node.value, cst.Call) and calls.get(node.value, "").startswith("sklearn."):
                for t in node.targets:
                    if isinstance(t.target, cst.Name):
                        sklearn_names.add(t.target.value)

    module.visit(V())
    fits = []
    for call in calls:
        if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == "fit"):
            continue
        receiver = call.func.value
        if isinstance(receiver, cst.Name) and receiver.value in sklearn_names:
            continue
        if isinstance(receiver, cst.Call) and calls.get(receiver, "").startswith("sklearn."):
            continue
        fits.append(call)
    return fits
