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
from tests.core.data.conftest import LABEL


@pytest.fixture(scope="module")
def pump_snapshot(batch1: pd.DataFrame) -> Snapshot:
    return take_snapshot(batch1, LABEL, seed=0)


def test_columns_missing_too_often_in_training_are_dropped_and_the_rest_imputed_and_scaled(
        pump_snapshot: Snapshot) -> None:
    train = pump_snapshot.train
    features = train.drop(columns=LABEL)
    sparse = sorted(c for c in features.columns if features[c].isna().mean() > 0.7)
    transform = fitted_transform(train, LABEL)
    assert sparse == ["inspection_score"]
    parts = {n: cols for n, _, cols in transform.transformers_}
    assert sorted(parts["dropped"]) == sparse
    assert parts["categories"] == ["site", "pump_model", "lubricant"]
    numbers = [c for c in features.columns if c not in sparse and c not in parts["categories"]]
    assert parts["numbers"] == numbers
    out = transform.transform(pump_snapshot.test)
    one_hot = sum(features[c].nunique() for c in parts["categories"])
    assert out.shape == (len(pump_snapshot.test), len(numbers) + one_hot)
    assert not np.isnan(out).any()
    scaled = transform.transform(train)[:, :len(numbers)]
    assert np.allclose(scaled.mean(axis=0), 0, atol=1e-6)
    assert list(transform.get_feature_names_out())[:len(numbers) + 1] == [*numbers, "site_east"]


def test_the_drop_threshold_is_an_option(pump_snapshot: Snapshot) -> None:
    strict = fitted_transform(pump_snapshot.train, LABEL, TransformOptions(max_missing_ratio=0.05))
    loose = fitted_transform(pump_snapshot.train, LABEL, TransformOptions(max_missing_ratio=0.7))
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
    model = Pipeline([("prepare", make_transform(train, LABEL)),
                      ("model", LogisticRegression(max_iter=300, class_weight="balanced"))])
    model.fit(train.drop(columns=LABEL), train[LABEL])
    path = folder / "model.joblib"
    joblib.dump(model, path)
    return model, path


def test_a_model_saved_with_its_transform_predicts_the_same_after_loading(pump_snapshot: Snapshot,
                                                                           tmp_path: Path) -> None:
    model, path = _saved_model(pump_snapshot, tmp_path)
    test = pump_snapshot.test.drop(columns=LABEL)
    loaded = joblib.load(path)
    assert (loaded.predict(test) == model.predict(test)).all()
    assert set(model.predict(test)) == {"no", "yes"}
    assert b"mlops" not in pickle.dumps(model)  # only scikit-learn, numpy and pandas classes: loads without mlops


def test_the_saved_model_loads_in_the_trial_virtualenv_without_mlops(pump_snapshot: Snapshot, tmp_path: Path,
                                                                     ml_env: str) -> None:
    from training.backends import LocalBackend

    model, path = _saved_model(pump_snapshot, tmp_path)
    rows = tmp_path / "rows.csv"
    pump_snapshot.test.drop(columns=LABEL).to_csv(rows, index=False)
    python = LocalBackend().venv_dir("ml") / "bin" / "python"
    script = ("import importlib.util, joblib, pandas as pd; assert importlib.util.find_spec('mlops') is None; "
              f"print(','.join(joblib.load({str(path)!r}).predict(pd.read_csv({str(rows)!r}))))")
    done = subprocess.run([str(python), "-I", "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().split(",") == list(model.predict(pump_snapshot.test.drop(columns=LABEL)))
