"""The diagnosis: each finding on a tiny real training run that shows it (and one that must not), and each
remedy rewriting the script as users write it and fixing the symptom; the loop following the findings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.records import Trial, TrialStatus
from tests.conftest import harness, mlops
from training.diagnosis import Goal, diagnose, remedies
from training.strategies import build_space
from training.tweaks import analyze, apply_config

ACCURACY = Goal("accuracy", 0.9)


def findings(metrics: dict[str, Any], goal: Goal = ACCURACY, config: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    """Finding kind -> finding of a harness result (``metrics.json``)."""
    return {f.kind: f for f in diagnose(metrics.get("history") or {}, metrics.get("facts") or {},
                                         metrics.get("value"), config or {}, goal)}


def run(project_factory: Any, source: str, env: str, goal: Goal = ACCURACY, config: dict[str, Any] | None = None
        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``source`` (rewritten by ``config`` first) in the harness; return (findings, metrics.json)."""
    if config:
        outcome = apply_config(source, config)
        assert outcome.applied and not outcome.skipped, outcome.skipped
        source = outcome.source
    project = project_factory({"train.py": source})
    code, metrics, out = harness(project, env, metric=goal.metric)
    assert code == 0, out
    return findings(metrics, goal, config), metrics


# --- scripts as users write them -----------------------------------------------------------------------------------

DIGITS = """
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X[:600] / 16.0, y[:600], test_size=0.3, random_state=0)
"""
DIVERGING = DIGITS.replace("X[:600] / 16.0, y[:600]", "X / 16.0, y") + """
import keras
model = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(32, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.SGD(lr=8.0), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=10, verbose=0)
print("accuracy", model.evaluate(X_test, y_test, verbose=0)[1])
"""
SIGMOID_STACK = DIGITS.replace("X[:600] / 16.0, y[:600]", "X / 16.0, y") + """
from tensorflow import keras
model = keras.Sequential()
model.add(keras.layers.Dense(32, activation="sigmoid", input_shape=(64,)))
for _ in range(7):
    model.add(keras.layers.Dense(32, activation="sigmoid"))
model.add(keras.layers.Dense(10, activation="softmax"))
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=10, batch_size=32, verbose=0)
print("accuracy", model.evaluate(X_test, y_test, verbose=0)[1])
"""
EXPLODING = """
import keras
import numpy as np
rng = np.random.default_rng(0)
X = rng.normal(size=(400, 5)) * 100
y = X @ rng.normal(size=5)
model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
model.fit(X[:300], y[:300], epochs=3, verbose=0)
pred = model.predict(X[300:], verbose=0).ravel()
print("mae", float(np.nan_to_num(np.abs(pred - y[300:]).mean(), nan=1e9)))
"""
WIDE_ON_FEW_ROWS = """
import pandas as pd
import tensorflow as tf
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=80, random_state=3, stratify=y)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
model = tf.keras.Sequential([tf.keras.layers.Dense(256, activation="relu", input_shape=(30,)),
                             tf.keras.layers.Dense(256, activation="relu"),
                             tf.keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
              metrics=["accuracy"])
model.fit(X_train, y_train.values, epochs=60, batch_size=16, validation_split=0.25, verbose=0)
print("test accuracy", model.evaluate(X_test, y_test.values, verbose=0)[1])
"""
IMBALANCED = """
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
X, y = make_classification(n_samples=3000, n_features=12, n_informative=4, weights=[0.97, 0.03], class_sep=1.5,
                           flip_y=0.0, random_state=7)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=7, stratify=y)
clf = LogisticRegression(C=0.01, max_iter=1000).fit(X_train, y_train)  # strongly regularised, as in the tutorial
print("f1", f1_score(y_test, clf.predict(X_test)))
"""
BALANCED = IMBALANCED.replace("weights=[0.97, 0.03]", "weights=[0.5, 0.5]")
XOR = """
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
rng = np.random.default_rng(0)
df = pd.DataFrame({"pressure": rng.normal(size=800), "temperature": rng.normal(size=800)})
df["alarm"] = (df["pressure"] * df["temperature"] > 0).astype(int)
X_train, X_test, y_train, y_test = train_test_split(df[["pressure", "temperature"]], df["alarm"], random_state=0)
model = LogisticRegression().fit(X_train, y_train)
print("Accuracy: %.1f%%" % (100 * model.score(X_test, y_test)))
"""
LINEAR = XOR.replace('df["pressure"] * df["temperature"] > 0', 'df["pressure"] + df["temperature"] > 0')
WINE_KNN = """
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
print("test accuracy:", KNeighborsClassifier().fit(X_train, y_train).score(X_test, y_test))
"""
DEEP_TREE = """
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier
X, y = make_classification(n_samples=600, n_features=10, flip_y=0.25, random_state=1)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=1)
print("accuracy", DecisionTreeClassifier(random_state=0).fit(X_train, y_train).score(X_test, y_test))
"""
NAN_ROWS = """
import numpy as np
from sklearn.datasets import load_wine
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
X, y = load_wine(return_X_y=True)
X[::7, 3] = np.nan
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
print("accuracy", HistGradientBoostingClassifier(max_iter=20).fit(X_train, y_train).score(X_test, y_test))
"""


