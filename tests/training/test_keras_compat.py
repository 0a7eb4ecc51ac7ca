"""Which Keras a script was written for decides where it runs: tf_keras for Keras 2 scripts, else Keras 3."""

from __future__ import annotations

import pytest

from training.harness.keras_compat import keras_api_of


@pytest.mark.parametrize("source", [
    "from keras.utils import np_utils",
    "from keras.layers.convolutional import Conv2D",
    "from keras_preprocessing.image import ImageDataGenerator",
    "from tensorflow.keras.preprocessing.image import ImageDataGenerator",
    "model.fit_generator(gen, steps_per_epoch=10)",
    "y = model.predict_classes(X)",
    "from keras.models import Sequential\np = model.predict_proba(X)",
    "opt = Adam(lr=0.01)",
    "opt = keras.optimizers.SGD(learning_rate=0.1, decay=1e-6)",
    "model.add(Dense(output_dim=3, init='uniform'))",
    "model.add(Convolution2D(32, 3, 3, border_mode='same'))",
    "model = Model(input=a, output=b)",
    "model.fit(X, y, nb_epoch=10)",
    "K.set_image_dim_ordering('tf')",
    "import tensorflow as tf\ntf.set_random_seed(7)",
    "import tensorflow as tf\nsess = tf.Session(config=tf.ConfigProto(intra_op_parallelism_threads=1))",
    "import tensorflow as tf\ntf.logging.set_verbosity(tf.logging.ERROR)",
    "from keras.backend.tensorflow_backend import set_session",
    "from keras.utils.vis_utils import plot_model",
])
def test_a_keras2_only_name_or_argument_marks_a_keras2_script(source: str) -> None:
    assert keras_api_of(source) == 2


@pytest.mark.parametrize("source", [
    "from keras import ops\nmodel.fit(X, y, nb_epoch=3)",
    "import keras\nx = keras.ops.argmax(p)",
    "model.save('model.keras')",
    "model.save_weights('w.weights.h5')\nopt = Adam(lr=0.1)",
])
def test_a_keras3_only_name_wins(source: str) -> None:
    assert keras_api_of(source) == 3


@pytest.mark.parametrize("source", [
    "from tensorflow import keras\nmodel = keras.Sequential([keras.layers.Dense(3)])\nmodel.fit(X, y, epochs=5)",
    "from keras.layers import Dense, Conv2D\nmodel.save('model.h5')",
    "print('Adam(lr=0.1)')",  # in a string, not a call
    "from sklearn.linear_model import LogisticRegression\np = model.predict_proba(X)",  # scikit-learn has it too
    "this is not python (",
])
def test_scripts_that_do_not_tell_stay_on_keras3(source: str) -> None:
    assert keras_api_of(source) is None
