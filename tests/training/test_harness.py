"""The harness captures metrics and models from unmodified scripts, run for real in the trial virtualenvs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, harness, load_joblib_model, write_project
from training.backends import LocalBackend, TrialSpec

WINE = """
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
"""


@pytest.mark.usefixtures("ml_env")
class TestScikitLearnScripts:
    def test_a_metric_function_call_is_captured_and_cross_validation_is_ignored(self, project_factory) -> None:
        p = project_factory({"train.py": WINE + """
from sklearn.neighbors import KNeighborsClassifier
from sklearn.model_selection import cross_val_score
from sklearn.metrics import accuracy_score
clf = KNeighborsClassifier()
print("cv mean", cross_val_score(clf, X_train, y_train, cv=3).mean())
clf.fit(X_train, y_train)
acc = accuracy_score(y_test, clf.predict(X_test))
"""})
        code, m, _ = harness(p, "ml")
        assert code == 0
        assert m["sources"]["accuracy"] == "sklearn.metrics"
        assert 0.5 < m["value"] < 0.85  # unscaled KNN on wine; not the cv mean printed before
        assert m["model"]["format"] == "joblib"

    def test_score_is_captured_and_the_saved_model_predicts(self, project_factory) -> None:
        p = project_factory({"train.py": WINE + """
from sklearn.ensemble import RandomForestClassifier
def train():
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X_train, y_train)
    return model.score(X_test, y_test)
train()
"""})
        code, m, _ = harness(p, "ml", run_dir=p.parent / "run")
        assert code == 0 and m["sources"]["accuracy"] == "sklearn.score" and m["value"] > 0.9
        assert m["model"]["source"] == "sklearn.score"
        assert load_joblib_model(p.parent / "run", "ml", "type(m).__name__") == "RandomForestClassifier"

    def test_score_of_an_estimator_that_overrides_it_is_still_the_users_call(self, project_factory) -> None:
        # KNeighborsClassifier.score calls super().score(): the user's call must still count, once.
        p = project_factory({"train.py": WINE + """
from sklearn.neighbors import KNeighborsClassifier
clf = KNeighborsClassifier().fit(X_train, y_train)
print("test accuracy:", clf.score(X_test, y_test), "done")
"""})
        code, m, _ = harness(p, "ml")
        assert code == 0 and m["sources"]["accuracy"] == "sklearn.score"
        assert m["model"]["class"] == "KNeighborsClassifier"

    def test_regression_r2_from_score(self, project_factory) -> None:
        p = project_factory({"train.py": """
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
X, y = load_diabetes(return_X_y=True)
r = Ridge().fit(X[:300], y[:300])
print("r2", r.score(X[300:], y[300:]))
"""})
        code, m, _ = harness(p, "ml", metric="r2")
        assert code == 0 and m["sources"]["r2"] == "sklearn.score" and 0.2 < m["value"] < 0.7

    def test_f1_from_the_metrics_module_called_by_attribute(self, project_factory) -> None:
        p = project_factory({"train.py": WINE + """
