"""Source tweaks on several code styles: what they change, what they keep, and that the result runs."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import harness, write_project
from training.tweaks import analyze, apply_config

SPLIT_MODULE = """import numpy as np  # data
from sklearn.model_selection import train_test_split
from tensorflow import keras
X = np.random.RandomState(0).rand(200, 4) * [1, 10, 100, 1000]
y = (X[:, 0] > 0.5).astype(int)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=3, verbose=0)
model.evaluate(X_test, y_test, verbose=0)
"""

SPLIT_FUNCTION = """import sklearn.model_selection as ms
import keras


def main(features, labels):
    # keep the split reproducible
    tr, te, ytr, yte = ms.train_test_split(features, labels, test_size=0.2)
    net = keras.models.Sequential()
    net.add(keras.layers.Dense(3, activation="softmax"))
    net.compile("adam", "sparse_categorical_crossentropy")
    net.fit(tr, ytr)
    return net.evaluate(te, yte)
"""

SPLIT_DATAFRAME = """import pandas as pd
from sklearn.model_selection import train_test_split as tts
import tensorflow as tf
df = pd.DataFrame({"a": range(20), "b": range(20), "label": [0, 1] * 10})
a, b, c, d = tts(df[["a", "b"]], df["label"], stratify=df["label"])
m = tf.keras.Sequential([tf.keras.layers.Dense(1, activation="sigmoid")])
m.fit(a, c, epochs=2)
"""


def scaler_fits(source: str) -> list[str]:
    """Names passed to ``_MlopsStandardScaler().fit(...)`` in a rewritten script."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fit" \
                and isinstance(node.func.value, ast.Call) and getattr(node.func.value.func, "id", "") == \
                "_MlopsStandardScaler":
            names += [a.id for a in node.args if isinstance(a, ast.Name)]
    return names


@pytest.mark.parametrize(("source", "train", "test"), [
    (SPLIT_MODULE, "X_train", "X_test"), (SPLIT_FUNCTION, "tr", "te"), (SPLIT_DATAFRAME, "a", "b")])
def test_scaling_a_keras_script_fits_on_the_training_split_only(source: str, train: str, test: str) -> None:
    out = apply_config(source, {"scale": True})
    assert out.applied == [f"scale features (StandardScaler fitted on {train} only)"] and not out.skipped
    assert scaler_fits(out.source) == [train]  # by construction: the test split never reaches fit()
    lines = out.source.splitlines()
    split_at = next(i for i, ln in enumerate(lines) if "train_test_split(" in ln or "tts(" in ln)
    fit_at = next(i for i, ln in enumerate(lines) if "_MlopsStandardScaler().fit" in ln)
    assert fit_at == split_at + 1
    assert f"{test} = _mlops_scaler.transform({test})" in out.source
    for comment in ("# data", "# keep the split reproducible"):
        if comment in source:
            assert comment in out.source


@pytest.mark.parametrize(("source", "expected"), [
    ("from sklearn.svm import SVC\nclf = SVC(C=1.0)\nclf.fit(X, y)\n",
     "clf = _mlops_make_pipeline(_MlopsStandardScaler(), SVC(C=1.0))"),
    ("from sklearn import neighbors\nscore = neighbors.KNeighborsClassifier().fit(X, y).score(A, b)\n",
     "score = _mlops_make_pipeline(_MlopsStandardScaler(), neighbors.KNeighborsClassifier()).fit(X, y)"),
    ("import sklearn.linear_model as lm\n\ndef make():\n    return lm.LogisticRegression(max_iter=10)\n",
     "    return _mlops_make_pipeline(_MlopsStandardScaler(), lm.LogisticRegression(max_iter=10))"),
])
def test_scaling_a_sklearn_script_wraps_the_estimator_in_a_pipeline(source: str, expected: str) -> None:
    out = apply_config(source, {"scale": True})
    assert expected in out.source and out.applied