# --- findings and remedies on scikit-learn (fast) ------------------------------------------------------------------

@pytest.mark.usefixtures("ml_env")
class TestScikitLearnFindings:
    def test_class_imbalance_hiding_a_weak_minority_is_found_and_class_weights_fix_it(self, project_factory) -> None:
        f1 = Goal("f1", 0.5)
        found, before = run(project_factory, IMBALANCED, "ml", f1)
        assert "imbalance" in found, found
        assert "class 1 is 3.0% of the training rows" in found["imbalance"].evidence
        assert found["imbalance"].remedies[0] == {"class_weight": True}
        fixed, after = run(project_factory, IMBALANCED, "ml", f1, {"class_weight": True})
        assert after["value"] > before["value"] + 0.1  # the minority class is now recognised
        assert "imbalance" not in fixed

    def test_balanced_classes_are_no_imbalance(self, project_factory) -> None:
        found, _ = run(project_factory, BALANCED, "ml", Goal("f1", 0.5))
        assert "imbalance" not in found

    def test_the_threshold_is_tuned_on_the_training_rows_and_lifts_f1(self, project_factory) -> None:
        f1 = Goal("f1", 0.5)
        _, before = run(project_factory, IMBALANCED, "ml", f1)
        _, after = run(project_factory, IMBALANCED, "ml", f1, {"threshold": True})
        assert after["value"] > before["value"] + 0.1

    def test_an_interaction_a_linear_model_cannot_fit_is_found_and_feature_crosses_fix_it(self, project_factory
                                                                                          ) -> None:
        found, before = run(project_factory, XOR, "ml")
        assert "underfitting" in found and "a linear model cannot draw" in found["underfitting"].evidence
        assert found["underfitting"].remedies[0] == {"crosses": True}
        _, after = run(project_factory, XOR, "ml", config={"crosses": True})
        assert before["value"] < 0.7 < 0.9 < after["value"]
        assert after["model"]["class"] == "Pipeline"  # the model kept has the crosses, not only its last step

    def test_a_linear_relation_is_no_underfitting(self, project_factory) -> None:
        found, metrics = run(project_factory, LINEAR, "ml")
        assert metrics["value"] > 0.9 and "underfitting" not in found

    def test_features_on_very_different_scales_are_found_and_scaling_fixes_them(self, project_factory) -> None:
        found, before = run(project_factory, WINE_KNN, "ml")
        assert "unscaled" in found and "standard deviations from" in found["unscaled"].evidence
        _, after = run(project_factory, WINE_KNN, "ml", config={"scale": True})
        assert after["value"] > before["value"] + 0.15

    def test_scaled_features_are_not_unscaled(self, project_factory) -> None:
        found, _ = run(project_factory, WINE_KNN, "ml", config={"scale": True})
        assert "unscaled" not in found  # the rows as the estimator sees them, after the pipeline's scaler

    def test_a_tree_that_learns_its_training_rows_by_heart_overfits_and_a_depth_limit_helps(self, project_factory
                                                                                            ) -> None:
        found, before = run(project_factory, DEEP_TREE, "ml")
        assert "overfitting" in found and "scores 1.000 on its training rows" in found["overfitting"].evidence
        remedy = found["overfitting"].remedies[0]
        assert remedy == {"param:DecisionTreeClassifier:max_depth": 5}
        _, after = run(project_factory, DEEP_TREE, "ml", config=remedy)
        assert after["value"] > before["value"]

    def test_a_regularised_model_does_not_overfit(self, project_factory) -> None:
        found, _ = run(project_factory, WINE_KNN, "ml", config={"scale": True})
        assert "overfitting" not in found

    def test_non_finite_values_in_the_training_rows_are_found(self, project_factory) -> None:
        found, _ = run(project_factory, NAN_ROWS, "ml")
        assert "nonfinite_input" in found and "non-finite values" in found["nonfinite_input"].evidence
        clean, _ = run(project_factory, NAN_ROWS.replace("X[::7, 3] = np.nan", ""), "ml")
        assert "nonfinite_input" not in clean


