"""Source tweaks on several code styles: what they change, what they keep, and that the result runs."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.conftest import EXAMPLES, harness, write_project
from training.strategies import build_space, full_config
from training.tweaks import TWEAKS, ScriptAnalysis, Tweak, analyze, apply_config, register
from training.tweaks._cst import rewrite_calls, set_kwarg

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


@pytest.mark.parametrize("datagen", ["datagen = ImageDataGenerator(rotation_range=10)\ndatagen.fit(X)\n",
                                     "ImageDataGenerator(rotation_range=10).fit(X)\n"])
def test_epochs_leave_an_image_data_generators_fit_alone(datagen: str) -> None:
    src = ("from keras.preprocessing.image import ImageDataGenerator\nimport keras\n"
           "model = keras.Sequential([keras.layers.Dense(1)])\n" + datagen +
           "model.fit(X, y, epochs=4)\n")
    out = apply_config(src, {"epochs": 2})
    assert ".fit(X)\n" in out.source  # the generator's statistics: no epochs, no callbacks
    assert "model.fit(X, y, epochs=20, validation_split=0.1, callbacks=[" in out.source


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


# --- Keras 2 style scripts ---------------------------------------------------------------------------------------

KERAS2_ANN = """from keras.models import Sequential
from keras.layers.core import Dense, Activation
from keras.optimizers import SGD
from sklearn.model_selection import train_test_split
X_train, X_test, y_train, y_test = train_test_split(X, Y, test_size=0.2)
model = Sequential()
model.add(Dense(output_dim=16, init='uniform', input_dim=8))
model.add(Activation('relu'))
model.add(Dense(output_dim=1, init='uniform'))
model.add(Activation('sigmoid'))
model.compile(loss='binary_crossentropy', optimizer=SGD(lr=0.01))
model.fit(X_train, y_train, nb_epoch=5, batch_size=16)
"""
KERAS2_CNN = """import keras
from keras.models import Sequential
from keras.layers.convolutional import Convolution2D, MaxPooling2D
from keras.layers.core import Flatten, Dense
model = Sequential()
model.add(Convolution2D(8, 3, 3, input_shape=(28, 28, 1), activation='relu'))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(keras.layers.convolutional.Conv2D(16, (3, 3)))
model.add(Flatten())
model.add(keras.layers.core.Dense(output_dim=32, init='uniform'))
model.add(Dense(10, activation='softmax'))
model.fit(X, Y, nb_epoch=3)
"""
KERAS2_STAR = """from keras.models import Sequential
from keras.layers import *
model = Sequential()
model.add(Convolution2D(8, 3, 3, input_shape=(28, 28, 1)))
model.add(Flatten())
model.add(Dense(output_dim=32))
model.add(Dense(10, activation='softmax'))
model.fit(X, Y, nb_epoch=3)
"""


@pytest.mark.parametrize(("source", "config", "expected", "facts"), [
    (KERAS2_ANN, {"units": 64}, ["model.add(Dense(units=64, init='uniform', input_dim=8))",
                                 "model.add(Dense(output_dim=1, init='uniform'))"], {"dense": 2}),
    (KERAS2_ANN, {"dense": 1}, ['model.add(Activation(\'relu\'))\nmodel.add(Dense(64, activation="relu"))\n'
                                "model.add(Dense(output_dim=1, init='uniform'))"], {"dense": 3}),
    (KERAS2_ANN, {"epochs": 2}, ["model.fit(X_train, y_train, epochs=20, batch_size=16, validation_split=0.1"],
     {"epochs": 20}),
    (KERAS2_ANN, {"scale": True}, ["X_test = _mlops_scaler.transform(X_test)"], {"scaled": True}),
    (KERAS2_CNN, {"filters": 32}, ["Convolution2D(32, 3, 3, input_shape", "convolutional.Conv2D(32, (3, 3))"],
     {"conv": 2}),
    (KERAS2_CNN, {"conv": 1}, ["model.add(keras.layers.convolutional.Conv2D(16, (3, 3)))\n"
                               "model.add(_mlops_keras.layers.Conv2D(32, (3, 3)"], {"conv": 3}),
    (KERAS2_CNN, {"dense": 1, "units": 64}, ["keras.layers.core.Dense(units=64, init='uniform')",
                                             'model.add(Dense(64, activation="relu"))\nmodel.add(Dense(10, '],
     {"dense": 3}),
    (KERAS2_CNN, {"epochs": 4}, ["model.fit(X, Y, epochs=40, validation_split=0.1"], {"epochs": 40}),
    (KERAS2_STAR, {"filters": 16, "units": 64, "conv": 1, "dense": 1, "epochs": 2},
     ["Convolution2D(16, 3, 3", "Dense(units=64)", "_mlops_keras.layers.Conv2D(16", "epochs=20"],
     {"conv": 2, "dense": 3, "epochs": 20}),
], ids=["units", "dense", "epochs", "scale", "filters", "conv", "cnn-dense-units", "cnn-epochs", "star-import"])
def test_tweaks_rewrite_keras_2_style_scripts(source: str, config: dict, expected: list[str], facts: dict) -> None:
    out = apply_config(source, config)
    assert not out.skipped and len(out.applied) == len(config)
    for text in expected:
        assert text in out.source
    rewritten = analyze(out.source)  # parses, and reads back as the change says
    assert {k: getattr(rewritten, k) for k in facts} == facts
    assert "nb_epoch" not in out.source or "epochs" not in config


@pytest.mark.parametrize(("fit", "expected"), [
    ("model.fit_generator(datagen.flow(X, Y, batch_size=32), steps_per_epoch=10, nb_epoch=5)",
     "model.fit_generator(datagen.flow(X, Y, batch_size=32), steps_per_epoch=10, epochs=40, callbacks=["
     '_mlops_keras.callbacks.EarlyStopping(monitor="loss"'),
    ("model.fit(datagen.flow(X, Y), epochs=5)",
     'model.fit(datagen.flow(X, Y), epochs=40, callbacks=[_mlops_keras.callbacks.EarlyStopping(monitor="loss"'),
    ("model.fit(train_ds, validation_data=val_ds, epochs=5)",
     'epochs=40, callbacks=[_mlops_keras.callbacks.EarlyStopping(monitor="val_loss"'),
], ids=["fit_generator", "fit-on-a-generator", "fit-on-datasets"])
def test_epochs_on_generators_add_no_validation_split(fit: str, expected: str) -> None:
    # Keras refuses validation_split for generators and datasets: early stopping watches what there is.
    src = "import keras\nmodel = keras.Sequential([keras.layers.Dense(1)])\n" + fit + "\n"
    out = apply_config(src, {"epochs": 4})
    assert expected in out.source and "validation_split" not in out.source


def test_the_scaler_written_into_a_keras_script_is_not_taken_for_a_keras_fit() -> None:
    out = apply_config(SPLIT_MODULE, {"scale": True, "epochs": 2})
    assert out.applied == ["scale features (StandardScaler fitted on X_train only)",
                           "epochs 3->20 with early stopping"]
    assert out.source.count("EarlyStopping(") == 1


# --- scaling keeps the data's type ---------------------------------------------------------------------------------

PANDAS_SCRIPT = """import json
import numpy as np
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

