"""The shared script analysis: names resolved through imports (star imports too), and the facts detection and
the tweaks read from it."""

from __future__ import annotations

import pytest

from training.analysis import Use, analyze


@pytest.mark.parametrize(("source", "use"), [
    ("import tensorflow as tf\nx = tf.keras.layers.Dense(3)\n", Use("keras.layers.Dense", 2)),
    ("from tensorflow.python.keras.layers import Dense\n", Use("keras.layers.Dense", 1)),
    ("import tf_keras as K\n\nK.layers.Conv2D(2, 3)\n", Use("keras.layers.Conv2D", 3)),
    ("from keras.layers import Dense as D\nh = D(4)\n", Use("keras.layers.Dense", 2)),
    ("import sklearn.ensemble as ens\nclf = ens.RandomForestClassifier()\n",
     Use("sklearn.ensemble.RandomForestClassifier", 2)),
    ("def main():\n    from sklearn.svm import SVC\n    return SVC()\n", Use("sklearn.svm.SVC", 3)),
], ids=["tf-alias", "tf-python-keras", "tf_keras", "import-as", "module-alias", "import-in-function"])
def test_names_are_resolved_through_imports_with_their_line(source: str, use: Use) -> None:
    assert use in analyze(source).uses


@pytest.mark.parametrize(("source", "name", "line"), [
    ("from keras.layers import *\nm.add(Conv2D(8, 3))\n", "keras.layers.Conv2D", 2),
    ("from tensorflow.keras.layers import *\nx = MaxPooling2D()(x)\n", "keras.layers.MaxPooling2D", 2),
    ("from keras.layers.convolutional import *\nConvolution2D(32, 3, 3)\n",
     "keras.layers.convolutional.Convolution2D", 2),
    ("from keras import *\nm = Sequential([layers.Dense(2)])\n", "keras.layers.Dense", 2),
    ("from keras.models import *\nfrom keras.layers import *\nm = Sequential([Dense(2)])\n", "keras.models.Sequential",
     3),
    ("from helpers import *\nload_data()\n", "helpers.load_data", 2),
])
def test_star_imports_resolve_the_names_they_bring(source: str, name: str, line: int) -> None:
    assert Use(name, line) in analyze(source).uses


def test_a_star_import_does_not_claim_data_variables_keyword_names_or_builtins() -> None:
    script = analyze("from keras.layers import *\nprint(len(x_train))\nh = Dense(units=3)(inputs)\n")
    assert {u.name for u in script.uses} == {"keras.layers.*", "keras.layers.Dense"}


def test_locals_strings_and_comments_are_not_framework_names() -> None:
    script = analyze("# keras.layers.Conv2D later\nimport keras\nConv2D = 3\ns = 'Conv2D'\n"
                     "m = keras.Sequential([keras.layers.Dense(Conv2D)])\n")
    assert (script.kind, script.conv, script.dense) == ("ann", 0, 1)


ANN = """import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from tensorflow import keras
X_train, X_test, y_train, y_test = train_test_split(X, y)
scaler = StandardScaler()
scaler.fit(X_train)
model = keras.Sequential([keras.layers.Dense(32), keras.layers.Dense(units=16), keras.layers.Dense(n),
                          keras.layers.Dense(1)])
model.fit(X_train, y_train, epochs=7)
"""
CNN_KERAS2 = """from keras.models import Sequential
from keras.layers.convolutional import Convolution1D
from keras.layers.core import Dense
model = Sequential()
model.add(Convolution1D(nb_filter=8, filter_length=3, input_shape=(20, 1)))
model.add(Dense(output_dim=1))
model.fit_generator(batches, 100, 4)
"""
SKLEARN = """from sklearn.neighbors import KNeighborsClassifier
from sklearn.model_selection import GridSearchCV, train_test_split
a, b, c, d = train_test_split(X, y)
search = GridSearchCV(KNeighborsClassifier(), {"n_neighbors": [3, 5]}).fit(a, c)
"""


@pytest.mark.parametrize(("source", "facts"), [
    (ANN, {"framework": "keras", "kind": "ann", "dense": 4, "conv": 0, "hidden_units": [32, 16], "fits": 1,
           "epochs": 7, "splits": (("X_train", "X_test"),), "scaled": True, "estimators": ()}),
    (CNN_KERAS2, {"framework": "keras", "kind": "cnn", "dense": 1, "conv": 1, "conv_dims": 1, "fits": 1,
                  "epochs": 4, "splits": (), "scaled": False}),
    (SKLEARN, {"framework": "sklearn", "kind": "ml", "dense": 0, "fits": 0, "splits": (("a", "b"),),
               "scaled": False, "estimators": ("KNeighborsClassifier",)}),
], ids=["ann", "cnn-keras2", "sklearn"])
def test_facts_the_tweaks_read(source: str, facts: dict) -> None:
    script = analyze(source)
    assert {k: getattr(script, k) for k in facts} == facts


def test_a_class_extending_a_scikit_learn_scaler_scales_and_its_fit_is_not_a_keras_fit() -> None:
    script = analyze("""import keras
from sklearn.preprocessing import StandardScaler


class MyScaler(StandardScaler):
    def fit(self, X, y=None):
        return super().fit(X, y)


s = MyScaler().fit(X_train)
model = keras.Sequential([keras.layers.Dense(1)])
model.fit(X_train, y_train, epochs=2)
""")
    assert script.scaled and script.fits == 1 and script.epochs == 2


def test_the_same_content_is_parsed_once() -> None:
    source = "import keras\nm = keras.Sequential([keras.layers.Dense(1)])\n"
    assert analyze(source) is analyze(str(source.encode().decode()))
    assert analyze(source + "\n") is not analyze(source)


def test_a_syntax_error_says_where() -> None:
    with pytest.raises(SyntaxError) as err:
        analyze("import keras\nmodel = keras.Sequential(\n")
    assert (err.value.lineno, err.value.msg) == (2, "'(' was never closed")


@pytest.mark.parametrize(("source", "api", "what"), [
    ("from keras.utils import np_utils\nimport keras\n", 2, "Keras 2 API: keras.utils.np_utils"),
    ("import keras\nm = keras.Sequential()\nm.fit(x, y, nb_epoch=3)\n", 2, "Keras 2 API: fit(nb_epoch=...)"),
    ("from keras.optimizers import Adam\nopt = Adam(lr=0.1)\n", 2, "Keras 2 API: Adam(lr=...)"),
    ("import keras\nm.add(keras.layers.Dense(64, init='uniform'))\n", 2, "Keras 2 API: Dense(init=...)"),
    ("import keras\nimport keras.ops as ops\n", 3, "Keras 3 API: keras.ops"),
    ("import keras\nm = keras.Sequential([keras.layers.Dense(1)])\n", 3, None),
    ("from sklearn.svm import SVC\nSVC()\n", None, None),
])
def test_keras_api_version(source: str, api: int | None, what: str | None) -> None:
    script = analyze(source)
    assert script.keras_api == api
    if what:
        assert what in [f.what for f in (*script.keras2, *script.keras3)]