import sklearn.metrics as skm
from sklearn.tree import DecisionTreeClassifier
clf = DecisionTreeClassifier(random_state=0).fit(X_train, y_train)
f1 = skm.f1_score(y_test, clf.predict(X_test), average="macro")
"""})
        code, m, _ = harness(p, "ml", metric="f1")
        assert code == 0 and m["sources"]["f1"] == "sklearn.metrics" and 0.7 < m["value"] <= 1

    @pytest.mark.parametrize(("line", "expected", "shown"), [
        ('print("Accuracy: 93.5%")', 0.935, "Accuracy: 93.5% (read 93.5% as 0.935)"),
        ('print("model accuracy =", 87.25)', 0.8725, "model accuracy = 87.25 (read 87.25 as 87.25% = 0.8725)"),
        ('print("acc", 0.66)\nprint("loss", 0.42)', 0.66, "acc 0.66"),
        ('print("accuracy: 0.93 (f1 0.91)")', 0.93, "accuracy: 0.93 (f1 0.91)"),
        ('print("Test accuracy", 0.71)\nprint(f"epochs: {3}")', 0.71, "Test accuracy 0.71"),
    ])
    def test_a_printed_line_that_names_the_metric_is_the_last_resort(self, project_factory, line: str,
                                                                     expected: float, shown: str) -> None:
        p = project_factory({"train.py": "import sklearn\n" + line + "\n"})
        code, m, _ = harness(p, "ml")
        assert code == 0 and m["sources"]["accuracy"] == f"print: {shown}"
        assert m["value"] == pytest.approx(expected)

    @pytest.mark.parametrize(("source", "value", "note"), [
        ('print("accuracy", 1.7)', 0.017, "read 1.7 as 1.7% = 0.017"),
        ('print("accuracy", 93.5)', 0.935, "read 93.5 as 93.5% = 0.935"),
        ('print("accuracy 80%")', 0.8, "read 80% as 0.8"),
        ('open("accuracy.txt", "w").write("93.5")', 0.935, "read 93.5 as 93.5% = 0.935"),
    ])
    def test_a_value_read_as_a_percentage_says_so(self, project_factory, source: str, value: float,
                                                  note: str) -> None:
        code, m, _ = harness(project_factory({"train.py": "import sklearn\n" + source + "\n"}), "ml")
        assert code == 0 and m["value"] == pytest.approx(value)
        assert m["notes"] == {"accuracy": note} and m["sources"]["accuracy"].endswith(f"({note})")
        plain = project_factory({"train.py": "import sklearn\nprint('accuracy', 0.93)\n"})
        assert harness(plain, "ml")[1]["notes"] == {}  # a share is read as printed, with nothing to say

    @pytest.mark.parametrize(("source", "shown"), [
        ('print("accuracy", float("nan"))', "nan (print: accuracy nan)"),
        ('print(f"Accuracy: {float(\'inf\'):.2f}")', "inf (print: Accuracy: inf)"),
        ('print("accuracy 0.9")\nprint("accuracy -inf")', "-inf (print: accuracy -inf)"),
        ('import training\ntraining.report(accuracy=float("nan"))', "nan (report)"),
        ('open("accuracy.txt", "w").write("nan")', "nan (file: accuracy.txt: nan)"),
    ])
    def test_a_non_finite_metric_fails_the_trial_saying_so(self, project_factory, source: str, shown: str) -> None:
        code, m, _ = harness(project_factory({"train.py": "import sklearn\n" + source + "\n"}), "ml")
        assert code == 4 and m["value"] is None and m["error"]["kind"] == "non_finite_metric"
        assert m["error"]["message"].startswith(f"train.py reported a non-finite accuracy: {shown}; ")
        assert "nothing" not in m["error"]["message"] and "\n" not in m["error"]["message"]

    def test_a_lone_unnamed_number_counts_only_for_the_tasks_default_metric(self, project_factory) -> None:
        p = project_factory({"train.py": "import sklearn\nprint(0.91)\nprint('done')\n"})
        code, m, _ = harness(p, "ml", metric_is_default=True)
        assert code == 0 and m["value"] == 0.91 and m["sources"]["accuracy"] == "print: 0.91"
        code, m, _ = harness(p, "ml", metric_is_default=False)  # accuracy named in mlops.yaml: it must be named
        assert code == 4 and m["value"] is None
        two = project_factory({"train.py": "import sklearn\nprint('fold', 3)\nprint(0.91)\n"})
        assert harness(two, "ml", metric_is_default=True)[0] == 4  # two numbers: which one would be a guess

    def test_a_metric_is_never_reported_under_a_name_the_script_did_not_give_it(self, project_factory) -> None:
        p = project_factory({"train.py": "import sklearn\nprint('accuracy 0.951')\n"})
        code, m, _ = harness(p, "ml", metric="f1")
        assert code == 4 and m["value"] is None and m["error"]["kind"] == "no_metric"
        assert m["error"]["message"].startswith("train.py reported no f1 (it reported: accuracy=0.951); "
                                                "set 'metric: accuracy' in mlops.yaml")

    def test_a_metric_written_to_a_file_named_after_it_counts(self, project_factory) -> None:
        p = project_factory({"train.py": WINE + """
from sklearn.tree import DecisionTreeClassifier
clf = DecisionTreeClassifier(random_state=0).fit(X_train, y_train)
acc = (clf.predict(X_test) == y_test).mean()
with open("accuracy.txt", "w") as f:
    f.write(str(acc * 100))
"""})
        code, m, _ = harness(p, "ml")
        assert code == 0 and 0.8 < m["value"] <= 1 and m["sources"]["accuracy"].startswith("file: accuracy.txt")

    def test_an_explicit_report_wins_over_hooks(self, project_factory) -> None:
        p = project_factory({"train.py": WINE + """