def test_an_estimator_inside_grid_search_is_left_alone() -> None:
    src = "from sklearn.model_selection import GridSearchCV\nfrom sklearn.svm import SVC\ng = GridSearchCV(SVC(), {})\n"
    out = apply_config(src, {"scale": True})
    assert out.skipped == [("scale", "no scikit-learn estimator constructed outside another scikit-learn call")]
    assert out.source == src


@pytest.mark.parametrize(("source", "reason"), [
    ("from sklearn.preprocessing import StandardScaler\nfrom sklearn.svm import SVC\ns = StandardScaler()\n",
     "the script already scales its features"),
    ("import keras\nm = keras.Sequential([keras.layers.Conv2D(4, 3), keras.layers.Dense(2)])\n",
     "image input: feature scaling is for tabular data"),
    ("import keras\nm = keras.Sequential([keras.layers.Dense(2)])\nm.fit(X, y, validation_split=0.2)\n",
     "no 'X_train, X_test, ... = train_test_split(...)' to fit a scaler on the training split"),
])
def test_scaling_is_skipped_with_a_reason(source: str, reason: str) -> None:
    out = apply_config(source, {"scale": True})
    assert out.skipped == [("scale", reason)] and out.source == source


ADD_CHAIN = """from keras.models import Sequential
from keras.layers import Dense
model = Sequential()
model.add(Dense(12, input_dim=8, activation="relu"))
model.add(Dense(1, activation="sigmoid"))  # output
"""
LIST_STYLE = """import tensorflow as tf
model = tf.keras.Sequential([
    tf.keras.layers.Dense(16, activation="relu"),
    tf.keras.layers.Dense(3, activation="softmax"),
])
"""
FUNCTIONAL = """from keras import Input, Model, layers
inputs = Input((8,))
x = layers.Dense(units=8, activation="relu")(inputs)
outputs = layers.Dense(1)(x)
model = Model(inputs, outputs)
"""


@pytest.mark.parametrize(("source", "new_line"), [
    (ADD_CHAIN, 'model.add(Dense(64, activation="relu"))'),
    (LIST_STYLE, '    tf.keras.layers.Dense(64, activation="relu"),'),
    (FUNCTIONAL, 'x = layers.Dense(64, activation="relu")(x)'),
])
def test_dense_layers_are_added_before_the_output_layer(source: str, new_line: str) -> None:
    out = apply_config(source, {"dense": 2})  # new layers get 64 units; existing ones are not widened
    lines = out.source.splitlines()
    assert lines.count(new_line) == 2
    output_at = max(i for i, ln in enumerate(lines) if "Dense(1" in ln or "Dense(3" in ln)
    assert max(i for i, ln in enumerate(lines) if ln == new_line) == output_at - 1
    assert analyze(out.source).dense == analyze(source).dense + 2
    if "# output" in source:
        assert "# output" in out.source


@pytest.mark.parametrize(("source", "expected"), [
    (ADD_CHAIN, "Dense(128, input_dim=8"),
    (LIST_STYLE, "tf.keras.layers.Dense(128, activation"),
    (FUNCTIONAL, "layers.Dense(units=128, activation"),
    ("from keras.layers import Dense\nh = Dense(output_dim=10)\no = Dense(1)\n", "Dense(units=128)"),
])
def test_units_widen_hidden_layers_but_never_the_output(source: str, expected: str) -> None:
    out = apply_config(source, {"units": 128})
    assert expected in out.source
    assert analyze(out.source).dense == analyze(source).dense
    assert "Dense(1" in out.source or "Dense(3" in out.source


