"""The fitted feature transformation: what it drops and encodes, and that it survives being saved with a model."""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from core.data.snapshot import Snapshot, take_snapshot
from core.data.transform import TransformOptions, fitted_transform, make_transform


@pytest.fixture(scope="module")
def aps_snapshot(aps_reference: pd.DataFrame) -> Snapshot:
    return take_snapshot(aps_reference, "class", seed=0)


def test_columns_missing_too_often_in_training_are_dropped_and_the_rest_imputed_and_scaled(
        aps_snapshot: Snapshot) -> None:
    train = aps_snapshot.train
    features = train.drop(columns="class")
    sparse = sorted(c for c in features.columns if features[c].isna().mean() > 0.7)
    transform = fitted_transform(train, "class")
    assert len(sparse) > 0
    assert sorted(dict((n, cols) for n, _, cols in transform.transformers_)["dropped"]) == sparse
    out = transform.transform(aps_snapshot.test)
    assert out.shape == (len(aps_snapshot.test), features.shape[1] - len(sparse))
    assert not np.isnan(out).any()
    scaled = transform.transform(train)
    assert np.allclose(scaled.mean(axis=0), 0, atol=1e-6)
    assert list(transform.get_feature_names_out()) == [c for c in features.columns if c not in sparse]


def test_the_drop_threshold_is_an_option(aps_snapshot: Snapshot) -> None:
    strict = fitted_transform(aps_snapshot.train, "class", TransformOptions(max_missing_ratio=0.1))
    loose = fitted_transform(aps_snapshot.train, "class", TransformOptions(max_missing_ratio=0.7))
    assert len(strict.get_feature_names_out()) < len(loose.get_feature_names_out())


def test_categories_are_one_hot_encoded_and_an_unseen_one_does_not_fail(wines: pd.DataFrame) -> None:
    rows = wines.assign(Colour=np.where(wines["Hue"] > 1, "pale", "deep"))
    rows.loc[[2, 5], "Colour"] = None
    transform = fitted_transform(rows, "Class")
    names = list(transform.get_feature_names_out())
    assert names[-2:] == ["Colour_deep", "Colour_pale"]
    new = rows.head(3).assign(Colour=["purple", None, "pale"])
    out = transform.transform(new)[:, -2:]
    assert out.tolist() == [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]  # unseen -> zeros; missing -> most frequent


def _saved_model(snapshot: Snapshot, folder: Path) -> tuple[Pipeline, Path]:
    train = snapshot.train
    model = Pipeline([("prepare", make_transform(train, "class")),
                      ("model", LogisticRegression(max_iter=300, class_weight="balanced"))])
    model.fit(train.drop(columns="class"), train["class"])
    path = folder / "model.joblib"
    joblib.dump(model, path)
    return model, path


def test_a_model_saved_with_its_transform_predicts_the_same_after_loading(aps_snapshot: Snapshot,
                                                                           tmp_path: Path) -> None:
    model, path = _saved_model(aps_snapshot, tmp_path)
    test = aps_snapshot.test.drop(columns="class")
    loaded = joblib.load(path)
    assert (loaded.predict(test) == model.predict(test)).all()
    assert set(model.predict(test)) == {"neg", "pos"}
    assert b"mlops" not in pickle.dumps(model)  # only scikit-learn, numpy and pandas classes: loads without mlops


def test_the_saved_model_loads_in_the_trial_virtualenv_without_mlops(aps_snapshot: Snapshot, tmp_path: Path,
                                                                     ml_env: str) -> None:
    from training.backends import LocalBackend

    model, path = _saved_model(aps_snapshot, tmp_path)
    rows = tmp_path / "rows.csv"
    aps_snapshot.test.drop(columns="class").to_csv(rows, index=False)
    python = LocalBackend().venv_dir("ml") / "bin" / "python"
    script = ("import importlib.util, joblib, pandas as pd; assert importlib.util.find_spec('mlops') is None; "
              f"print(','.join(joblib.load({str(path)!r}).predict(pd.read_csv({str(rows)!r}))))")
    done = subprocess.run([str(python), "-I", "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().split(",") == list(model.predict(aps_snapshot.test.drop(columns="class")))