# --- findings and remedies on Keras (a few epochs on a few hundred rows) ---------------------------------------------

@pytest.mark.slow
@pytest.mark.usefixtures("dl_env")
class TestKerasFindings:
    def test_a_loss_that_becomes_nan_is_diverging(self, project_factory) -> None:
        found, _ = run(project_factory, EXPLODING, "dl", Goal("mae", 1.0, maximize=False))
        assert "diverging" in found, found
        assert found["diverging"].evidence.startswith("loss became nan at epoch 1 (learning rate 0.1, SGD")
        assert found["diverging"].remedies[0] == {"lr": 0.1}

    def test_a_too_high_learning_rate_is_found_and_lowering_it_fixes_it(self, project_factory) -> None:
        found, before = run(project_factory, DIVERGING, "dl")
        finding = found.get("diverging") or found.get("flat")  # nan, or stuck at chance after a huge first step
        assert finding is not None and "learning rate 8, SGD" in finding.evidence, found
        assert finding.remedies[0] == {"lr": 0.1}
        fixed, after = run(project_factory, DIVERGING, "dl", config={"lr": 0.1})  # SGD(lr=8.0) -> 0.8
        assert not {"diverging", "flat"} & set(fixed) and after["value"] > before["value"] + 0.5

    def test_a_loss_flat_at_chance_through_a_deep_sigmoid_stack_is_found_and_relu_with_adam_fixes_it(
            self, project_factory) -> None:
        found, before = run(project_factory, SIGMOID_STACK, "dl")
        assert "flat" in found, found
        assert "8 sigmoid hidden layers" in found["flat"].evidence and "chance level 2.3" in found["flat"].evidence
        remedy = found["flat"].remedies[0]
        assert remedy == {"activation": "relu", "optimizer": "adam"}
        fixed, after = run(project_factory, SIGMOID_STACK, "dl", config=remedy)
        assert "flat" not in fixed and "diverging" not in fixed and after["value"] > before["value"] + 0.4

    def test_a_wide_net_on_few_rows_overfits_and_early_stopping_with_dropout_helps(self, project_factory) -> None:
        found, before = run(project_factory, WIDE_ON_FEW_ROWS, "dl")
        assert "overfitting" in found and "validation loss lowest at epoch" in found["overfitting"].evidence
        assert "few_rows" in found and "only 80 training rows for 73,985 weights" in found["few_rows"].evidence
        remedy = found["overfitting"].remedies[0]
        assert remedy == {"early_stop": True, "dropout": 0.2}
        _, after = run(project_factory, WIDE_ON_FEW_ROWS, "dl", config=remedy)
        assert len(after["history"]["loss"]) < 60  # stopped early, on the best epoch's weights
        assert after["value"] >= before["value"] - 0.01

    def test_a_small_net_with_enough_rows_neither_diverges_nor_overfits_nor_sits_flat(self, project_factory) -> None:
        healthy = DIVERGING.replace("keras.optimizers.SGD(lr=8.0)", '"adam"').replace("epochs=10", "epochs=15")
        found, metrics = run(project_factory, healthy, "dl")
        assert metrics["value"] > 0.85
        assert not {"diverging", "flat", "overfitting", "few_rows", "unscaled"} & set(found), found

    def test_a_model_still_improving_at_its_last_epoch_underfits_and_more_epochs_fix_it(self, project_factory
                                                                                      ) -> None:
        short = DIVERGING.replace("keras.optimizers.SGD(lr=8.0)", '"adam"').replace("epochs=10", "epochs=2")
        found, before = run(project_factory, short, "dl")
        assert "underfitting" in found and "still improving at the last epoch (2)" in found["underfitting"].evidence
        assert found["underfitting"].remedies[0] == {"epochs": 2}
        _, after = run(project_factory, short, "dl", config={"epochs": 2})
        assert after["value"] > before["value"]

    def test_small_sgd_steps_still_improving_raise_the_learning_rate_first_and_that_fixes_it(self, project_factory
                                                                                            ) -> None:
        slow = DIVERGING.replace("keras.optimizers.SGD(lr=8.0)", "keras.optimizers.SGD(lr=0.001)").replace(
            "epochs=10", "epochs=5")
        found, before = run(project_factory, slow, "dl")
        assert "underfitting" in found, found
        assert "small steps (learning rate 0.001, SGD)" in found["underfitting"].evidence
        assert found["underfitting"].remedies[:2] == ({"lr": 10.0}, {"lr": 10.0, "epochs": 2})
        _, after = run(project_factory, slow, "dl", config={"lr": 10.0})  # SGD(lr=0.001) -> 0.01, same 5 epochs
        assert after["value"] > before["value"] + 0.2


