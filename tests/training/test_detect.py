"""Framework detection on scripts written in many styles, notebooks and multi-file projects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import DetectionError
from tests.conftest import EXAMPLES, mlops
from training.detect import Evidence, detect

SCRIPTS: dict[str, tuple[str, str, str]] = {
    # name: (source, framework, kind)
    "keras3_sequential_dense": ("import keras\nm = keras.Sequential([keras.layers.Dense(3)])\nm.fit(x, y)\n",
                                "keras", "ann"),
    "tf_keras_conv_attribute": ("import tensorflow as tf\nm = tf.keras.Sequential()\n"
                                "m.add(tf.keras.layers.Conv2D(8, 3))\nm.fit(x, y)\n", "keras", "cnn"),
    "from_tensorflow_import_keras": ("from tensorflow import keras\nfrom tensorflow.keras import layers\n"
                                     "m = keras.Sequential([layers.Dense(4), layers.Dense(1)])\n", "keras", "ann"),
    "keras2_convolution2d": ("from keras.models import Sequential\nfrom keras.layers import Convolution2D, Dense\n"
                             "model = Sequential()\nmodel.add(Convolution2D(32, 3, 3))\n", "keras", "cnn"),
    "keras2_dense_import": ("from keras.layers import Dense\nfrom keras.models import Sequential\n"
                            "model = Sequential()\nmodel.add(Dense(10, input_dim=8))\nmodel.fit(X, Y)\n",
                            "keras", "ann"),
    "aliased_conv_import": ("from keras.layers import Conv2D as C2\nfrom keras import Sequential\n"
                            "m = Sequential([C2(4, 3)])\n", "keras", "cnn"),
    "aliased_layers_module": ("import tensorflow.keras.layers as L\nimport tensorflow as tf\n"
                              "m = tf.keras.Sequential([L.Conv1D(4, 3), L.Flatten(), L.Dense(1)])\n",
                              "keras", "cnn"),
    "model_built_in_function": ("from tensorflow import keras\n\ndef build():\n"
                                "    return keras.Sequential([keras.layers.SeparableConv2D(8, 3)])\n\n"
                                "if __name__ == '__main__':\n    build().fit(x, y)\n", "keras", "cnn"),
    "functional_api": ("from keras import layers, Model, Input\ninp = Input((8, 8, 1))\n"
                       "x = layers.Conv2D(4, 3)(inp)\nout = layers.Dense(2)(layers.Flatten()(x))\n"
                       "Model(inp, out).fit(a, b)\n", "keras", "cnn"),
    "keras_with_sklearn_helpers": ("from sklearn.model_selection import train_test_split\n"
                                   "from keras.models import Sequential\nfrom keras.layers import Dense\n"
                                   "m = Sequential([Dense(1)])\n", "keras", "ann"),
    "tf_python_keras_old_path": ("from tensorflow.python.keras.layers import Dense\n"
                                 "from tensorflow.python.keras.models import Sequential\n", "keras", "ann"),
    "conv3d_transpose": ("import keras\nm = keras.Sequential([keras.layers.Conv2DTranspose(4, 3)])\n",
                         "keras", "cnn"),
    "local_variable_named_conv_is_not_keras": ("import keras\nConv2D = 3\nm = keras.Sequential()\n"
                                               "m.add(keras.layers.Dense(Conv2D))\n", "keras", "ann"),
    "sklearn_estimator_score": ("from sklearn.linear_model import LogisticRegression\n"
                                "clf = LogisticRegression().fit(X, y)\nprint(clf.score(X, y))\n", "sklearn", "ml"),
    "sklearn_module_import": ("import sklearn.ensemble as ens\nclf = ens.RandomForestClassifier()\n"
                              "clf.fit(X, y)\n", "sklearn", "ml"),
    "sklearn_pipeline": ("from sklearn.pipeline import make_pipeline\nfrom sklearn.svm import SVC\n"
                         "from sklearn.preprocessing import StandardScaler\n"
                         "p = make_pipeline(StandardScaler(), SVC())\np.fit(X, y)\n", "sklearn", "ml"),
    "sklearn_plain_import": ("import sklearn\nfrom sklearn import tree\nt = tree.DecisionTreeClassifier()\n",
                             "sklearn", "ml"),
    "sklearn_in_main_function": ("def main():\n    from sklearn.neighbors import KNeighborsClassifier\n"
                                 "    KNeighborsClassifier().fit(X, y)\n\nmain()\n", "sklearn", "ml"),
    "comment_mentions_keras_but_code_is_sklearn": ("# TODO: try keras.layers.Conv2D later\n"
                                                   "from sklearn.tree import DecisionTreeClassifier\n"
                                                   "s = 'from keras import layers'\n", "sklearn", "ml"),
    "string_conv2d_is_not_a_layer": ("import keras\nname = 'Conv2D'\n"
                                     "m = keras.Sequential([keras.layers.Dense(2)])\n", "keras", "ann"),
    "depthwise_conv": ("from tensorflow.keras.layers import DepthwiseConv2D, Dense\n", "keras", "cnn"),
    "tf_only_import": ("import tensorflow as tf\nm = tf.keras.models.Sequential([tf.keras.layers.Dense(1)])\n",
                       "keras", "ann"),
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_a_script_is_classified_by_its_code(name: str, tmp_path: Path) -> None:
    source, framework, kind = SCRIPTS[name]
    (tmp_path / "train.py").write_text(source)
    det = detect(tmp_path)
    assert (det.framework, det.kind) == (framework, kind)
    assert det.image == ("mlops-ml" if kind == "ml" else "mlops-dl")
    assert det.entry == "train.py"
    assert det.evidence and all(e.file == "train.py" and e.line >= 1 for e in det.evidence)


def _notebook(cells: list[tuple[str, str]]) -> str:
    return json.dumps({"cells": [{"cell_type": t, "metadata": {}, "source": s.splitlines(keepends=True),
                                  **({"outputs": [], "execution_count": None} if t == "code" else {})}
                                 for t, s in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_a_notebook_is_read_from_its_code_cells_only(tmp_path: Path) -> None:
    (tmp_path / "experiment.ipynb").write_text(_notebook([
        ("markdown", "We could use `from sklearn import svm` here"),
        ("code", "%matplotlib inline\n!pip install keras\nimport keras\nfrom keras import layers"),
        ("code", "m = keras.Sequential([layers.Conv2D(8, 3), layers.Flatten(), layers.Dense(10)])\nm.fit(x, y)"),
    ]))
    det = detect(tmp_path)
    assert (det.framework, det.kind, det.entry) == ("keras", "cnn", "experiment.ipynb")
    assert any("Conv2D" in e.what for e in det.evidence)


def test_a_notebook_written_with_nbformat_is_detected(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from sklearn.svm import SVC\nSVC().fit(X, y)")]
    nbformat.write(nb, tmp_path / "svm.ipynb")
    assert detect(tmp_path / "svm.ipynb").framework == "sklearn"


def test_the_model_built_in_a_local_module_counts(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text("from keras import layers, Sequential\n"
                                       "def build():\n    return Sequential([layers.Conv2D(4, 3)])\n")
    (tmp_path / "train.py").write_text("import numpy as np\nfrom model import build\nbuild().fit(x, y)\n")
    det = detect(tmp_path)
    assert (det.framework, det.kind) == ("keras", "cnn")
    assert any(e.file == "model.py" for e in det.evidence)


def test_entry_from_mlops_yaml_wins(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("from sklearn.svm import SVC\nSVC().fit(X, y)\n")
    (tmp_path / "deep.py").write_text("import keras\nkeras.Sequential().fit(x, y)\n")
    assert detect(tmp_path, entry="deep.py").framework == "keras"
    assert detect(tmp_path).framework == "sklearn"


def test_the_single_script_that_trains_is_the_entry(tmp_path: Path) -> None:
    (tmp_path / "utils.py").write_text("import numpy as np\ndef load():\n    return np.zeros(3)\n")
    (tmp_path / "fit_model.py").write_text("from sklearn.svm import SVC\nSVC().fit(X, y)\n")
    assert detect(tmp_path).entry == "fit_model.py"


def test_several_training_scripts_ask_for_an_entry(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from sklearn.svm import SVC\nSVC().fit(X, y)\n")
    (tmp_path / "b.py").write_text("from sklearn.svm import SVC\nSVC().fit(X, y)\n")
    with pytest.raises(DetectionError, match=r"several scripts train \(a.py, b.py\); set 'entry:' in mlops.yaml"):
        detect(tmp_path)


def test_a_folder_without_python_code_is_refused(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("hello")
    with pytest.raises(DetectionError, match="no Python script or notebook found"):
        detect(tmp_path)


def test_code_using_another_framework_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import torch\nnet = torch.nn.Linear(2, 1)\n")
    with pytest.raises(DetectionError, match=r"uses neither scikit-learn nor Keras/TensorFlow \(found torch\)"):
        detect(tmp_path)


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import keras\nmodel = keras.Sequential(\n")
    with pytest.raises(DetectionError, match=r"train.py:2: syntax error"):
        detect(tmp_path)


@pytest.mark.parametrize(("example", "framework", "kind"), [
    ("wine-sklearn", "sklearn", "ml"), ("wine-keras", "keras", "ann"), ("digits-cnn", "keras", "cnn")])
@pytest.mark.slow
def test_detect_command_prints_json_for_the_examples(example: str, framework: str, kind: str) -> None:
    proc = mlops("detect", str(EXAMPLES / example), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {k: data[k] for k in ("framework", "kind", "entry")} == {"framework": framework, "kind": kind,
                                                                     "entry": "train.py"}
    assert data["image"] and data["evidence"][0].keys() == {"file", "line", "what"}


@pytest.mark.slow
def test_detect_command_exits_2_with_one_line_for_no_framework(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hello')\n")
    proc = mlops("detect", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("error: train.py: uses neither scikit-learn nor Keras")


@pytest.mark.slow
def test_detect_command_exits_2_for_a_missing_path(tmp_path: Path) -> None:
    proc = mlops("detect", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr


@pytest.mark.parametrize("source", [
    "from keras.models import Sequential\nfrom keras.layers import *\n\nmodel = Sequential()\n"
    "model.add(Conv2D(32, (3, 3), input_shape=(28, 28, 1)))\nmodel.add(Flatten())\nmodel.add(Dense(10))\n",
    "from tensorflow.keras.layers import *\nfrom tensorflow.keras.models import *\n\nmodel = Sequential([\n"
    "    Dense(8),\n    Convolution2D(32, 3, 3),\n])\n",
], ids=["keras", "tf-keras"])
def test_a_star_import_from_keras_layers_finds_the_convolution(source: str, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(source)
    det = detect(tmp_path)
    assert (det.framework, det.kind) == ("keras", "cnn")
    conv = [e for e in det.evidence if e.what.startswith("convolution layer:")]
    assert [(e.line, e.what.rsplit(".", 1)[-1]) for e in conv] in ([(5, "Conv2D")], [(6, "Convolution2D")])


@pytest.mark.slow
def test_a_notebook_with_only_markdown_says_it_has_no_code_cells(tmp_path: Path) -> None:
    (tmp_path / "analysis.ipynb").write_text(_notebook([("markdown", "# Plan\nTrain `sklearn.svm.SVC` on wine"),
                                                        ("code", "\n")]))
    with pytest.raises(DetectionError, match=r"^analysis.ipynb: the notebook has no code cells .*; put the "
                                             r"training code in a code cell$"):
        detect(tmp_path)
    proc = mlops("detect", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr


def test_a_markdown_notebook_next_to_the_training_script_is_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.ipynb").write_text(_notebook([("markdown", "just notes")]))
    (tmp_path / "fit.py").write_text("from sklearn.svm import SVC\nSVC().fit(X, y)\n")
    assert detect(tmp_path).entry == "fit.py"


KERAS_BASE = "import keras\nmodel = keras.Sequential([keras.layers.Dense(1)])\n"


@pytest.mark.parametrize(("source", "line", "what"), [
    ("from keras.utils import np_utils\n" + KERAS_BASE, 1, "keras.utils.np_utils"),
    ("from keras.layers.core import Dense, Dropout\n" + KERAS_BASE, 1, "keras.layers.core"),
    (KERAS_BASE + "from keras.layers.convolutional import Conv2D\n", 3, "keras.layers.convolutional"),
    ("from keras.layers.normalization import BatchNormalization\n" + KERAS_BASE, 1, "keras.layers.normalization"),
    ("from keras.layers.pooling import MaxPooling2D\n" + KERAS_BASE, 1, "keras.layers.pooling"),
    ("from keras_preprocessing.image import ImageDataGenerator\n" + KERAS_BASE, 1, "keras_preprocessing"),
    ("from keras.preprocessing.image import ImageDataGenerator\n" + KERAS_BASE, 1,
     "keras.preprocessing.image.ImageDataGenerator"),
    ("import tensorflow as tf\ngen = tf.keras.preprocessing.image.ImageDataGenerator(rescale=1 / 255)\n", 2,
     "keras.preprocessing.image.ImageDataGenerator"),
    ("from keras.layers import Convolution2D\n" + KERAS_BASE, 1, "Convolution2D"),
    (KERAS_BASE + "model.fit(X, y, nb_epoch=10)\n", 3, "fit(nb_epoch=...)"),
    (KERAS_BASE + "model.compile(keras.optimizers.SGD(lr=0.01), 'mse')\n", 3, "SGD(lr=...)"),
    ("from keras.layers import Dense\nh = Dense(64, init='uniform')\n", 2, "Dense(init=...)"),
    ("from keras.layers import Dense\nh = Dense(output_dim=64)\n", 2, "Dense(output_dim=...)"),
    (KERAS_BASE + "model.fit_generator(batches, steps_per_epoch=10, epochs=2)\n", 3, "fit_generator()"),
    (KERAS_BASE + "labels = model.predict_classes(X)\n", 3, "predict_classes()"),
], ids=lambda v: v if isinstance(v, str) and "\n" not in v else None)
def test_keras_2_style_code_is_reported_with_its_line(source: str, line: int, what: str, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(source)
    det = detect(tmp_path)
    assert det.keras_api == 2
    assert Evidence("train.py", line, f"Keras 2 API: {what}") in det.evidence


@pytest.mark.parametrize(("source", "line", "what"), [
    ("import tensorflow as tf\ntf.set_random_seed(7)\n" + KERAS_BASE, 2, "tf.set_random_seed"),
    (KERAS_BASE + "import tensorflow as tf\nsess = tf.Session(config=None)\n", 4, "tf.Session"),
    (KERAS_BASE + "import tensorflow as tf\ntf.logging.set_verbosity(tf.logging.ERROR)\n", 4, "tf.logging"),
    ("from keras import backend as K\nK.set_session(s)\n" + KERAS_BASE, 2, "keras.backend.set_session"),
    ("import tensorflow as tf\nx = tf.placeholder(tf.float32, [None, 4])\n", 2, "tf.placeholder"),
], ids=["set_random_seed", "Session", "logging", "set_session", "placeholder"])
def test_tensorflow_1_calls_of_keras_2_scripts_are_keras_2_evidence(source: str, line: int, what: str,
                                                                    tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(source)
    det = detect(tmp_path)
    assert det.keras_api == 2
    assert Evidence("train.py", line, f"TensorFlow 1 API of Keras 2 scripts: {what}") in det.evidence


def test_keras_3_code_and_scikit_learn_code(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(KERAS_BASE + "model.compile(keras.optimizers.Adam(learning_rate=1e-3), "
                                                    "'mse')\nmodel.fit(X, y, epochs=3)\n")
    det = detect(tmp_path)
    assert det.keras_api == 3 and not any(e.what.startswith("Keras 2 API") for e in det.evidence)
    assert any(e.what.startswith("Keras 3 API:") for e in det.evidence)
    (tmp_path / "train.py").write_text("from sklearn.svm import SVC\nSVC().fit(X, y)\n")
    det = detect(tmp_path)
    assert det.keras_api is None and not any("Keras" in e.what for e in det.evidence)


@pytest.mark.parametrize(("source", "task", "line", "what"), [
    ("from sklearn.linear_model import Ridge\nRidge().fit(X, y)\n", "regression", 2, "estimator Ridge"),
    ("from sklearn import svm\nm = svm.SVR()\n", "regression", 2, "estimator SVR"),
    ("from sklearn.linear_model import LogisticRegression\nm = LogisticRegression()\n", "classification", 2,
     "estimator LogisticRegression"),
    ("from sklearn.ensemble import RandomForestClassifier as RF\nm = RF()\n", "classification", 2,
     "estimator RandomForestClassifier"),
    (KERAS_BASE + "model.compile(optimizer='adam', loss='mse')\n", "regression", 3, "loss mse"),
    (KERAS_BASE + "model.compile('adam', 'mean_absolute_error')\n", "regression", 3, "loss mean_absolute_error"),
    (KERAS_BASE + "model.compile('adam', loss=keras.losses.Huber())\n", "regression", 3, "loss Huber"),
    (KERAS_BASE + "model.compile('adam', loss='sparse_categorical_crossentropy')\n", "classification", 3,
     "loss sparse_categorical_crossentropy"),
    (KERAS_BASE + "model.compile('sgd', loss=keras.losses.BinaryCrossentropy(from_logits=True))\n",
     "classification", 3, "loss BinaryCrossentropy"),
    ("from keras.layers import Dense, Activation\nm.add(Dense(10))\nm.add(Activation('softmax'))\n",
     "classification", 3, "output activation softmax"),
    ("import keras\nout = keras.layers.Dense(1, activation='sigmoid')(h)\n", "classification", 2,
     "output activation sigmoid"),
    (KERAS_BASE + "from sklearn.metrics import r2_score\nprint(r2_score(y, model.predict(X)))\n", "regression", 3,
     "metric r2_score"),
    (KERAS_BASE + "from sklearn import metrics\nprint(metrics.f1_score(y, p))\n", "classification", 4,
     "metric f1_score"),
], ids=lambda v: v if isinstance(v, str) and "\n" not in v else None)
def test_the_task_comes_from_estimators_losses_activations_and_metrics(source: str, task: str, line: int,
                                                                         what: str, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(source)
    det = detect(tmp_path)
    assert det.task == task
    assert Evidence("train.py", line, f"{task}: {what}") in det.evidence


def test_no_task_when_the_code_does_not_tell(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(KERAS_BASE)
    assert detect(tmp_path).task is None


@pytest.mark.slow
def test_detect_json_reports_keras_api_and_task_with_evidence(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text("from keras.layers.core import Dense\n"
                                       "def build(m):\n    m.add(Dense(output_dim=1))\n    return m\n")
    (tmp_path / "train.py").write_text("import keras\nfrom model import build\nm = build(keras.models.Sequential())\n"
                                       "m.compile(keras.optimizers.Adam(lr=0.01), 'mean_squared_error')\n"
                                       "m.fit(X, y, nb_epoch=5)\n")
    proc = mlops("detect", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["keras_api"], data["task"]) == (2, "regression")
    evidence = {(e["file"], e["line"], e["what"]) for e in data["evidence"]}
    assert {("model.py", 1, "Keras 2 API: keras.layers.core"), ("model.py", 3, "Keras 2 API: Dense(output_dim=...)"),
            ("train.py", 4, "Keras 2 API: Adam(lr=...)"), ("train.py", 5, "Keras 2 API: fit(nb_epoch=...)"),
            ("train.py", 4, "regression: loss mean_squared_error")} <= evidence