import training
from sklearn.linear_model import LogisticRegression
clf = LogisticRegression(max_iter=50).fit(X_train, y_train)
clf.score(X_test, y_test)
training.report(accuracy=0.4242, f1=0.5)
"""})
        code, m, _ = harness(p, "ml")
        assert code == 0 and m["value"] == 0.4242 and m["sources"]["accuracy"] == "report"
        assert m["metrics"]["f1"] == 0.5

    def test_a_script_that_raises_gives_an_error_record_with_its_line(self, project_factory) -> None:
        p = project_factory({"train.py": "import sklearn\nx = 1\nraise ValueError('bad column Alcohol')\n"})
        code, m, out = harness(p, "ml")
        assert code == 3 and m["status"] == "error" and m["value"] is None
        assert m["error"]["kind"] == "script_error"
        assert m["error"]["message"] == "train.py:3 raised ValueError: bad column Alcohol"
        assert "Traceback" in out

    def test_tracebacks_show_the_users_frames_and_name_the_rewritten_file(self, project_factory, tmp_path) -> None:
        source = "import sklearn\nfrom helpers import load\nx = 1\nload()\n"
        p = project_factory({"train.py": source, "helpers.py": "def load():\n    raise KeyError('Class')\n"})
        code, m, out = harness(p, "ml")
        tb = m["error"]["traceback"]
        assert code == 3 and m["error"]["message"] == "helpers.py:2 raised KeyError: 'Class'"
        assert 'File "train.py", line 4' in tb and 'File "helpers.py", line 2' in tb
        assert "runpy" not in tb and "training/harness" not in tb and "runpy" not in out
        tweaked = tmp_path / "tweaked_train.py"
        tweaked.write_text("# a line the tweak added\n" + source)
        code, m, _ = harness(p, "ml", script=tweaked)
        assert 'File "tweaked_train.py", line 5' in m["error"]["traceback"]
        assert m["error"]["message"] == "helpers.py:2 raised KeyError: 'Class'"

    def test_a_script_that_fails_after_reporting_keeps_its_metric_and_model_with_a_warning(self,
                                                                                        project_factory) -> None:
        p = project_factory({"train.py": WINE + """
import smtplib
from sklearn.ensemble import RandomForestClassifier
model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X_train, y_train)
print("Accuracy:", model.score(X_test, y_test))
smtplib.SMTP("smtp.example.com", 587, timeout=2).sendmail("me", ["you"], "accuracy is fine")
"""})
        code, m, _ = harness(p, "ml")
        assert code == 0 and m["value"] > 0.9 and m["model"]["class"] == "RandomForestClassifier"
        [warning] = [w for w in m["warnings"] if "after reporting accuracy" in w]
        assert warning.startswith("train.py:11 raised gaierror") and warning.endswith("taken from the fitted object")
        early = project_factory({"train.py": "import sklearn\nraise OSError('disk full')\nprint('accuracy 0.9')\n"})
        assert harness(early, "ml")[0] == 3  # an exception before any metric still fails the trial

    @pytest.mark.parametrize(("source", "kind", "message"), [
        ("import sklearn\nimport seaborn as sns\n", "missing_package",
         "train.py:2 imports seaborn, which is not installed: add seaborn to requirements.txt"),
        ("import sklearn\nimport cv2\n", "missing_package", "add opencv-python-headless to requirements.txt"),
        ("import pandas as pd\nimport sklearn\ndf = pd.read_csv('data/wines.csv')\n", "missing_file",
         "train.py:3 raised FileNotFoundError: data/wines.csv does not exist in the trial"),
    ])
    def test_what_no_tweak_can_fix_says_what_to_add(self, project_factory, source: str, kind: str,
                                                    message: str) -> None:
        code, m, _ = harness(project_factory({"train.py": source}), "ml")
        assert code == 3 and m["error"]["kind"] == kind and message in m["error"]["message"]

    def test_arguments_and_seed_style_absolute_paths_reach_the_script(self, project_factory, tmp_path) -> None:
        p = project_factory({"train.py": """
import sys, os, pandas as pd
from sklearn.tree import DecisionTreeClassifier
df = pd.read_csv("/mycode/data/wines.csv.gz")
assert os.path.exists("/mycode/data") and "wines.csv.gz" in os.listdir("/mycode/data")
clf = DecisionTreeClassifier(max_depth=int(sys.argv[2]), random_state=0).fit(df.drop(columns=["Class"]), df["Class"])
with open("/mycode/accuracy.txt", "w") as f:
    f.write(str((clf.predict(df.drop(columns=["Class"])) == df["Class"]).mean()))