@pytest.mark.parametrize(("fit", "expected_epochs", "adds_validation"), [
    ("model.fit(X, y, epochs=10, validation_split=0.2)", "epochs=40", False),
    ("model.fit(X, y, 32, 5, validation_data=(A, b))", "32, 40,", False),
    ("model.fit(X, y, nb_epoch=3)", "epochs=40", True),  # at least 10 x factor
    ("model.fit(X, y)", "epochs=40", True),
])
def test_epochs_grow_with_early_stopping(fit: str, expected_epochs: str, adds_validation: bool) -> None:
    src = "import keras\nmodel = keras.Sequential([keras.layers.Dense(1)])\n" + fit + "\n"
    out = apply_config(src, {"epochs": 4})
    assert expected_epochs in out.source and "nb_epoch" not in out.source
    assert "EarlyStopping(monitor=\"val_loss\"" in out.source and "restore_best_weights=True" in out.source
    assert ("validation_split=0.1" in out.source) == adds_validation


def test_epochs_keep_the_users_callbacks() -> None:
    src = "import keras\ncb = []\nm = keras.Sequential()\nm.fit(X, y, epochs=2, callbacks=[cb1, cb2])\n" \
          "m.fit(X, y, epochs=2, callbacks=cb)\n"
    out = apply_config(src, {"epochs": 2})
    assert "callbacks=[cb1, cb2, _mlops_keras.callbacks.EarlyStopping(" in out.source
    assert "callbacks=[*cb, _mlops_keras.callbacks.EarlyStopping(" in out.source


def test_epochs_that_are_not_a_literal_are_skipped() -> None:
    src = "import keras\nn = 5\nm = keras.Sequential()\nm.fit(X, y, epochs=n)\n"
    assert apply_config(src, {"epochs": 2}).skipped == [("epochs", "epochs is not a number literal (n)")]


CNN_CHAIN = """from keras.models import Sequential
from keras.layers import Convolution2D, MaxPooling2D, Flatten, Dense
model = Sequential()
model.add(Convolution2D(4, 3, 3, input_shape=(8, 8, 1)))
model.add(MaxPooling2D())
model.add(Flatten())
model.add(Dense(10))
"""
CNN_LIST = """from tensorflow.keras import layers, models
model = models.Sequential([layers.Conv2D(filters=8, kernel_size=3), layers.Flatten(), layers.Dense(10)])
"""
CNN_FUNCTIONAL = """import keras
inp = keras.Input((8, 8, 1))
h = keras.layers.Conv2D(2, 3, activation="relu")(inp)
h = keras.layers.MaxPooling2D()(h)
h = keras.layers.Flatten()(h)
out = keras.layers.Dense(10)(h)
"""


@pytest.mark.parametrize("source", [CNN_CHAIN, CNN_LIST, CNN_FUNCTIONAL])
def test_conv_blocks_go_after_the_last_convolution_and_its_pooling(source: str) -> None:
    out = apply_config(source, {"conv": 1, "filters": 32, "kernel": 5, "stride": 2})
    new = out.source
    conv_at = new.index("_mlops_keras.layers.Conv2D(32, (5, 5), strides=(2, 2)")
    assert new.rindex("Flatten") > conv_at > new.index("Conv")
    assert "_mlops_keras.layers.MaxPooling2D((2, 2)" in new
    assert analyze(new).conv == analyze(source).conv + 1
    assert all("filters" in d or "Conv" in d for d in out.applied)


@pytest.mark.parametrize(("source", "expected"), [
    (CNN_CHAIN, "Convolution2D(32, 3, 3"), (CNN_LIST, "layers.Conv2D(filters=32, kernel_size=3)"),
    (CNN_FUNCTIONAL, "keras.layers.Conv2D(32, 3,")])
def test_filters_are_raised_on_existing_convolutions(source: str, expected: str) -> None:
    assert expected in apply_config(source, {"filters": 32}).source


