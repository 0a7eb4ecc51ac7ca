"""A data project's model served as it was trained: rows by column name, categories as text, missing values as
``null``, through the fitted transform; the same predictions as in training (the example's pumps, which have
categories)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from core.data import make_transform, take_snapshot
from monitor.serving.models import BadInput
from monitor.serving.models._sklearn import SklearnModel
from tests.conftest import PUMP_BATCHES

LABEL = "failure"


@pytest.fixture(scope="module")
def trained() -> tuple[Pipeline, pd.DataFrame]:
    """The data project's Pipeline (transform, then the model) fitted on batch 1's training split; its test rows."""
    snapshot = take_snapshot(pd.read_csv(PUMP_BATCHES[0], na_values=["na"]), LABEL, seed=42)
    train = snapshot.train
    model = Pipeline([("transform", make_transform(train, LABEL)),
                      ("model", LogisticRegression(max_iter=1000, class_weight="balanced"))])
    model.fit(train.drop(columns=LABEL), train[LABEL])
    return model, snapshot.test.drop(columns=LABEL)


def as_sent(frame: pd.DataFrame) -> list[dict]:
    """Rows as a client sends them in JSON: by column name, missing values as null."""
    rows = [{k: None if pd.isna(v) else v for k, v in r.items()} for r in frame.to_dict("records")]
    return json.loads(json.dumps(rows))


def test_rows_with_categories_and_missing_values_are_predicted_as_in_training(trained) -> None:
    model, test = trained
    served = SklearnModel(model, {"version": 1, "allow_missing": True, "probabilities": True})
    assert served.categories == {"site", "pump_model", "lubricant"}
    rows = as_sent(test)
    assert any(r["lubricant"] is None for r in rows) and any(r["hours_since_service"] is None for r in rows)
    answer = served.predict(served.to_array(rows))
    assert answer["predictions"] == model.predict(test).tolist()
    assert answer["probabilities"] == model.predict_proba(test).round(6).tolist()
    assert set(answer["predictions"]) == {"no", "yes"}


def test_a_category_never_seen_is_answered_and_a_number_sent_as_text_is_refused_naming_the_feature(trained) -> None:
    model, test = trained
    served = SklearnModel(model, {"version": 1, "allow_missing": True})
    row = as_sent(test.head(1))[0]
    assert len(served.predict(served.to_array([{**row, "site": "harbour"}]))["predictions"]) == 1
    with pytest.raises(BadInput, match=r"row 0: feature 'temperature_c' must be a number, or null when missing "
                                       r"\(got 'hot'\)"):
        served.to_array([{**row, "temperature_c": "hot"}])
    with pytest.raises(BadInput, match=r"row 0: missing features \['site'\]"):
        served.to_array([{k: v for k, v in row.items() if k != "site"}])


def test_the_datas_missing_value_marker_in_a_row_is_a_missing_value(trained) -> None:
    model, test = trained
    served = SklearnModel(model, {"version": 1, "allow_missing": True, "na_values": ["na"]})
    rows = as_sent(test.head(20))
    marked = [{k: "na" if v is None else v for k, v in row.items()} for row in rows]
    assert any("na" in row.values() for row in marked)
    assert served.predict(served.to_array(marked)) == served.predict(served.to_array(rows))
    plain = SklearnModel(model, {"version": 1, "allow_missing": True})  # no marker declared: 'na' is not a number
    with pytest.raises(BadInput, match="must be a number, or null when missing"):
        plain.to_array(marked)


KERAS = """
import json, sys
import keras, numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from serving.models._keras import KerasModel

frame = pd.read_csv(sys.argv[1], na_values=["na"]).drop(columns="inspection_score")
y = (frame.pop("failure") == "yes").astype(int).to_numpy()
categories = ["site", "pump_model", "lubricant"]
numbers = [c for c in frame.columns if c not in categories]
transform = ColumnTransformer([
    ("numbers", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numbers),
    ("categories", Pipeline([("impute", SimpleImputer(strategy="most_frequent", missing_values=pd.NA)),
                             ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]), categories),
])
train, test = frame.iloc[:1500], frame.iloc[1500:1600]
x = transform.fit_transform(train).astype("float32")
keras.utils.set_random_seed(0)
net = keras.Sequential([keras.Input(shape=(x.shape[1],)), keras.layers.Dense(2, activation="softmax")])
net.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
net.fit(x, y[:1500], epochs=2, verbose=0)
served = KerasModel(net, {"version": 1, "allow_missing": True, "classes": ["no", "yes"]}, transform)
rows = json.loads(json.dumps([{k: None if pd.isna(v) else v for k, v in r.items()} for r in test.to_dict("records")]))
got = served.predict(served.to_array(rows))
trained = net.predict(transform.transform(test).astype("float32"), verbose=0)
print(json.dumps({"categories": sorted(served.categories), "served": got["predictions"],
                  "trained": [["no", "yes"][i] for i in trained.argmax(axis=1)],
                  "close": bool(np.allclose(got["probabilities"], trained, atol=1e-5))}))
"""


@pytest.mark.slow
def test_a_keras_data_project_takes_its_categories_through_its_transform() -> None:
    import os
    import subprocess

    from core.infra.virtualenvs import Virtualenvs
    from tests.conftest import ROOT

    venvs, extra = Virtualenvs(), (ROOT / "requirements-serve.txt",)
    venvs.prepare("dl", print, extra=extra)
    from monitor.units import serving_path

    env = {"PATH": os.environ["PATH"], "PYTHONPATH": serving_path(), "KERAS_BACKEND": "tensorflow"}
    run = subprocess.run([str(venvs.python_of("dl", extra)), "-c", KERAS, str(PUMP_BATCHES[0])], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["categories"] == ["lubricant", "pump_model", "site"]
    assert out["served"] == out["trained"] and out["close"]