print(sys.argv[1:])
""", "accuracy.txt": "0.1 (the user's own file)\n"})
        (p / "data").mkdir()
        (p / "data" / "wines.csv.gz").write_bytes((EXAMPLES / "wine-sklearn" / "wines.csv.gz").read_bytes())
        run_dir = tmp_path / "run"
        code, m, out = harness(p, "ml", run_dir=run_dir, extra=("--arg=--depth", "--arg=3", "--map=/mycode=."))
        assert code == 0, out
        assert "['--depth', '3']" in out and m["sources"]["accuracy"].startswith("file: accuracy.txt")
        assert 0.9 < m["value"] <= 1.0
        assert (p / "accuracy.txt").read_text() == "0.1 (the user's own file)\n"  # never written
        assert not (run_dir / "work" / "accuracy.txt").is_symlink()

    def test_sys_exit_with_an_error_code_is_a_failure(self, project_factory) -> None:
        p = project_factory({"train.py": "import sys\nprint(0.99)\nsys.exit(2)\n"})
        code, m, _ = harness(p, "ml")
        assert code == 3 and m["error"]["message"] == "train.py called sys.exit(2)" and m["value"] is None
        assert m["exit_code"] == 2

    def test_sys_exit_after_reporting_keeps_the_metric_and_model_like_a_raise_and_records_the_code(
            self, project_factory, tmp_path) -> None:
        p = project_factory({"train.py": WINE + """
import sys
from sklearn.tree import DecisionTreeClassifier
clf = DecisionTreeClassifier(random_state=0).fit(X_train, y_train)
print("accuracy", clf.score(X_test, y_test))
sys.exit(3)
"""})
        spec = TrialSpec(project=p, entry="train.py", run_dir=tmp_path / "run", env="ml")
        result = LocalBackend().run_trial(spec, lambda line: None)
        assert result.status == "ok" and result.value is not None and result.value > 0.8 and result.error is None
        assert result.exit_code == 3 and result.model is not None and result.model["class"] == "DecisionTreeClassifier"
        [warning] = [w for w in result.warnings if "sys.exit" in w]
        assert warning.startswith("train.py called sys.exit(3) after reporting accuracy 0.")
        assert warning.endswith("(exit code 3, kept in the trial)")

    def test_no_metric_is_an_error_never_a_fake_number(self, project_factory) -> None:
        p = project_factory({"train.py": WINE + "from sklearn.svm import SVC\nclf = SVC().fit(X_train, y_train)\n"})
        code, m, _ = harness(p, "ml")
        assert code == 4 and m["value"] is None and m["error"]["kind"] == "no_metric"
        assert "reported no accuracy" in m["error"]["message"]
        assert m["model"]["class"] == "SVC"  # the model is still kept

    def test_data_is_read_relative_to_the_project_and_the_project_is_not_written(self, project_factory) -> None:
        p = project_factory({"data/points.csv": "x,y\n1,0\n2,0\n3,1\n4,1\n5,1\n6,0\n", "train.py": """
import pandas as pd
from sklearn.tree import DecisionTreeClassifier
df = pd.read_csv("data/points.csv")
clf = DecisionTreeClassifier().fit(df[["x"]], df["y"])
clf.score(df[["x"]], df["y"])
open("side_effect.txt", "w").write("written by the script")
"""})
        code, m, _ = harness(p, "ml", run_dir=p.parent / "run")
        assert code == 0 and m["value"] == 1.0
        assert not (p / "side_effect.txt").exists()
        assert (p.parent / "run" / "work" / "side_effect.txt").exists()

    def test_a_notebook_entry_runs(self, project_factory) -> None:
        nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                         "source": ["%matplotlib inline\n", WINE]},
                        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                         "source": "from sklearn.naive_bayes import GaussianNB\n"
                                   "GaussianNB().fit(X_train, y_train).score(X_test, y_test)"}],
              "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        p = project_factory({"explore.ipynb": json.dumps(nb)})
        code, m, _ = harness(p, "ml", entry="explore.ipynb")
        assert code == 0 and m["value"] > 0.9

    def test_a_trial_past_its_time_limit_is_stopped_with_a_clear_error(self, project_factory, tmp_path) -> None:
        p = project_factory({"train.py": "import time\nprint('training...')\ntime.sleep(120)\n"})
        spec = TrialSpec(project=p, entry="train.py", run_dir=tmp_path / "run", env="ml", time_limit_s=5)
        start = time.time()
        result = LocalBackend().run_trial(spec, lambda line: None)
        assert time.time() - start < 20
        assert result.status == "failed" and result.error_kind == "timeout"
        assert "time limit of 5s" in (result.error or "") and "training..." in result.log_tail


@pytest.mark.slow
@pytest.mark.usefixtures("dl_env")
class TestKerasScripts:
    def test_evaluate_history_and_model_are_captured(self, tmp_path: Path) -> None:
        from tests.conftest import EXAMPLES

        code, m, _ = harness(EXAMPLES / "digits-cnn", "dl", run_dir=tmp_path / "run")
        assert code == 0 and m["sources"]["accuracy"] == "keras.evaluate" and m["value"] > 0.9
        assert len(m["history"]["val_accuracy"]) == 8 and len(m["history"]["loss"]) == 8
        assert m["model"]["format"] == "keras"
        events = (tmp_path / "run" / "events.jsonl").read_text().splitlines()
        assert len(events) == 8 and json.loads(events[-1])["epoch"] == 7

    def test_fit_only_with_validation_uses_the_validation_metric(self, tmp_path: Path) -> None:
        p = write_project(tmp_path / "p", {"train.py": """
