"""Scripts run as pushed: their own packages, the seeds' /mycode paths, arguments, an air-gapped datasets cache."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import numpy as np
import pytest

from core.infra.virtualenvs import Virtualenvs
from tests.conftest import EXAMPLES, mlops

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

SEABORN = """
import seaborn as sns
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.ensemble import RandomForestClassifier
df = pd.read_csv("wines.csv.gz")
sns.histplot(df["Alcohol"])
plt.savefig("alcohol.png")
X_train, X_test, y_train, y_test = train_test_split(df.drop(columns=["Class"]), df["Class"], random_state=0)
clf = RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)
print("accuracy", clf.score(X_test, y_test))
"""


def run(project: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    proc = mlops("run", str(project), "--json", "--no-notify", *args, env={**NO_DOCKER, **(env or {})})
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}, proc.stderr


def wine_project(project_factory, files: dict[str, str], name: str | None = None) -> Path:
    p = project_factory(files, name=name)
    (p / "wines.csv.gz").write_bytes((EXAMPLES / "wine-sklearn" / "wines.csv.gz").read_bytes())
    return p


@pytest.mark.slow
@pytest.mark.usefixtures("ml_env")
def test_a_script_needing_a_package_runs_once_requirements_txt_names_it(project_factory, tmp_path) -> None:
    # With the packages of its imports turned off (else seaborn installs itself: test_real_scripts.py)
    missing = wine_project(project_factory, {"train.py": SEABORN,
                                             "mlops.yaml": "budget: {max_trials: 5}\nauto_packages: false\n"})
    code, summary, _ = run(missing)
    assert code == 1 and len(summary["trials"]) == 1  # no tweak installs a package: one trial, not five
    assert summary["error"] == ("train.py:2 imports seaborn, which is not installed: add seaborn to requirements.txt "
                                "(or packages: in mlops.yaml)")
    cache = {"MLOPS_CACHE_DIR": str(tmp_path / "cache")}
    ml_venv = Virtualenvs().path("ml")  # built once for the whole suite; the project's layer is built here
    (tmp_path / "cache" / "venvs").mkdir(parents=True)
    (tmp_path / "cache" / "venvs" / ml_venv.name).symlink_to(ml_venv)
    fixed = wine_project(project_factory, {"train.py": SEABORN, "requirements.txt": "seaborn\nscikit-learn==0.24\n"})
    start = time.time()
    code, summary, err = run(fixed, env=cache)
    first = time.time() - start
    assert code == 0, err
    assert "requirements.txt: 'scikit-learn==0.24' is left out: the ml environment provides scikit-learn" in err
    assert "adding seaborn (from requirements.txt) to the ml environment" in err
    link = next((tmp_path / "cache" / "venvs").glob("ml-pkgs-*/lib/python3*/site-packages/_mlops_base_env.pth"))
    assert tmp_path not in Path(link.read_text().strip()).parents  # the layer outlives the symlink it was built through
    start = time.time()
    code, _, err = run(fixed, env=cache)
    print(f"first run with requirements.txt {first:.1f}s, cached {time.time() - start:.1f}s")
    assert code == 0 and "(cached)" in err and "adding seaborn" not in err


SEED = """
import sys
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
df = pd.read_csv("/mycode/wines.csv.gz")
X_train, X_test, y_train, y_test = train_test_split(df.drop(columns=["Class"]), df["Class"], random_state=0)
model = KNeighborsClassifier(n_neighbors=int(sys.argv[1])).fit(X_train, y_train)
acc = model.score(X_test, y_test)
print("Accuracy is", acc * 100)
with open("/mycode/accuracy.txt", "w") as f:
    f.write(str(acc))
import joblib
joblib.dump(model, "/mycode/model.pk1")
"""


@pytest.mark.usefixtures("ml_env")
def test_seed_style_mycode_paths_and_arguments_run_and_never_touch_the_users_files(project_factory) -> None:
    p = wine_project(project_factory, {"train.py": SEED, "accuracy.txt": "0.5\n",
                                       "mlops.yaml": "paths: {/mycode: .}\nargs: '7'\ntarget: 0.6\n"})
    code, summary, err = run(p, "--backend", "local")
    assert code == 0, err
    assert summary["trials"][0]["sources"]["accuracy"] == "sklearn.score"
    assert (p / "accuracy.txt").read_text() == "0.5\n" and not (p / "model.pk1").exists()
    work = Path(summary["run_dir"]) / "trial-001" / "work"
    assert float((work / "accuracy.txt").read_text()) == summary["value"] and (work / "model.pk1").is_file()


@pytest.mark.slow
def test_a_bad_paths_mapping_is_refused_before_anything_runs(project_factory) -> None:
    p = wine_project(project_factory, {"train.py": SEED, "mlops.yaml": "paths: {/mycode: data}\n"})
    code, _, err = run(p)
    assert code == 2 and "error: mlops.yaml: paths./mycode: 'data' is not a folder of the project" in err
    p = wine_project(project_factory, {"train.py": SEED, "mlops.yaml": "paths: {mycode: .}\n"})
    code, _, err = run(p)
    assert code == 2 and "'mycode' must be an absolute path the script uses" in err


def fake_fashion_mnist(folder: Path, n: int = 600) -> None:
    """Tiny fashion-MNIST idx files in Keras's cache layout (Keras does not check their hash)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, n).astype(np.uint8)
    images = (rng.integers(0, 40, (n, 28, 28)) + labels[:, None, None] * 150).astype(np.uint8)
    target = folder / "fashion-mnist"
    target.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        with gzip.open(target / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\0" * 8 + labels.tobytes())
        with gzip.open(target / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\0" * 16 + images.tobytes())


KERAS_DATASET = """
from keras.datasets import fashion_mnist
from keras.models import Sequential
from keras.layers import Dense, Flatten
(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
model = Sequential([Flatten(input_shape=(28, 28)), Dense(16, activation="relu"), Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train / 255.0, y_train, epochs=2, verbose=0)
print("Test accuracy:", model.evaluate(x_test / 255.0, y_test, verbose=0)[1])
"""


@pytest.mark.slow
@pytest.mark.usefixtures("dl_env")
def test_keras_datasets_come_from_the_cache_on_an_agent_without_internet(project_factory, tmp_path) -> None:
    cache = tmp_path / "keras-datasets"
    p = project_factory({"train.py": KERAS_DATASET, "mlops.yaml": "target: 0.6\n"})
    code, summary, _ = run(p, "--backend", "local")
    assert code == 1 and len(summary["trials"]) == 1  # a download that cannot happen costs one trial
    assert "tries to download" in summary["error"] and "put the file in the datasets cache" in summary["error"]
    fake_fashion_mnist(cache)
    code, summary, err = run(p, "--backend", "local", env={"MLOPS_DATASETS_CACHE": str(cache)})
    assert code == 0, err
    assert summary["value"] > 0.9
