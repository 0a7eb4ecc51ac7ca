"""``confirm: K``: a script project's winner run again with K other seeds; the run is judged on their mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.store import get_run_store
from tests.conftest import EXAMPLES, mlops

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
#: A split and a forest that follow the seed the harness sets (no random_state): each seed scores differently.
SEEDED = """
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
df = pd.read_csv("wines.csv.gz")
X_train, X_test, y_train, y_test = train_test_split(df.drop(columns=["Class"]), df["Class"], test_size=0.4)
model = RandomForestClassifier(n_estimators=5, max_depth=2).fit(X_train, y_train)
print("accuracy", model.score(X_test, y_test))
"""


@pytest.mark.usefixtures("ml_env")
def test_the_winner_is_run_again_with_other_seeds_and_the_run_is_judged_on_their_mean(project_factory) -> None:
    project = project_factory({"train.py": SEEDED, "mlops.yaml": "target: 0.5\nconfirm: 3\nmail: {when: never}\n"})
    (project / "wines.csv.gz").write_bytes((EXAMPLES / "wine-sklearn" / "wines.csv.gz").read_bytes())
    proc = mlops("run", str(project), "--json", env=NO_DOCKER)
    summary = json.loads(proc.stdout)
    confirm = summary["confirm"]
    assert summary["measured_on"] == "confirmed" and confirm["trial"] == summary["best_trial"] == 1
    assert confirm["seeds"] == [43, 44, 45] and len(confirm["values"]) == 3
    assert summary["value"] == pytest.approx(sum(confirm["values"]) / 3) != confirm["selected"]
    assert confirm["std"] > 0 and confirm["min"] <= summary["value"] <= confirm["max"]
    assert summary["status"] == ("passed" if summary["value"] >= 0.5 else "failed")
    trials = get_run_store().trials(summary["run_id"])
    assert [t.confirms for t in trials] == [None, 1, 1, 1] and summary["selected_from"] == 1
    assert "run again with 3 other seed(s): mean" in Path(summary["report"]).read_text()
    assert "confirmed with 3 other seed(s)" in proc.stderr


@pytest.mark.slow
def test_confirm_is_for_script_projects(project_factory) -> None:
    project = project_factory({"mlops.yaml": "data: {path: w.csv, label: Class}\nconfirm: 2\n"})
    (project / "w.csv").write_bytes(b"Class,a\n1,2\n2,3\n1,4\n2,5\n")
    proc = mlops("run", str(project), env=NO_DOCKER)
    assert proc.returncode == 2 and "mlops.yaml: confirm: is for script projects" in proc.stderr
