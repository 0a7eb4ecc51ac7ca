"""Keras tweaks: more convolution filters and blocks, more and wider Dense layers, more epochs.

They work on Keras 3, tf.keras and Keras 2 style scripts alike (``Convolution2D(32, 3, 3)``,
``Dense(output_dim=64)``, ``keras.layers.core.Dense``, ``nb_epoch=``, ``fit_generator``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import libcst as cst

from training.analysis import ScriptAnalysis, arg, int_value, layer_kind
from training.tweaks._base import SkipTweak, Tweak, register
from training.tweaks._cst import code, ensure_top, insert_layers, rewrite_calls, set_kwarg

#: The alias under which rewritten scripts import Keras for the layers and callbacks the tweaks add.
KERAS_ALIAS = "_mlops_keras"
_EPOCHS_AT = {"fit": 3, "fit_generator": 2}  # position of the epochs argument


def with_early_stopping(node: cst.Call, epochs_at: int, patience: int, split: float = 0.1) -> cst.Call:
    """A Keras fit call with an ``EarlyStopping`` callback that restores the best weights added to its callbacks.

    It watches the validation loss; a fit on arrays without validation data gets ``validation_split=split``;
    a fit on a generator or dataset (where Keras refuses ``validation_split``) watches the training loss.
    """
    validated = arg(node, None, "validation_split", "validation_data") is not None
    if not validated and epochs_at == 3 and arg(node, 1, "y") is not None:  # arrays: Keras can split them
        node = set_kwarg(node, "validation_split", str(split))
        validated = True
    monitor = "val_loss" if validated else "loss"
    stop = (f'{KERAS_ALIAS}.callbacks.EarlyStopping(monitor="{monitor}", patience={patience}, '
            "restore_best_weights=True)")
    existing = arg(node, None, "callbacks")
    if existing is None:
        return set_kwarg(node, "callbacks", f"[{stop}]")
    if isinstance(existing.value, cst.List):
        return set_kwarg(node, "callbacks", f"[{', '.join(code(e.value) for e in existing.value.elements)}, {stop}]")
    return set_kwarg(node, "callbacks", f"[*{code(existing.value)}, {stop}]")


@register
class FiltersTweak(Tweak):
    """Give every convolution layer at least ``value`` filters."""

    name = "filters"
    order = 40

    def why_not(self, script: ScriptAnalysis) -> str | None:
        return None if script.conv_calls else "no convolution layer found"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [None, 16, 32, 64]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        def pick(node: cst.Call, name: str) -> bool:
            current = arg(node, 0, "filters", "nb_filter")
            return layer_kind(name) == "conv" and current is not None and (int_value(current.value) or 10**9) < value

        module, count = rewrite_calls(script.module, script.calls, pick,
                                      lambda node, name: set_kwarg(node, "filters", str(value), 0, ("nb_filter",)))
        if not count:
            raise SkipTweak(f"no convolution layer with fewer than {value} filters (as a number literal)")
        return module, f"convolution filters raised to {value}"


@register
class ConvTweak(Tweak):
    """Add ``value`` convolution + max-pooling blocks after the last convolution layer (and its pooling)."""

    name = "conv"
    order = 50
    options = ("kernel", "stride")

    def why_not(self, script: ScriptAnalysis) -> str | None:
        return None if script.conv_calls else "no convolution layer to extend"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [0, 1, 2], "kernel": [3, 5], "stride": [1, 2]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        filters, kernel, stride = config.get("filters") or 32, config.get("kernel") or 3, config.get("stride") or 1
        d = script.conv_dims
        k = f"({', '.join([str(kernel)] * d)})" if d > 1 else str(kernel)
        s = f"({', '.join([str(stride)] * d)})" if d > 1 else str(stride)
        pool = f"({', '.join(['2'] * d)})" if d > 1 else "2"
        block = [f'{KERAS_ALIAS}.layers.Conv{d}D({filters}, {k}, strides={s}, padding="same", activation="relu")',
                 f'{KERAS_ALIAS}.layers.MaxPooling{d}D({pool}, padding="same")']
        module = insert_layers(script.module, script.conv_calls[-1], block * value, before=False,
                               skip_following_pool=True, calls=script.calls)
        module = ensure_top(module, f"import keras as {KERAS_ALIAS}")
        return module, f"+{value} Conv{d}D({filters}, {kernel}x{kernel}, stride {stride}) + pooling block" + \
            ("s" if value > 1 else "")


@register
class DenseTweak(Tweak):
    """Add ``value`` hidden Dense layers (``units`` each, relu) before the output layer."""

    name = "dense"
    order = 60

    def why_not(self, script: ScriptAnalysis) -> str | None:
        return None if script.dense_calls else "no Dense layer found"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [0, 1] if script.kind == "cnn" else [0, 1, 2]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        units = config.get("units") or 64
        output = script.dense_calls[-1]
        layer = f"{code(output.func)}({units}, activation=\"relu\")"
        module = insert_layers(script.module, output, [layer] * value, before=True, skip_following_pool=False,
                               calls=script.calls)
        return module, f"+{value} hidden Dense({units}, relu) layer{'s' if value > 1 else ''}"


@register
class UnitsTweak(Tweak):
    """Widen every hidden Dense layer (never the output one) to ``value`` units; also the size of added layers."""

    name = "units"
    order = 30

    def why_not(self, script: ScriptAnalysis) -> str | None:
        return None if script.dense_calls else "no Dense layer found"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [None, 64, 128] if script.kind == "cnn" else [None, 32, 64, 128]}

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        hidden = set(script.dense_calls[:-1])

        def pick(node: cst.Call, name: str) -> bool:
            current = arg(node, 0, "units", "output_dim")
            return node in hidden and current is not None and (int_value(current.value) or 10**9) < value

        module, count = rewrite_calls(
            script.module, script.calls, pick,
            lambda node, name: set_kwarg(node, "units", str(value), position=0, aliases=("output_dim",)))
        if not count:
            raise SkipTweak(f"no hidden Dense layer with fewer than {value} units (as a number literal)")
        return module, f"hidden Dense layers widened to {value} units"


@register
class EpochsTweak(Tweak):
    """Multiply the epochs of every Keras fit by ``value`` (at least ``10 * value``), with early stopping that
    restores the best weights, so that more epochs never end on a worse model than an earlier epoch.

    Early stopping watches the validation loss; a fit on arrays without validation data gets
    ``validation_split=0.1``; a fit on a generator or dataset (where Keras refuses ``validation_split``)
    watches the training loss instead.
    """

    name = "epochs"
    order = 70

    def why_not(self, script: ScriptAnalysis) -> str | None:
        if script.framework != "keras":
            return "epochs apply to Keras models"
        return None if script.fit_calls else "no fit(...) call found"

    def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
        return {self.name: [1, 2, 4, 8]}

    def unchanged(self, value: Any) -> bool:
        return value in (None, False, 0, 1)

    def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                ) -> tuple[cst.Module, str]:
        changes: list[str] = []

        def rewrite_fit(node: cst.Call, name: str) -> cst.Call:
            at = _EPOCHS_AT[node.func.attr.value]  # type: ignore[attr-defined]
            current = arg(node, at, "epochs", "nb_epoch")
            base = 1 if current is None else int_value(current.value)
            if base is None:
                raise SkipTweak(f"epochs is not a number literal ({code(current.value)})")  # type: ignore[union-attr]
            epochs = max(base * value, 10 * value)  # x2 of a 3-epoch script is still too short to tell
            node = set_kwarg(node, "epochs", str(epochs), at, ("nb_epoch",))
            node = with_early_stopping(node, at, max(3, epochs // 10))
            changes.append(f"{base}->{epochs}")
            return node

        fits = set(script.fit_calls)
        module, count = rewrite_calls(script.module, script.calls, lambda node, name: node in fits, rewrite_fit)
        if not count:
            raise SkipTweak("no fit(...) call found")
        module = ensure_top(module, f"import keras as {KERAS_ALIAS}")
        return module, f"epochs {', '.join(changes)} with early stopping"
