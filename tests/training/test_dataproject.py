"""Data projects: the generated script runs in the trial environment, never sees the test labels, reports its
validation figures as mlops scores them, and saves one Pipeline with the transform mlops would fit."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from core.data import fitted_transform, take_snapshot
from core.evaluation import evaluate_predictions
from tests.conftest import PUMP_BATCHES, PUMPS, harness, write_project
from training.dataproject import PREDICTIONS, held_out_labels, is_data_project, write_data_project
from training.harness.keras_compat import keras_api_of
from training.strategies import build_space
from training.tweaks import analyze, apply_config

LABEL = "failure"


@pytest.fixture(scope="module")
def pumps(tmp_path_factory: pytest.TempPathFactory):
    """The example data project's first batch (``na`` read as missing), its snapshot and its generated project."""
    frame = pd.read_csv(PUMP_BATCHES[0], na_values=["na"])
    snapshot = take_snapshot(frame, LABEL, seed=3)
    project = write_data_project(snapshot, tmp_path_factory.mktemp("pumps") / "project", name="pumps",
                                 cost=(10, 500))
    return snapshot, project


def test_the_trial_folder_holds_no_test_label_and_the_script_reads_like_one_a_person_wrote(pumps) -> None:
    snapshot, project = pumps
    test = pd.read_csv(project.folder / "data" / "test_features.csv")
    assert LABEL not in test.columns and len(test) == len(snapshot.test)
    assert set(pd.read_csv(project.folder / "data" / "validation.csv")[LABEL]) == {"no", "yes"}
    source = project.source
    assert source.startswith('"""Training script written by mlops for the data project "pumps"')
    assert 'POSITIVE, NEGATIVE = "yes", "no"' in source and 'COST = {"fp": 10, "fn": 500}' in source
    assert 'LogisticRegression(max_iter=1000, class_weight="balanced"' in source  # 4% failures
    assert 'CATEGORIES = [\n    "site", "pump_model", "lubricant",\n]' in source
    assert '"hours_since_service"' in source.split("CATEGORIES")[0]  # 'na' read as missing: a number column
    assert 'DROPPED = [\n    "inspection_score",\n]' in source  # missing in 80% of the rows
    assert max(len(line) for line in source.splitlines()) <= 120
    assert project.positive == "yes" and project.detection.framework == "sklearn"
    assert keras_api_of(source) is None  # predict_proba is scikit-learn's here: no Keras 2 warning


@pytest.mark.usefixtures("ml_env")
def test_the_script_reports_its_validation_figures_as_mlops_scores_them_and_predicts_every_test_row(
        pumps, tmp_path: Path) -> None:
    snapshot, project = pumps
    code, metrics, output = harness(project.folder, "ml", metric="cost", run_dir=tmp_path / "trial")
    assert code == 0, output
    assert metrics["sources"]["cost"] == f"print: cost {int(metrics['value'])}"
    model = joblib.load(tmp_path / "trial" / "model" / "model.joblib")
    validation = snapshot.validation
    predicted = model.predict(validation.drop(columns=LABEL))
    ours = evaluate_predictions(validation[LABEL].tolist(), predicted.tolist(), classes=list(model.classes_),
                                probabilities=model.predict_proba(validation.drop(columns=LABEL)).tolist(),
                                positive="yes", cost=(10, 500))
    for name in ("cost", "f1", "recall", "precision", "accuracy", "roc_auc"):
        assert metrics["metrics"][name] == pytest.approx(ours.metrics[name]), name
    written = json.loads((tmp_path / "trial" / "work" / PREDICTIONS).read_text())
    assert len(written["predictions"]) == len(snapshot.test) == len(held_out_labels(snapshot))
    assert written["classes"] == ["no", "yes"] and len(written["probabilities"][0]) == 2
    assert not any("Keras" in w for w in metrics.get("warnings", [])), metrics.get("warnings")
    transform = model.named_steps["transform"]
    reference = fitted_transform(snapshot.train, LABEL)
    assert np.allclose(transform.transform(snapshot.test), reference.transform(snapshot.test))


def test_the_tweaks_vary_the_generated_script_as_they_vary_a_pushed_one(pumps) -> None:
    _, project = pumps
    space = build_space(analyze(project.source))
    assert {"family", "param:LogisticRegression:C"} <= set(space.choices)
    assert "scale" not in space.choices  # the transform scales already
    forest = apply_config(project.source, {"family": "random_forest"})
    assert forest.applied == ["estimator replaced by RandomForestClassifier"]
    assert "estimator = _MlopsRandomForestClassifier(n_estimators=300, random_state=0)" in forest.source


def test_a_keras_data_project_trains_a_dense_network_after_the_transform(pumps, tmp_path: Path) -> None:
    snapshot, _ = pumps
    project = write_data_project(snapshot, tmp_path / "keras", name="pumps", framework="keras")
    assert project.detection.kind == "ann" and 'joblib.dump(transform, "transform.joblib")' in project.source
    space = build_space(analyze(project.source))
    assert {"dense", "units", "epochs"} <= set(space.choices)


def test_a_script_that_only_makes_the_data_leaves_the_project_a_data_project(tmp_path: Path) -> None:
    assert (PUMPS / "make_data.py").is_file() and is_data_project(PUMPS, True, None)  # numpy and pandas only
    assert not is_data_project(PUMPS, True, "make_data.py") and not is_data_project(PUMPS, False, None)
    both = write_project(tmp_path / "p", {"make_data.py": "import numpy\n", "model.py": "from sklearn import svm\n"})
    assert not is_data_project(both, True, None)
    notebook = write_project(tmp_path / "n", {"explore.ipynb": "{}"})
    assert not is_data_project(notebook, True, None)
