"""Keras tweaks against overfitting and too few rows: dropout after the hidden layers, L2 on their weights,
early stopping that restores the best epoch's weights, and data augmentation for image models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import libcst as cst

from training.analysis import ScriptAnalysis, analyze, arg
from training.tweaks._base import SkipTweak, Tweak, register
from training.tweaks._cst import code, ensure_top, insert_layers, rewrite_calls, set_kwarg
from training.tweaks._keras import _EPOCHS_AT, KERAS_ALIAS, with_early_stopping


def _keras_layers(script: ScriptAnalysis) -> str | None:
    if script.framework != "keras":
        return "the script does not train a Keras model"
    return None if len(script.dense_calls) > 1 else "no hidden Dense layer"


@register
class DropoutTweak(Tweak):
    """A ``Dropout(value)`` layer after every hidden Dense layer."""

    name = "dropout"
    order = 62

    def why_not(self, script: ScriptAnalysis) -> str | None:
        return _keras_layers(script)

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [None, 0.2, 0.5]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        module = script.module
        hidden = len(script.dense_calls) - 1
        for i in range(hidden):
            current = analyze(module.code) if i else script
            module = insert_layers(current.module, current.dense_calls[i], [f"{KERAS_ALIAS}.layers.Dropout({value})"],
                                   before=False, skip_following_pool=False, calls=current.calls)
        module = ensure_top(module, f"import keras as {KERAS_ALIAS}")
        return module, f"Dropout({value}) after {hidden} hidden Dense layer{'s' if hidden > 1 else ''}"


@register
class L2Tweak(Tweak):
    """An L2 penalty of ``value`` on the weights of every hidden Dense layer."""

    name = "l2"
    order = 64

    def why_not(self, script: ScriptAnalysis) -> str | None:
        return _keras_layers(script)

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [None, 0.001, 0.01]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        hidden = set(script.dense_calls[:-1])
        module, count = rewrite_calls(
            script.module, script.calls,
            lambda node, name: node in hidden and arg(node, None, "kernel_regularizer", "W_regularizer") is None,
            lambda node, name: set_kwarg(node, "kernel_regularizer", f"{KERAS_ALIAS}.regularizers.l2({value})"))
        if not count:
            raise SkipTweak("every hidden Dense layer already has a kernel regularizer")
        module = ensure_top(module, f"import keras as {KERAS_ALIAS}")
        return module, f"L2 {value} on {count} hidden Dense layer{'s' if count > 1 else ''}"


@register
class EarlyStopTweak(Tweak):
    """Early stopping on the validation loss that restores the best epoch's weights (a fifth of the training
    rows held out when the fit has no validation data)."""

    name = "early_stop"
    order = 72

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if script.framework != "keras":
            return "the script does not train a Keras model"
        if not script.fit_calls:
            return "no fit(...) call found"
        return "the script already stops early" if "EarlyStopping" in script.module.code else None

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [False, True]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        if "EarlyStopping" in script.module.code:
            raise SkipTweak("the script already stops early")
        fits = set(script.fit_calls)
        module, count = rewrite_calls(
            script.module, script.calls, lambda node, name: node in fits,
            lambda node, name: with_early_stopping(node, _EPOCHS_AT[node.func.attr.value], 5, 0.2))  # type: ignore[attr-defined]
        if not count:
            raise SkipTweak("no fit(...) call found")
        module = ensure_top(module, f"import keras as {KERAS_ALIAS}")
        return module, "early stopping on the validation loss, best weights restored"


@register
class AugmentTweak(Tweak):
    """Data augmentation for an image model: random shifts and small rotations (Keras preprocessing layers,
    active only while training) before the first convolution. No flips: they would change what some images
    mean (digits, letters)."""

    name = "augment"
    order = 45

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if script.framework != "keras":
            return "the script does not train a Keras model"
        return None if script.conv_dims == 2 and script.conv_calls else "no 2D convolution layer (not images)"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [False, True]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        first = script.conv_calls[0]
        shape = arg(first, None, "input_shape")
        given = f", input_shape={code(shape.value)}" if shape is not None else ""
        layers = [f"{KERAS_ALIAS}.layers.RandomTranslation(0.1, 0.1{given})",
                  f"{KERAS_ALIAS}.layers.RandomRotation(0.05)"]
        module = insert_layers(script.module, first, layers, before=True, skip_following_pool=False,
                               calls=script.calls)
        module = ensure_top(module, f"import keras as {KERAS_ALIAS}")
        return module, "data augmentation: random shifts (10%) and rotations (5%) of the training images"