# --- the loop follows the findings ---------------------------------------------------------------------------------

def trial(number: int, value: float, config: dict[str, Any], found: list[dict[str, Any]],
          because: dict[str, Any] | None = None) -> Trial:
    return Trial(number=number, status=TrialStatus.OK, value=value, config=config, findings=found,
                 because=because or {})


DIVERGED = {"kind": "diverging", "evidence": "loss became nan at epoch 1 (learning rate 8, SGD)",
            "remedies": [{"lr": 0.1}, {"lr": 0.01}, {"lr": 0.001}]}


def test_the_next_trial_applies_the_remedy_of_the_strongest_finding_of_the_best_trial() -> None:
    space = build_space(analyze(DIVERGING))
    base = {k: v[0] for k, v in space.choices.items()}
    unscaled = {"kind": "unscaled", "evidence": "...", "remedies": [{"scale": True}]}
    config, because = next(remedies([trial(0, 0.08, base, [DIVERGED, unscaled])], space.choices))
    assert config == {**base, "lr": 0.1}
    assert because == {"trial": 0, "kind": "diverging", "evidence": DIVERGED["evidence"], "remedy": {"lr": 0.1}}


def test_a_remedy_that_did_not_move_its_symptom_is_not_repeated() -> None:
    space = build_space(analyze(DIVERGING))
    base = {k: v[0] for k, v in space.choices.items()}
    first = trial(0, 0.08, base, [DIVERGED])
    # lr x0.1 still diverged and did not do better: the same remedy is not tried again on the next best trial
    second = trial(1, 0.08, {**base, "lr": 0.1}, [DIVERGED],
                   because={"trial": 0, "kind": "diverging", "evidence": "", "remedy": {"lr": 0.1}})
    suggested = [c["lr"] for c, _ in remedies([first, second], space.choices)]
    assert suggested[0] == 0.01 and 0.1 not in suggested