import numpy as np
import keras
rng = np.random.default_rng(0)
X = rng.normal(size=(400, 4)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
def build():
    inp = keras.Input((4,))
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dense(8, activation="relu")(inp))
    m = keras.Model(inp, out)
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return m
build().fit(X, y, epochs=5, validation_split=0.25, verbose=0)
"""})
        code, m, _ = harness(p, "dl")
        assert code == 0 and m["sources"]["accuracy"] == "keras.fit.validation"
        assert m["value"] == m["history"]["val_accuracy"][-1]

    def test_a_keras2_script_runs_on_tf_keras_with_its_shims_listed(self, tmp_path: Path) -> None:
        p = write_project(tmp_path / "old", {"train.py": """
import numpy as np
from keras.models import Sequential
from keras.layers import Dense
from keras.optimizers import Adam
X = np.random.RandomState(1).rand(300, 3); y = (X.sum(axis=1) > 1.5).astype(int)
model = Sequential()
model.add(Dense(8, input_dim=3, activation="relu"))
model.add(Dense(1, activation="sigmoid"))
model.compile(loss="binary_crossentropy", optimizer=Adam(lr=0.05), metrics=["acc"])
model.fit(X, y, nb_epoch=10, batch_size=32, verbose=0)
scores = model.evaluate(X, y, verbose=0)
print("%s: %.2f%%" % (model.metrics_names[1], scores[1] * 100))
"""})
        code, m, out = harness(p, "dl")
        assert code == 0, out
        assert m["sources"]["accuracy"] == "keras.evaluate" and m["value"] > 0.8
        assert any("Adam(lr=...)" in w for w in m["warnings"]) and any("nb_epoch" in w for w in m["warnings"])
        assert len(m["history"]["acc"]) == 10


CHECKPOINTED = """
import numpy as np
import keras
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 4)); y = (X[:, 0] > 0).astype(int)
m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
m.fit(X, y, epochs=EPOCHS, verbose=0)
m.evaluate(X, y, verbose=0)
"""


@pytest.mark.slow
@pytest.mark.usefixtures("dl_env")
def test_a_corrupt_checkpoint_falls_back_to_the_previous_one_with_a_warning(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLOPS_HARNESS_STRICT")
    run_dir = tmp_path / "run"
    first = write_project(tmp_path / "a", {"train.py": CHECKPOINTED.replace("EPOCHS", "3")})
    code, m, _ = harness(first, "dl", run_dir=run_dir)
    assert code == 0 and m["resumed_from_epoch"] == []
    folder = run_dir / "checkpoint" / "fit-1"
    assert json.loads((folder / "state.json").read_text())["epoch"] == 2
    (folder / "last.weights.h5").write_bytes(b"half-written garbage")
    again = write_project(tmp_path / "b", {"train.py": CHECKPOINTED.replace("EPOCHS", "5")})
    code, m, out = harness(again, "dl", run_dir=run_dir)
    assert code == 0, out
    assert m["resumed_from_epoch"] == [2]  # the previous checkpoint: after epoch 2, not 3
    assert any("cannot be loaded" in w and "falling back to the previous one" in w for w in m["warnings"])
    assert len(m["history"]["loss"]) == 5
