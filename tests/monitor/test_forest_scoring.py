"""Forests are served without joblib (small requests walk all the trees at once, larger ones sum the trees' own
answers): the same answers as the estimator's own, and a user's own ``predict_proba`` is kept."""

from __future__ import annotations

import json
import os
import subprocess

from monitor.units import serving_path

SCRIPT = """
import json, warnings
import numpy as np
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_diabetes, load_wine, make_classification
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from serving.models._forest import tree_by_tree
from serving.models._sklearn import SklearnModel

warnings.filterwarnings("ignore")


class Sharpened(RandomForestClassifier):  # a user's own probabilities: must be served as they are
    def predict_proba(self, X):
        p = super().predict_proba(X) ** 2
        return p / p.sum(axis=1, keepdims=True)


X, y = load_wine(return_X_y=True, as_frame=True)
Xd, yd = load_diabetes(return_X_y=True)
Xc, yc = make_classification(3000, 20, n_informative=10, n_classes=3, random_state=0)
Xm = Xc.copy()
Xm[::5, 3] = np.nan  # a forest that learnt where missing values go
cases = {
    "forest on an array": (RandomForestClassifier(n_estimators=30, random_state=0).fit(X.values, y), X.values),
    "forest on a frame": (RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y), X.values),
    "forest with n_jobs=2": (RandomForestClassifier(n_estimators=30, n_jobs=2, random_state=0).fit(X.values, y),
                             X.values),
    "scaler + forest": (make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=30, random_state=0))
                        .fit(X.values, y), X.values),
    "columns by name + forest": (make_pipeline(make_column_transformer((StandardScaler(), ["alcohol"]),
                                                                       remainder="passthrough"),
                                               RandomForestClassifier(n_estimators=30, random_state=0)).fit(X, y),
                                 X.values),
    "extra trees regressor": (ExtraTreesRegressor(n_estimators=30, random_state=0).fit(Xd, yd), Xd),
    "forest, two outputs": (RandomForestRegressor(n_estimators=30, random_state=0).fit(Xd, np.c_[yd, -yd]), Xd),
    "deep forest": (RandomForestClassifier(n_estimators=20, random_state=0).fit(Xc, yc), Xc),
    "missing values": (RandomForestClassifier(n_estimators=20, random_state=0).fit(Xm, yc), Xm),
    "subclass": (Sharpened(n_estimators=30, random_state=0).fit(X.values, y), X.values),
}
out = {}


def answers(served, est, rows):
    got = served.predict(served.to_array(rows))
    x = served._as_input(np.asarray(rows))
    if served.with_probabilities:
        own = {"predictions": est.predict(x).tolist(), "probabilities": est.predict_proba(x).round(6).tolist()}
        return own == {"predictions": got["predictions"], "probabilities": got["probabilities"]}
    return {"predictions": est.predict(x).tolist()} == {"predictions": got["predictions"]}


for name, (est, data) in cases.items():
    served = SklearnModel(est, {"version": 1, "allow_missing": name == "missing values"})
    # one row, two, a few dozen, and 150 (more than the deep forest walks: summed tree by tree)
    requests = [data[:1], data[3:5], data[::7], data[:150]]
    same = all(answers(served, est, [[None if v != v else v for v in row] for row in rows.tolist()])
               for rows in requests)
    scorer = served._predict_proba if served.with_probabilities else served._predict
    joblib_free = scorer != getattr(est, "predict_proba", None) and scorer != est.predict
    walk = getattr(scorer, "walk", None)
    out[name] = {"same": same, "joblib_free": joblib_free,
                 "walks 1 row": walk is not None and walk.takes(data[:1]),
                 "walks 150 rows": walk is not None and walk.takes(data[:150])}
sharpened = cases["subclass"][0]
refused = tree_by_tree(sharpened, lambda: X.values[:9]) is None
out["subclass scored by the trees"] = {"same": refused, "joblib_free": False, "walks 1 row": False,
                                       "walks 150 rows": False}
print(json.dumps(out))
"""


def test_forests_answer_as_the_estimator_does_and_a_users_own_predict_proba_is_kept(python) -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": serving_path()}
    run = subprocess.run([python, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    cases = json.loads(run.stdout)
    assert {name: case["same"] for name, case in cases.items()} == dict.fromkeys(cases, True)
    fast = {name for name, case in cases.items() if case["joblib_free"]}
    # Sharpened's probabilities are not the mean of its trees': the check against probe rows sees it.
    # A forest with n_jobs=2 sums its trees in any order, so it may or may not match to the last bit.
    assert fast - {"forest with n_jobs=2"} == set(cases) - {"subclass", "subclass scored by the trees",
                                                            "forest with n_jobs=2"}
    # Every forest scored without joblib walks its trees for one row. 150 rows walk the shallow wine forests;
    # the deep forests (20 levels or more) sum them tree by tree instead, and a row with a missing value is left to
    # the trees' own calls. The answers above are the same either way.
    assert {name for name, case in cases.items() if case["walks 1 row"]} == fast
    walks_150 = {name for name, case in cases.items() if case["walks 150 rows"]}
    shallow = {"forest on an array", "forest on a frame", "forest with n_jobs=2", "scaler + forest",
               "columns by name + forest"}
    assert walks_150 == fast & shallow
