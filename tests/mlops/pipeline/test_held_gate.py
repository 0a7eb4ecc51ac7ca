"""A push cannot loosen the gate production was held to, nor change production's inputs unannounced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, mlops

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent.sock"}
FOREST = (EXAMPLES / "wine-sklearn" / "train.py").read_text()
DUMMY = FOREST.replace("from sklearn.ensemble import RandomForestClassifier",
                       "from sklearn.dummy import DummyClassifier").replace(
    "RandomForestClassifier(n_estimators=100, random_state=1)", "DummyClassifier(strategy='most_frequent')")
IRIS = """from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=1, stratify=y)
model = KNeighborsClassifier().fit(X_train, y_train)
print("Accuracy:", model.score(X_test, y_test))
"""
GATE = "gate: {accuracy: {absolute: 0.1}}\nmail: {when: never}\n"


def run(project: Path, script: str, yaml: str) -> tuple[int, dict]:
    (project / "train.py").write_text(script)
    (project / "mlops.yaml").write_text(yaml)
    proc = mlops("run", str(project), "--json", "--max-trials", "1", "--backend", "local", env=NO_DOCKER)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {"stderr": proc.stderr}


@pytest.mark.slow
@pytest.mark.usefixtures("ml_env")
def test_a_push_is_held_to_productions_gate_and_inputs(project_factory) -> None:
    project = project_factory({"wines.csv.gz": ""}, "wine")
    (project / "wines.csv.gz").write_bytes((EXAMPLES / "wine-sklearn" / "wines.csv.gz").read_bytes())
    code, first = run(project, FOREST, "target: 0.9\n" + GATE)
    assert code == 0 and first["pushed"]["version"] == 1, first
    # A push that writes itself a gate that lets anything through is held to production's.
    code, loose = run(project, DUMMY, "target: 0.3\ngate: {accuracy: {relative: 1.0}}\nmail: {when: never}\n")
    decision = loose["decision"]
    assert code == 1 and not loose["blessed"] and loose["pushed"] is None
    assert decision["loosened"] == [
        "accuracy: relative 1 (production's: absolute 0.1; held to production's)",
        "target 0.3 (production's: 0.9; held to production's)"]
    assert decision["reason"].startswith(f"accuracy {loose['value']:.4g} is under the target 0.9")
    report = (Path(loose["run_dir"]) / "report.html").read_text()
    assert "gate loosened by the push: target 0.3 (production&#39;s: 0.9; held to production&#39;s)" in report
    # A model that takes other inputs would break every client of production.
    code, iris = run(project, IRIS, "target: 0.9\n" + GATE)
    assert code == 1 and not iris["blessed"] and iris["pushed"] is None, iris["decision"]["reason"]
    assert iris["decision"]["reason"].startswith("candidate takes 4 inputs, production takes 13: a breaking change "
                                                 "for every client of production v1; declare it with 'breaking: "
                                                 "true' in mlops.yaml")
    # Declared, it waits for a person's approval; production stays.
    code, declared = run(project, IRIS, "target: 0.9\nbreaking: true\n" + GATE)
    assert declared["blessed"] and declared["pushed"]["alias"] == "candidate", declared["decision"]["reason"]
    models = json.loads(mlops("models", "wine", "--json").stdout)
    assert models["aliases"] == {"production": 1, "candidate": 4}
