"""Every Keras 2 marker (``training.harness.keras_markers``) is read the same way by both readers of a script:
detection's analysis and the harness say "Keras 2", and the harness translates what it can translate without
running Keras (module paths, layer, model and ``fit_generator`` arguments). The cases are generated from the
marker lists, so a marker added there is tested here."""

from __future__ import annotations

import pytest

from training.analysis import analyze
from training.harness import keras_markers as m
from training.harness.keras_compat import KerasCompat, keras_api_of
from training.harness.keras_compat.imports import shim
from training.harness.keras_compat.keras2_api import keras1_generator_args, keras1_layer_args, keras1_model_kwargs

BASE = "import keras\nmodel = keras.Sequential([keras.layers.Dense(1)])\n"
#: Keras 1 layer classes (the ``KERAS2_LAYERS`` pattern), and a script line reaching each Keras 2-only name.
LAYERS = ("Convolution2D", "AtrousConvolution2D", "Deconvolution2D", "MaxoutDense", "Merge", "Highway")
NAMES = {"np_utils": "y = keras.utils.np_utils.to_categorical(labels)\n",
         "ImageDataGenerator": "gen = keras.preprocessing.image.ImageDataGenerator(rescale=1 / 255)\n"}


def _cases() -> list[tuple[str, str, str]]:
    """(case, script line, what detection's evidence says about it) for every marker."""
    cases = [(f"module {name}", f"import {name}\n", name) for name in sorted(m.KERAS2_MODULES | m.TF1_MODULES)]
    cases += [(f"name {name}", NAMES[name], name) for name in sorted(m.KERAS2_NAMES)]
    cases += [(f"layer {name}", f"from keras.layers import {name}\n", name) for name in LAYERS]
    cases += [(f"method {name}", f"out = model.{name}(x)\n", f"{name}()") for name in sorted(m.KERAS2_METHODS)]
    cases += [(f"layer argument {k}", f"h = keras.layers.Conv2D(8, 3, {k}=1)\n", f"Conv2D({k}=...)")
              for k in sorted(m.LAYER_KWARGS)]
    cases += [(f"fit argument {k}", f"model.fit_generator(gen, {k}=10)\n", f"fit_generator({k}=...)")
              for k in sorted(m.FIT_KWARGS)]
    cases += [(f"model argument {k}", f"net = keras.Model({k}=a)\n", f"Model({k}=...)") for k in sorted(m.MODEL_KWARGS)]
    cases += [(f"{o}({k}=)", f"opt = keras.optimizers.{o}({k}=0.1)\n", f"{o}({k}=...)")
              for o in sorted(m.OPTIMIZERS) for k in sorted(m.OPTIMIZER_KWARGS)]
    cases += [(f"tf.{n}", f"import tensorflow as tf\nx = tf.{n}\n", f"tf.{n}") for n in sorted(m.TF1_NAMES)]
    cases += [(f"backend {n}", f"from keras import backend as K\nK.{n}(s)\n", f"keras.backend.{n}")
              for n in sorted(m.BACKEND_SESSION)]
    return cases


CASES = _cases()


def test_the_layer_and_name_cases_cover_their_lists() -> None:
    assert all(m.KERAS2_LAYERS.match(name) for name in LAYERS)
    assert set(NAMES) == m.KERAS2_NAMES


@pytest.mark.parametrize(("source", "shown"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_keras2_marker_is_keras2_for_detection_and_for_the_harness(source: str, shown: str) -> None:
    script = analyze(BASE + source)
    assert script.keras_api == 2
    assert any(f.what.endswith((f": {shown}", f".{shown}")) for f in script.keras2), script.keras2
    assert keras_api_of(BASE + source) == 2


@pytest.mark.parametrize("module", sorted(m.KERAS3_MODULES))
def test_each_keras3_module_is_keras3_for_the_harness_and_evidence_for_detection(module: str) -> None:
    source = BASE + f"import {module}\n"
    assert keras_api_of(source) == 3
    assert [f.what for f in analyze(source).keras3] == [f"Keras 3 API: {module}"]


def test_scikit_learn_predict_proba_beside_keras_is_not_a_keras2_marker() -> None:
    script = analyze(BASE + "from sklearn.linear_model import LogisticRegression\n"
                            "clf = LogisticRegression()\np = clf.predict_proba(X)\n")
    assert script.keras_api == 3 and not script.keras2


# Module paths Keras 2 had that the harness does not serve: Keras 2's own internals, no script's API.
NOT_SERVED = {"keras.legacy"}


@pytest.mark.parametrize("module", sorted(m.KERAS2_MODULES - NOT_SERVED))
def test_each_removed_module_path_is_served_by_the_import_hook(module: str) -> None:
    compat = KerasCompat(warn=lambda message: None)
    assert shim(module, compat) is not None


@pytest.mark.parametrize("keyword", sorted(m.LAYER_KWARGS))
def test_each_keras1_layer_argument_is_translated(keyword: str) -> None:
    warned: list[str] = []
    compat = KerasCompat(warned.append)
    layer = "Dense" if keyword == "output_dim" else "Conv2D"
    kwargs = {"nb_row": 3, "nb_col": 5} if keyword in ("nb_row", "nb_col") else {keyword: 3}
    args = keras1_layer_args(layer, (8,), kwargs, compat)
    assert args == (8,) and not set(kwargs) & m.LAYER_KWARGS, kwargs
    assert compat.applied() and len(warned) == len(compat.applied())


def test_the_keras1_kernel_given_as_two_numbers_becomes_kernel_size() -> None:
    compat = KerasCompat(warn=lambda message: None)
    kwargs = {"border_mode": "same", "b_regularizer": None}
    args = keras1_layer_args("Conv2D", (32, 3, 3), kwargs, compat)
    assert args == (32,)
    assert kwargs == {"kernel_size": (3, 3), "padding": "same", "bias_regularizer": None}
    assert compat.applied() == ["Conv2D(filters, nb_row, nb_col)", "Conv2D(border_mode=)", "Conv2D(b_regularizer=)"]


class Batches:
    """A generator of the user's, as Keras 1 scripts wrote them: it knows its batch size."""

    batch_size = 32

    def __iter__(self) -> Batches:
        return self

    def __next__(self) -> tuple[list[int], list[int]]:
        return [0] * self.batch_size, [0] * self.batch_size


def test_each_keras1_fit_generator_argument_is_translated() -> None:
    compat = KerasCompat(warn=lambda message: None)
    kwargs = {"nb_epoch": 4, "samples_per_epoch": 100, "nb_val_samples": 64, "validation_data": Batches()}
    keras1_generator_args(kwargs, Batches(), compat)
    assert not set(kwargs) & m.FIT_KWARGS
    assert (kwargs["epochs"], kwargs["steps_per_epoch"], kwargs["validation_steps"]) == (4, 4, 2)
    assert len(compat.applied()) == len(m.FIT_KWARGS)


def test_each_keras1_model_argument_is_translated() -> None:
    compat = KerasCompat(warn=lambda message: None)
    kwargs = keras1_model_kwargs({k: k for k in m.MODEL_KWARGS}, compat)
    assert kwargs == {"inputs": "input", "outputs": "output"}
    assert sorted(compat.applied()) == ["Model(input=)", "Model(output=)"]
