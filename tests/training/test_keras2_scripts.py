"""2020-era Keras 2 scripts run unchanged: on tf-keras with the harness's shims, written the way people wrote them
(`tests/training/keras2_corpus/`: np_utils, keras.layers.convolutional/core/normalization, Convolution2D(32, 3, 3),
Dense(output_dim=, init=), ImageDataGenerator flow and flow_from_directory, keras_preprocessing, *_generator,
predict_classes, Adam(lr=), SGD(decay=), saving to .h5 / .pk1, KerasClassifier)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.store import get_run_store
from monitor.units import local_units
from tests.conftest import EXAMPLES, call, harness, mlops

CORPUS = Path(__file__).parent / "keras2_corpus"
PROJECTS = sorted(p.name for p in CORPUS.iterdir() if (p / "train.py").is_file())

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dl_env")]


def write_pngs(root: Path, classes: list[int], names: tuple[str, str], per_class: tuple[int, int] = (60, 20)) -> None:
    """``root/<train>/<digit>/*.png`` and ``root/<val>/<digit>/*.png``: sklearn's 8x8 digits as 16x16 PNGs."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for c in classes:
        images = digits.images[digits.target == c]
        n_train, n_val = per_class
        for split, chunk in ((names[0], images[:n_train]), (names[1], images[n_train:n_train + n_val])):
            folder = root / split / f"digit_{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(chunk):
                pixels = (img * 255 / 16).astype(np.uint8)
                Image.fromarray(pixels, mode="L").resize((16, 16), Image.NEAREST).save(folder / f"{c}_{i:03d}.png")


def corpus_project(name: str, folder: Path) -> Path:
    """A copy of a corpus script with the data it reads (the wine CSV, or PNG class folders)."""
    project = folder / name
    project.mkdir(parents=True)
    shutil.copy(CORPUS / name / "train.py", project / "train.py")
    needs = (CORPUS / name / "DATA").read_text().split() if (CORPUS / name / "DATA").exists() else []
    if "wines" in needs:
        shutil.copy(EXAMPLES / "wine-sklearn" / "wines.csv.gz", project / "wines.csv.gz")
    if "dataset" in needs:
        write_pngs(project / "dataset", [0, 1, 2], ("training_set", "test_set"))
    if "binary" in needs:
        write_pngs(project / "data", [0, 1], ("train", "validation"))
    return project


@pytest.mark.parametrize("name", PROJECTS)
def test_a_keras2_script_runs_unchanged_and_its_shims_are_listed(name: str, tmp_path: Path) -> None:
    project = corpus_project(name, tmp_path)
    code, m, out = harness(project, "dl", run_dir=tmp_path / "run")
    if name.startswith("07_"):  # cross-validation only, printed as "Baseline: 57.98% (15.52%)": names no metric
        assert code == 4 and m["error"]["message"].startswith("train.py reported no accuracy (it reported: nothing)")
        assert m["keras"]["runtime"] == "tf_keras" and "import keras.wrappers.scikit_learn" in m["keras"]["shims"]
        return
    assert code == 0, out[-3000:]
    assert m["value"] is not None and 0 <= m["value"] <= 1
    keras = m["keras"]
    if name.startswith("16_"):  # written for Keras 3: stays on Keras 3, nothing translated
        assert (keras["api"], keras["runtime"], keras["shims"]) == (3, "keras", [])
        return
    assert (keras["api"], keras["runtime"]) == (2, "tf_keras")
    assert keras["shims"][0] == "keras -> tf_keras"
    if m["model"]:  # KerasClassifier only cross-validates: no fitted model object to keep
        assert m["model"]["format"] == "keras" and m["model"]["runtime"] == "tf_keras"
        assert (tmp_path / "run" / m["model"]["path"]).is_file()


def test_a_keras2_cnn_is_tuned_served_and_answers(tmp_path: Path, monkeypatch) -> None:
    """np_utils + keras.layers.convolutional + ImageDataGenerator: detected as Keras 2, tweaked (the rewritten
    script runs on tf-keras too), its tf-keras model registered and served by a local serving process."""
    project = corpus_project("10_cnn_digits_idg_flow", tmp_path)
    env = {"DOCKER_HOST": "unix:///nonexistent.sock", "MLOPS_HOME": str(tmp_path / "home")}
    monkeypatch.setenv("MLOPS_HOME", env["MLOPS_HOME"])
    detected = mlops("detect", str(project), "--json", env=env)
    assert '"keras_api": 2' in detected.stdout
    proc = mlops("run", str(project), "--json", "--no-notify", "--target", "0.999", "--max-trials", "2",
                 "--strategy", "ladder", env=env, timeout=1200)
    summary = json.loads(proc.stdout)
    assert [t["status"] for t in summary["trials"]] == ["ok", "ok"], proc.stderr[-3000:]
    assert summary["trials"][1]["label"] != "baseline (as pushed)"
    trials = get_run_store().trials(summary["run_id"])
    assert all("keras -> tf_keras" in t.shims for t in trials)
    approved = mlops("promote", summary["project"], str(summary["model_version"]), "--reason", "approved",
                     env=env)  # under its target: registered, not pushed; a person approves it
    assert approved.returncode == 0, approved.stderr
    served = mlops("deploy", summary["run_id"], "--json", env=env, timeout=900)
    assert served.returncode == 0, served.stderr[-3000:]
    url = json.loads(served.stdout)["url"]
    from sklearn.datasets import load_digits

    digits = load_digits()
    code, body = call(f"{url}/predict", {"rows": [(digits.images[i] / 16.0).tolist() for i in range(10)]})
    try:
        assert code == 200, body
        assert len(json.loads(body)["probabilities"][0]) == 10
    finally:
        for unit in local_units():
            unit.remove()



#: Keras 2 only by markers that detection knew and the harness did not (``Convolution2D``, ``nb_row``, ``nb_col``,
#: ``b_regularizer``): before the markers were one list, the harness ran this on Keras 3.
DETECTION_ONLY_MARKERS = """import numpy as np
from keras.layers import Convolution2D, Dense, Flatten
from keras.models import Sequential
from keras.regularizers import l2

rng = np.random.RandomState(0)
X = rng.rand(64, 8, 8, 1)
y = (X.mean(axis=(1, 2, 3)) > 0.5).astype(int)
model = Sequential()
model.add(Convolution2D(4, nb_row=3, nb_col=3, padding="same", input_shape=(8, 8, 1)))
model.add(Flatten())
model.add(Dense(2, activation="softmax", b_regularizer=l2(0.01)))
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(X, y, epochs=2, verbose=0)
print("accuracy", model.evaluate(X, y, verbose=0)[1])
"""


def test_a_script_keras2_only_by_its_keras1_layer_arguments_runs_on_tf_keras_translated(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(DETECTION_ONLY_MARKERS)
    code, m, out = harness(project, "dl", run_dir=tmp_path / "run")  # no --keras-api: the harness reads it
    assert code == 0, out[-3000:]
    assert (m["keras"]["api"], m["keras"]["runtime"]) == (2, "tf_keras")
    assert m["keras"]["shims"] == ["keras -> tf_keras", "Conv2D(filters, nb_row, nb_col)", "Dense(b_regularizer=)"]