@pytest.mark.parametrize(("source", "expected"), [
    ("from sklearn.neighbors import KNeighborsClassifier\nk = KNeighborsClassifier(n_neighbors=3)\n",
     "KNeighborsClassifier(n_neighbors=9)"),
    ("from sklearn.neighbors import KNeighborsClassifier\nk = KNeighborsClassifier()\n",
     "KNeighborsClassifier(n_neighbors=9)"),
    ("from sklearn import neighbors\nk = neighbors.KNeighborsClassifier(3, weights='uniform')\n",
     "neighbors.KNeighborsClassifier(3, weights='uniform', n_neighbors=9)"),
])
def test_hyper_parameters_are_set_on_the_estimator(source: str, expected: str) -> None:
    out = apply_config(source, {"param:KNeighborsClassifier:n_neighbors": 9})
    assert expected in out.source


@pytest.mark.parametrize(("estimator", "replacement"), [
    ("from sklearn.svm import SVC as Model", "_MlopsRandomForestClassifier(n_estimators=300"),
    ("from sklearn.linear_model import Ridge as Model", "_MlopsRandomForestRegressor(n_estimators=300"),
    ("from sklearn.neighbors import KNeighborsRegressor as Model", "_MlopsRandomForestRegressor("),
])
def test_a_stronger_family_replaces_the_estimator(estimator: str, replacement: str) -> None:
    out = apply_config(estimator + "\nm = Model()\nm.fit(X, y)\n", {"family": "random_forest"})
    assert replacement in out.source and "from sklearn.ensemble import RandomForest" in out.source


def test_no_change_means_the_same_script() -> None:
    out = apply_config(ADD_CHAIN, {"scale": False, "dense": 0, "units": None, "epochs": 1})
    assert out.source == ADD_CHAIN and out.applied == [] and out.diff(ADD_CHAIN, "train.py") == ""


@pytest.mark.usefixtures("ml_env")
def test_rewritten_sklearn_scripts_run_and_improve(tmp_path) -> None:
    src = """
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
knn = KNeighborsClassifier(n_neighbors=3)
knn.fit(X_train, y_train)
print(knn.score(X_test, y_test))
"""
    values = {}
    for name, config in {"base": {}, "tuned": {"scale": True, "param:KNeighborsClassifier:n_neighbors": 9},
                         "family": {"family": "gradient_boosting"}}.items():
        p = write_project(tmp_path / name, {"train.py": apply_config(src, config).source})
        code, m, out = harness(p, "ml")
        assert code == 0, out
        values[name] = m["value"]
    assert values["tuned"] > values["base"] + 0.1 and values["family"] > values["base"]


@pytest.mark.slow
@pytest.mark.usefixtures("dl_env")
@pytest.mark.parametrize(("source", "config"), [
    (SPLIT_MODULE, {"scale": True, "dense": 1, "units": 32, "epochs": 2}),
    (CNN_FUNCTIONAL.replace("out = keras.layers.Dense(10)(h)", "") + """
out = keras.layers.Dense(10, activation="softmax")(h)
from sklearn.datasets import load_digits
d = load_digits()
m = keras.Model(inp, out)
m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
m.fit(d.images[..., None] / 16, d.target, epochs=1, validation_split=0.2, verbose=0)
""", {"conv": 1, "filters": 16, "epochs": 2}),
    (CNN_CHAIN.replace("Dense(10))", "Dense(10, activation='softmax'))") + """
from sklearn.datasets import load_digits
d = load_digits()
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(d.images[..., None] / 16, d.target, nb_epoch=1, validation_split=0.2, verbose=0)
""", {"conv": 2, "filters": 8, "dense": 1, "epochs": 2}),
], ids=["ann-scaled-deeper", "cnn-functional", "cnn-keras2-chain"])
def test_rewritten_keras_scripts_run(tmp_path, source: str, config: dict) -> None:
    out = apply_config(source, config)
    assert len(out.applied) == sum(1 for k, v in config.items() if k != "units" and v), out.skipped
    p = write_project(tmp_path / "p", {"train.py": out.source})
    code, m, log = harness(p, "dl")
    assert code == 0, log
    assert m["value"] is not None
