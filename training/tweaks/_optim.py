"""Keras training tweaks the diagnosis picks for a loss that diverges or stays flat: the hidden layers'
activation, the optimizer, and its learning rate however the script wrote it (``optimizer="sgd"``,
``SGD(lr=8.0)``, ``SGD(learning_rate=...)``, an optimizer kept in a variable)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import libcst as cst

from training.analysis import ScriptAnalysis, arg
from training.tweaks._base import SkipTweak, Tweak, register
from training.tweaks._cst import code, ensure_top, rewrite_calls, set_kwarg
from training.tweaks._keras import KERAS_ALIAS

#: Optimizer name (as ``compile`` takes it) -> Keras class and its default learning rate.
OPTIMIZERS: dict[str, tuple[str, float]] = {
    "sgd": ("SGD", 0.01), "adam": ("Adam", 0.001), "rmsprop": ("RMSprop", 0.001), "adagrad": ("Adagrad", 0.001),
    "adamax": ("Adamax", 0.001), "nadam": ("Nadam", 0.001), "adadelta": ("Adadelta", 0.001),
    "adamw": ("AdamW", 0.001),
}
_BY_CLASS = {cls.lower(): name for name, (cls, _) in OPTIMIZERS.items()}
#: Hidden activations that saturate: a deep stack of them makes gradients vanish.
SATURATING = ("sigmoid", "tanh", "hard_sigmoid")


def _keras(script: ScriptAnalysis) -> str | None:
    return None if script.framework == "keras" else "the script does not train a Keras model"


def compile_calls(script: ScriptAnalysis) -> list[cst.Call]:
    """The ``model.compile(...)`` calls of a Keras script."""
    found: list[cst.Call] = []

    class Finder(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Attribute) and node.func.attr.value == "compile":
                found.append(node)

    script.module.visit(Finder())
    return found


def _optimizer_arg(call: cst.Call) -> cst.Arg | None:
    return arg(call, 0, "optimizer")


def _string(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def optimizer_constructors(script: ScriptAnalysis) -> list[cst.Call]:
    """The optimizer constructor calls that ``compile`` uses: given inline, or through a variable."""
    names: set[str] = set()
    inline: list[cst.Call] = []
    for call in compile_calls(script):
        given = _optimizer_arg(call)
        if given is None:
            continue
        if isinstance(given.value, cst.Call):
            inline.append(given.value)
        elif isinstance(given.value, cst.Name):
            names.add(given.value.value)
    assigned: list[cst.Call] = []

    class Finder(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if isinstance(node.value, cst.Call) and any(
                    isinstance(t.target, cst.Name) and t.target.value in names for t in node.targets):
                assigned.append(node.value)

    script.module.visit(Finder())
    return [c for c in inline + assigned if _optimizer_class(script, c)]


def _optimizer_class(script: ScriptAnalysis, call: cst.Call) -> str | None:
    """``sgd``, ``adam``... for a call of a Keras optimizer class."""
    name = script.calls.get(call, "")
    if not name.startswith("keras.") or ".optimizers." not in name + ".":
        return None
    return _BY_CLASS.get(name.rsplit(".", 1)[-1].lower())


def _number(node: cst.BaseExpression) -> float | None:
    if isinstance(node, (cst.Float, cst.Integer)):
        return float(node.evaluated_value)
    return None


def _rate(value: float) -> str:
    return f"{value:.6g}"


@register
class ActivationTweak(Tweak):
    """Hidden Dense layers with a saturating activation (sigmoid, tanh) switch to ``value`` (relu): gradients
    no longer vanish through a deep stack. The output layer keeps its activation."""

    name = "activation"
    order = 22

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if reason := _keras(script):
            return reason
        return None if len(script.dense_calls) > 1 else "no hidden Dense layer"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [None, "relu"]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        hidden = set(script.dense_calls[:-1])
        was: list[str] = []

        def pick(node: cst.Call, name: str) -> bool:
            given = arg(node, 1, "activation")
            current = _string(given.value) if given is not None else None
            if node in hidden and current in SATURATING:
                was.append(current)  # type: ignore[arg-type]
                return True
            return False

        module, count = rewrite_calls(script.module, script.calls, pick,
                                      lambda node, name: set_kwarg(node, "activation", f"\"{value}\"", 1))
        if not count:
            raise SkipTweak("no hidden Dense layer with a sigmoid or tanh activation")
        return module, f"hidden activation {'/'.join(sorted(set(was)))} -> {value}"


@register
class OptimizerTweak(Tweak):
    """Train with another optimizer (Adam, at its default learning rate), whatever ``compile`` was given."""

    name = "optimizer"
    order = 24

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if reason := _keras(script):
            return reason
        return None if any(_optimizer_arg(c) for c in compile_calls(script)) else "no compile(optimizer=...)"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [None, "adam"]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        if value not in OPTIMIZERS:
            raise SkipTweak(f"optimizer must be one of {', '.join(OPTIMIZERS)}, but got {value!r}")
        compiles = set(compile_calls(script))
        was: list[str] = []

        def pick(node: cst.Call, name: str) -> bool:
            given = _optimizer_arg(node) if node in compiles else None
            if given is None:
                return False
            current = _string(given.value) or code(given.value)
            if current.lower() == value:
                return False
            was.append(current)
            return True

        module, count = rewrite_calls(script.module, script.calls, pick,
                                      lambda node, name: set_kwarg(node, "optimizer", f"\"{value}\"", 0))
        if not count:
            raise SkipTweak(f"the model is already compiled with {value}")
        return module, f"optimizer {was[0]} -> {OPTIMIZERS[value][0]}"


@register
class LearningRateTweak(Tweak):
    """Multiply the optimizer's learning rate by ``value``: the rate written in its constructor (``lr=`` or
    ``learning_rate=``, a number or an expression) or, for ``optimizer="sgd"``, the optimizer's default."""

    name = "lr"
    order = 26

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if reason := _keras(script):
            return reason
        if optimizer_constructors(script):
            return None
        for call in compile_calls(script):
            given = _optimizer_arg(call)
            if given is not None and (_string(given.value) or "").lower() in OPTIMIZERS:
                return None
        return "no optimizer whose learning rate can be read (a name like 'sgd' or SGD(...) in compile)"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [None, 0.1, 0.01, 0.001, 10.0]}

    def unchanged(self, value: Any) -> bool:
        return value in (None, False, 0, 1)

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        factor = float(value)
        changes: list[str] = []
        constructors = set(optimizer_constructors(script))

        def new_constructor(node: cst.Call, name: str) -> cst.Call:
            current = arg(node, 0, "learning_rate", "lr")
            if current is None:
                old = OPTIMIZERS[_optimizer_class(script, node) or "sgd"][1]
                new = _rate(old * factor)
            elif (old_value := _number(current.value)) is not None:
                old, new = old_value, _rate(old_value * factor)
            else:
                old, new = code(current.value), f"({code(current.value)}) * {factor:g}"  # type: ignore[assignment]
            changes.append(f"{old if isinstance(old, str) else _rate(old)} -> {new}")
            return set_kwarg(node, "learning_rate", new, 0, ("lr",))

        module, count = rewrite_calls(script.module, script.calls, lambda node, name: node in constructors,
                                      new_constructor)
        if not count:
            compiles = set(compile_calls(script))

            def pick(node: cst.Call, name: str) -> bool:
                given = _optimizer_arg(node) if node in compiles else None
                return given is not None and (_string(given.value) or "").lower() in OPTIMIZERS

            def from_name(node: cst.Call, name: str) -> cst.Call:
                given = _optimizer_arg(node)
                cls, default = OPTIMIZERS[(_string(given.value) or "").lower()]  # type: ignore[union-attr]
                changes.append(f"{_rate(default)} -> {_rate(default * factor)}")
                return set_kwarg(node, "optimizer",
                                 f"{KERAS_ALIAS}.optimizers.{cls}(learning_rate={_rate(default * factor)})", 0)

            module, count = rewrite_calls(script.module, script.calls, pick, from_name)
            if not count:
                raise SkipTweak("no optimizer whose learning rate can be read")
            module = ensure_top(module, f"import keras as {KERAS_ALIAS}")
        return module, f"learning rate {', '.join(changes)}"