def test_remedies_outside_the_scripts_space_are_left_out() -> None:
    space = build_space(analyze(WINE_KNN))  # scikit-learn: no learning rate, no dropout
    base = {k: v[0] for k, v in space.choices.items()}
    over = {"kind": "overfitting", "evidence": "...", "remedies": [{"dropout": 0.2}, {"scale": True}]}
    configs = [c for c, _ in remedies([trial(0, 0.7, base, [DIVERGED, over])], space.choices)]
    assert configs == [{**base, "scale": True}]


def test_the_diagnosis_of_a_diverging_history_names_the_epoch_and_the_learning_rate() -> None:
    history = {"loss": [float("nan"), float("nan")], "accuracy": [0.1, 0.09]}
    facts = {"framework": "keras", "optimizer": "SGD", "learning_rate": 8.0}
    found = diagnose(history, facts, 0.083, {}, ACCURACY)
    assert found[0].kind == "diverging" and found[0].evidence == "loss became nan at epoch 1 (learning rate 8, SGD)"
    assert [f.kind for f in diagnose({"loss": [2.3, 1.2, 0.6]}, facts, 0.95, {}, ACCURACY)] == []


def test_only_small_steps_put_the_learning_rate_before_more_epochs() -> None:
    history = {"loss": [2.2, 2.0, 1.8], "accuracy": [0.3, 0.4, 0.5]}
    slow = {"framework": "keras", "optimizer": "SGD", "learning_rate": 0.001}
    assert diagnose(history, slow, 0.5, {}, ACCURACY)[0].remedies[0] == {"lr": 10.0}
    adam = {"framework": "keras", "optimizer": "Adam", "learning_rate": 0.001}
    assert diagnose(history, adam, 0.5, {}, ACCURACY)[0].remedies[0] == {"epochs": 2}
    assert diagnose(history, slow, 0.5, {"lr": 10.0}, ACCURACY)[0].remedies[0] == {"epochs": 2}  # raised once


def test_a_training_loss_down_to_zero_is_not_a_flat_loss_and_does_not_end_the_run() -> None:
    # overfit-few-rows: a wide net on 96 rows reaches a float32 loss of exactly 0.0; the run ended with
    # ZeroDivisionError instead of a report
    history = {"loss": [0.4, 0.0, 0.0, 0.0], "accuracy": [0.9, 1.0, 1.0, 1.0], "val_loss": [0.3, 0.2, 0.25, 0.4],
               "val_accuracy": [0.9, 0.92, 0.92, 0.92]}
    facts = {"framework": "keras", "optimizer": "Adam", "learning_rate": 0.01, "data": {"classes": {"0": 45, "1": 75}}}
    kinds = [f.kind for f in diagnose(history, facts, 0.93, {}, Goal("accuracy", 0.96))]
    assert "flat" not in kinds and "overfitting" in kinds


def test_a_model_under_the_target_on_its_training_rows_is_not_overfitting_for_a_small_validation_gap() -> None:
    # few-epochs after 20 epochs of SGD(0.001): training 0.710, validation 0.605; dropout and L2 there cost 4 trials
    history = {"loss": [0.75, 0.70, 0.66, 0.63], "accuracy": [0.60, 0.64, 0.68, 0.71],
               "val_loss": [0.78, 0.74, 0.71, 0.69], "val_accuracy": [0.55, 0.57, 0.59, 0.605]}
    facts = {"framework": "keras", "optimizer": "SGD", "learning_rate": 0.001}
    kinds = [f.kind for f in diagnose(history, facts, 0.62, {"epochs": 2}, ACCURACY)]
    assert kinds == ["underfitting"]




