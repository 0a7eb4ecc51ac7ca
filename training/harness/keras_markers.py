"""What marks a script as written for Keras 2 (or 1), and what marks one written for Keras 3 (stdlib only).

The one list both readers of a script use: the analysis (``training.analysis``: libcst, names resolved through
the imports; detection and the tweaks read it) and the harness (``keras_compat.version``: ``ast`` on the trial's
script when no detection said which Keras it is for). ``tensorflow.keras.`` and ``tf_keras.`` count as ``keras.``.
The harness translates what the markers name (``keras_compat``; the TensorFlow 1 names in ``tf1_compat``), except
``keras.legacy`` (Keras 2's internals) and the Keras 1 layers ``Merge``, ``Highway`` and ``MaxoutDense``, which
have no counterpart today: such a script stops with Keras's own error.
"""

from __future__ import annotations

import re

__all__ = ["BACKEND_SESSION", "FIT_KWARGS", "KERAS2_LAYERS", "KERAS2_METHODS", "KERAS2_MODULES", "KERAS2_NAMES",
           "KERAS3_FILES", "KERAS3_MODULES", "LAYER_KWARGS", "LAYER_MODULES", "MODEL_KWARGS", "OPTIMIZERS",
           "OPTIMIZER_KWARGS", "TF1_MODULES", "TF1_NAMES"]

#: ``keras.layers.<name>`` modules of Keras 1/2 whose classes now live in ``keras.layers``.
LAYER_MODULES = ("convolutional", "core", "pooling", "normalization", "advanced_activations", "recurrent",
                 "embeddings", "merge", "noise", "local", "wrappers", "convolutional_recurrent", "cudnn_recurrent")

#: Module paths of Keras 1/2 that Keras 3 (and tf_keras's public API) removed.
KERAS2_MODULES: frozenset[str] = frozenset(
    {f"keras.layers.{m}" for m in LAYER_MODULES}
    | {"keras.utils.np_utils", "keras.utils.vis_utils", "keras.utils.generic_utils", "keras.utils.data_utils",
       "keras.objectives", "keras.callbacks.callbacks", "keras.legacy", "keras.wrappers.scikit_learn",
       "keras.engine", "keras_preprocessing"})

#: Names only Keras 1/2 have, however they are reached (``from keras.utils import np_utils``,
#: ``tf.keras.preprocessing.image.ImageDataGenerator``).
KERAS2_NAMES = frozenset({"np_utils", "ImageDataGenerator"})

#: Keras 1 layer classes that Keras 2 renamed (``Convolution2D``) or dropped.
KERAS2_LAYERS = re.compile(r"^(Convolution\dD|AtrousConvolution\dD|Deconvolution\dD|MaxoutDense|Merge|Highway)$")

#: Methods of Keras 1/2 models and backend that Keras 3 removed.
KERAS2_METHODS = frozenset({"fit_generator", "evaluate_generator", "predict_generator", "predict_classes",
                            "predict_proba", "set_image_dim_ordering", "image_dim_ordering"})

#: Keras 1 keyword arguments of layers (Keras 2 renamed them: ``output_dim`` -> ``units``, ``nb_row, nb_col`` ->
#: ``kernel_size``, ...).
LAYER_KWARGS = frozenset({"init", "output_dim", "nb_filter", "nb_row", "nb_col", "border_mode", "subsample",
                          "W_regularizer", "b_regularizer", "dim_ordering"})

#: Keras 1 keyword arguments of ``fit`` and ``fit_generator`` (counted in samples, or the old ``nb_epoch``).
FIT_KWARGS = frozenset({"nb_epoch", "samples_per_epoch", "nb_val_samples"})

#: Keras 1 keyword arguments of ``Model(...)``.
MODEL_KWARGS = frozenset({"input", "output"})

#: Keras optimizers, and the Keras 2 arguments they lost (``lr=``, ``decay=``).
OPTIMIZERS = frozenset({"SGD", "RMSprop", "Adam", "Adamax", "Nadam", "Adagrad", "Adadelta", "Ftrl"})
OPTIMIZER_KWARGS = frozenset({"lr", "decay"})

#: ``tf.<name>`` of TensorFlow 1 that Keras 2 scripts call around their model (``tf1_compat``).
TF1_NAMES = frozenset({"set_random_seed", "Session", "ConfigProto", "GPUOptions", "global_variables_initializer",
                       "logging", "get_default_graph", "placeholder"})
#: ``keras.backend`` functions of TensorFlow 1 sessions, and the module Keras 2 kept them in.
BACKEND_SESSION = frozenset({"set_session", "get_session"})
TF1_MODULES = frozenset({"keras.backend.tensorflow_backend"})

#: Modules only Keras 3 has: a script using one was written for Keras 3.
KERAS3_MODULES = ("keras.ops", "keras.config", "keras.random", "keras.saving", "keras.src", "keras.tree",
                  "keras_core")
#: File names only Keras 3 saves to.
KERAS3_FILES = (".keras", ".weights.h5")