df = load_wine(as_frame=True).frame
X = {features}
X_train, X_test, y_train, y_test = train_test_split(X, df["target"], test_size=0.3, random_state=0)
raw_train, raw_test, _, _ = train_test_split(X, df["target"], test_size=0.3, random_state=0)
as_array = lambda a: np.asarray(a, dtype=float).reshape(len(a), -1)
mean, std = as_array(raw_train).mean(axis=0), as_array(raw_train).std(axis=0)
facts = {{
    "types": [type(X_train).__name__, type(X_test).__name__],
    "float32": str((X_train if isinstance(X_train, np.ndarray) else X_train.values).astype("float32").dtype),
    "same_index": bool(list(getattr(X_test, "index", [])) == list(getattr(raw_test, "index", []))),
    "same_columns": list(getattr(X_train, "columns", [])) == list(getattr(raw_train, "columns", [])),
    "same_name": getattr(X_train, "name", None) == getattr(raw_train, "name", None),
    "train_standardised": bool(np.allclose(as_array(X_train).mean(axis=0), 0, atol=1e-9)),
    "test_scaled_with_train_statistics": bool(np.allclose(as_array(X_test), (as_array(raw_test) - mean) / std)),
}}
if hasattr(X_train, "iloc"):
    facts["iloc"] = float(X_train.iloc[0] if X_train.ndim == 1 else X_train.iloc[0, 0])
print(json.dumps(facts))
try:
    import keras
except ImportError:  # the scikit-learn virtualenv: the data preparation above is what runs
    raise SystemExit(0)