@pytest.mark.usefixtures("ml_env")
def test_the_loop_applies_the_remedy_of_what_the_last_trial_showed_and_reports_why(project_factory) -> None:
    project = project_factory({"train.py": XOR, "mlops.yaml": "target: 0.9\nbudget:\n  max_trials: 4\n"})
    proc = mlops("run", str(project), "--json", "--backend", "local", "--no-notify",
                 env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert len(summary["trials"]) == 2  # the ladder would have scaled first: a linear model stays linear
    first, second = summary["trials"]
    assert "because trial 1 showed: LogisticRegression scores only" in proc.stderr
    shown = json.loads(mlops("show", summary["run_id"], "--json").stdout)
    trials = shown["trials"]
    assert trials[0]["findings"][0]["kind"] == "underfitting" and trials[0]["findings"][0]["remedies"][0] == {
        "crosses": True}
    assert trials[1]["because"]["kind"] == "underfitting" and trials[1]["because"]["trial"] == first["number"]
    assert trials[1]["reached"] and trials[1]["findings"] == []
    text = mlops("show", summary["run_id"]).stdout
    assert f"#{second['number']} trial {first['number']}: LogisticRegression scores only" in text
    assert "-> feature crosses: degree-2 polynomial features" in text


# --- the remedies rewrite the ways users write their scripts (no training) -----------------------------------------

@pytest.mark.parametrize(("compile_line", "expected", "said"), [
    ('model.compile(optimizer="sgd", loss="mse")', 'optimizer=_mlops_keras.optimizers.SGD(learning_rate=0.001)',
     "learning rate 0.01 -> 0.001"),
    ("model.compile(optimizer=SGD(lr=8.0), loss='mse')", "optimizer=SGD(learning_rate=0.8)", "learning rate 8 -> 0.8"),
    ("model.compile(SGD(0.5, momentum=0.9), 'mse')", "SGD(0.05, momentum=0.9)", "learning rate 0.5 -> 0.05"),
    ("opt = SGD(learning_rate=rate)\nmodel.compile(optimizer=opt, loss='mse')", "opt = SGD(learning_rate=(rate) * 0.1)",
     "learning rate rate -> (rate) * 0.1"),
])
def test_the_learning_rate_is_lowered_however_the_optimizer_was_written(compile_line: str, expected: str,
                                                                        said: str) -> None:
    source = ("from keras.models import Sequential\nfrom keras.layers import Dense\nfrom keras.optimizers import SGD\n"
              "rate = 2.0\nmodel = Sequential([Dense(8, activation='relu'), Dense(1)])\n"
              f"{compile_line}\nmodel.fit(X, y, epochs=3)\n")
    outcome = apply_config(source, {"lr": 0.1})
    assert expected in outcome.source and outcome.applied == [said]


def test_keras_class_weights_are_computed_from_the_fits_own_labels_one_hot_included() -> None:
    source = SIGMOID_STACK.replace("y_train, epochs", "keras.utils.to_categorical(y_train), epochs")
    outcome = apply_config(source, {"class_weight": True})
    assert "class_weight=_mlops_class_weight(keras.utils.to_categorical(y_train))" in outcome.source
    namespace: dict[str, Any] = {}
    exec(outcome.source.split("\n\n\n")[0], namespace)  # the helper alone
    weights = namespace["_mlops_class_weight"]([[1, 0], [1, 0], [1, 0], [0, 1]])
    assert weights == {0: 4 / 6, 1: 2.0}


def test_image_augmentation_goes_before_the_first_convolution_and_keeps_the_input_shape() -> None:
    source = ("from keras import layers, models\nmodel = models.Sequential()\n"
              "model.add(layers.Conv2D(8, (3, 3), activation='relu', input_shape=(8, 8, 1)))\n"
              "model.add(layers.Flatten())\nmodel.add(layers.Dense(10, activation='softmax'))\n"
              "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\nmodel.fit(X, y, epochs=3)\n")
    outcome = apply_config(source, {"augment": True})
    lines = outcome.source.splitlines()
    first = next(i for i, line in enumerate(lines) if "RandomTranslation" in line)
    assert "input_shape=(8, 8, 1)" in lines[first] and "RandomRotation" in lines[first + 1]
    assert "Conv2D" in lines[first + 2] and "RandomFlip" not in outcome.source
