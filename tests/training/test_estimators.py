"""One record per scikit-learn estimator (``training.estimators``): its task is what detection reports, its grid
is what the ``param`` tweak offers, its step is the ladder's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.utils import all_estimators

from training.detect import detect
from training.estimators import ESTIMATOR_MODULES, ESTIMATORS, Estimator, estimator_task
from training.strategies import build_space
from training.tweaks import analyze

#: Each record's public scikit-learn module (``sklearn.neighbors``), from scikit-learn itself.
MODULES = {name: cls.__module__.split(".")[1] for name, cls in all_estimators()}
#: The records of classes the tweaks may rewrite (their module is one of ``ESTIMATOR_MODULES``).
TUNABLE = sorted(name for name in ESTIMATORS if MODULES[name] in ESTIMATOR_MODULES)


def script(name: str) -> str:
    return (f"from sklearn.{MODULES[name]} import {name}\n"
            f"model = {name}()\nmodel.fit(X_train, y_train)\nprint(model.score(X_test, y_test))\n")


def test_every_record_names_a_real_scikit_learn_estimator() -> None:
    assert set(ESTIMATORS) <= set(MODULES)


@pytest.mark.parametrize("name", TUNABLE)
def test_detection_reports_the_task_of_the_record(name: str, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(script(name))
    assert detect(tmp_path).task == ESTIMATORS[name].task


@pytest.mark.parametrize("name", [n for n in TUNABLE if ESTIMATORS[n].grid or ESTIMATORS[n].ladder])
def test_the_tweaks_offer_the_grid_and_the_ladder_takes_the_step_of_the_record(name: str) -> None:
    record = ESTIMATORS[name]
    space = build_space(analyze(script(name)))
    offered = {key: values for key, values in space.choices.items() if key.startswith("param:")}
    assert offered == {f"param:{name}:{p}": list(values) for p, values in record.grid.items()}
    step = {f"param:{name}:{p}": v for p, v in record.ladder.items()}
    assert not step or any(step.items() <= rung.items() for rung in space.ladder)


def test_a_class_without_a_record_takes_its_task_from_its_name() -> None:
    assert "ExtraTreesRegressor" not in ESTIMATORS
    assert estimator_task("ExtraTreesRegressor") == "regression"
    assert estimator_task("SGDClassifier") == "classification"
    assert estimator_task("KMeans") is None


def test_a_record_refuses_an_unknown_task() -> None:
    with pytest.raises(ValueError, match="task must be 'classification' or 'regression', but got"):
        Estimator("KMeans", "clustering")