model = keras.Sequential([keras.layers.Dense(3, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(X_train.values.astype("float32"), y_train.values, epochs=2)
"""


@pytest.mark.usefixtures("ml_env")
@pytest.mark.parametrize(("features", "kind"), [
    ('df.drop(columns="target")', "DataFrame"), ('df["alcohol"]', "Series"),
    ('df.drop(columns="target").to_numpy()', "ndarray")])
def test_scaling_keeps_dataframes_series_and_arrays_what_they_are(features: str, kind: str, tmp_path) -> None:
    import json
    import subprocess

    from training.backends import LocalBackend

    out = apply_config(PANDAS_SCRIPT.format(features=features), {"scale": True})
    assert out.applied == ["scale features (StandardScaler fitted on X_train only)"]
    assert "class _MlopsStandardScaler(_MlopsSklearnStandardScaler):" in out.diff(PANDAS_SCRIPT, "train.py")
    script = tmp_path / "train.py"
    script.write_text(out.source)
    python = LocalBackend().venv_dir("ml") / "bin" / "python"
    proc = subprocess.run([str(python), str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin"})  # the script alone: no mlops on the path
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["types"] == [kind, kind] and facts["float32"] == "float32"
    assert facts["same_index"] and facts["same_columns"] and facts["same_name"]  # (vacuous for arrays)
    assert facts["train_standardised"] and facts["test_scaled_with_train_statistics"]
    assert ("iloc" in facts) == (kind != "ndarray")


# --- the registry and the tweak space ------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "keys"), [
    (SPLIT_MODULE, ["scale", "dense", "units", "epochs", "optimizer", "lr", "early_stop", "class_weight"]),
    (CNN_CHAIN + "model.fit(X, Y)\n", ["filters", "conv", "kernel", "stride", "dense", "units", "epochs", "early_stop",
                                      "augment", "class_weight"]),
    ("from sklearn.neighbors import KNeighborsClassifier\nKNeighborsClassifier().fit(X, y)\n",
     ["scale", "param:KNeighborsClassifier:n_neighbors", "param:KNeighborsClassifier:weights", "family",
      "class_weight"]),
    ("import keras\nm = keras.Sequential([keras.layers.Dense(1)])\n", ["dense", "units"]),  # nothing calls fit
], ids=["ann", "cnn", "sklearn", "no-fit"])
def test_the_space_offers_the_tweaks_that_apply_in_a_stable_order(source: str, keys: list[str]) -> None:
    # The order of keys feeds the seeded random and TPE samplers: the same script gets the same suggestions.
    space = build_space(analyze(source))
    assert list(space.choices) == keys
    assert space.ladder[0] == {} and all(set(rung) <= set(keys) for rung in space.ladder)


@pytest.mark.parametrize("example", ["wine-sklearn", "wine-knn-unscaled", "wine-keras", "digits-cnn"])
def test_every_ladder_rung_changes_the_example_scripts(example: str) -> None:
    source = (EXAMPLES / example / "train.py").read_text()
    space = build_space(analyze(source))
    sources = [apply_config(source, full_config(space, rung)).source for rung in space.ladder]
    assert sources[0] == source and len(set(sources)) == len(sources)


@pytest.fixture
def registry() -> Iterator[list[Tweak]]:
    """The tweak registry, restored after the test."""
    saved = list(TWEAKS)
    yield TWEAKS
    TWEAKS[:] = saved


def test_a_new_tweak_is_one_registered_class(registry: list[Tweak]) -> None:
    @register
    class OutputBiasTweak(Tweak):
        name = "no_output_bias"
        order = 65

        def why_not(self, script: ScriptAnalysis) -> str | None:
            return None if script.dense_calls else "no Dense layer"

        def choices(self, script: ScriptAnalysis) -> dict[str, list[Any]]:
            return {self.name: [False, True]}

        def rewrite(self, script: ScriptAnalysis, key: str, value: Any, config: Mapping[str, Any]
                    ) -> tuple[Any, str]:
            output = script.dense_calls[-1]
            module, _ = rewrite_calls(script.module, script.calls, lambda node, name: node is output,
                                      lambda node, name: set_kwarg(node, "use_bias", "False"))
            return module, "output layer without bias"

    assert build_space(analyze(ADD_CHAIN)).choices["no_output_bias"] == [False, True]
    out = apply_config(ADD_CHAIN, {"dense": 1, "no_output_bias": True})
    assert out.applied == ["+1 hidden Dense(64, relu) layer", "output layer without bias"]
    assert 'model.add(Dense(1, activation="sigmoid", use_bias=False))  # output' in out.source
    sklearn = "from sklearn.svm import SVC\nSVC().fit(X, y)\n"
    assert "no_output_bias" not in build_space(analyze(sklearn)).choices
    assert apply_config(sklearn, {"no_output_bias": True}).skipped == [("no_output_bias", "no Dense layer")]
    with pytest.raises(ValueError, match="'no_output_bias' is already registered"):
        register(OutputBiasTweak)
