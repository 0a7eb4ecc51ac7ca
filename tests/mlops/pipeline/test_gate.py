"""The production loop end to end on the real APS files: data into a collection, a data project trained with the
cost metric, blessed and approved; more data, validated, drift measured, a second model gated against the first on
the same test rows, the decision recorded. Through the real command line, on the embedded store (and on MongoDB
when MLOPS_TEST_MONGODB_URI is set)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from core.data import read_snapshot
from monitor.serving.capture import SpoolCapture
from tests.conftest import EXAMPLES, PUMPS, WINES, aps_files, mlops

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

pytestmark = pytest.mark.slow


@pytest.fixture(params=["embedded", "mongodb"])
def store_uri(request: pytest.FixtureRequest) -> str:
    """``""`` for the embedded store, else the MongoDB URI of MLOPS_TEST_MONGODB_URI."""
    if request.param == "mongodb":
        uri = os.environ.get("MLOPS_TEST_MONGODB_URI")
        if not uri:
            pytest.skip("no MongoDB here: set MLOPS_TEST_MONGODB_URI to run the same path on a real server")
        return uri
    return ""


def cli(*args: str, uri: str) -> tuple[int, dict | list | None, str]:
    proc = mlops(*args, env={**NO_DOCKER, **({"MONGODB_URI": uri} if uri else {})})
    out = proc.stdout.strip()
    return proc.returncode, json.loads(out) if out.startswith(("{", "[")) else None, proc.stderr + proc.stdout


def figures(evaluation: dict) -> str:
    m = evaluation["metrics"]
    return f"cost {m['cost']:.0f}, f1 {m['f1']:.3f}, recall(pos) {m['recall']:.3f} on {evaluation['rows']} test rows"


@pytest.mark.usefixtures("ml_env")
def test_aps_two_models_one_gate_decision_on_the_same_test_rows(tmp_path: Path, store_uri: str) -> None:
    aps = aps_files()
    tag = secrets.token_hex(3)
    name, collection = f"aps-{tag}", f"aps_{tag}"
    project = tmp_path / "aps"
    project.mkdir()
    (project / "mlops.yaml").write_text(f"""
name: {name}
data: {{mongodb: {collection}, label: class, na_values: [na]}}
metric: cost
target: 6000
cost: {{fp: 10, fn: 500}}
gate:
  cost: {{relative: 0.25}}
  recall: {{absolute: 0.1}}
approval: manual
budget: {{max_trials: 2}}
mail: {{when: never}}
""")
    # loaded as the files are, without --na-value: the project's na_values types the columns when they are read
    code, loaded, err = cli("data", "load", *map(str, aps[:2]), "--collection", collection, "--json", uri=store_uri)
    assert code == 0 and loaded["inserted"] == 6000, err

    # v1: every stage with `mlops run`; blessed, it waits as the candidate until a person promotes it
    code, first, err = cli("run", str(project), "--json", uri=store_uri)
    assert code == 0, err
    assert first["data_project"] and first["measured_on"] == "test" and first["blessed"]
    assert first["pushed"] == {**first["pushed"], "alias": "candidate", "version": 1, "awaiting_approval": True}
    assert first["decision"]["infra"]["status"] == "passed"
    _, models, _ = cli("models", name, "--json", uri=store_uri)
    assert models["aliases"] == {"candidate": 1}
    code, _, err = cli("promote", name, "1", "--to", "production", "--reason", "first model, reviewed",
                       uri=store_uri)
    assert code == 0, err

    # more rows: the schema holds, drift of the new rows is measured against v1's snapshot
    code, loaded, err = cli("data", "load", *map(str, aps), "--collection", collection, "--json", uri=store_uri)
    assert code == 0 and loaded["inserted"] == 3000 and [f["already_loaded"] for f in loaded["files"]] == [
        True, True, False]
    code, check, err = cli("data", "validate", str(project), "--json", uri=store_uri)
    assert code == 0, err
    assert not check["schema_inferred"] and check["snapshot"]["rows"] == 9000
    assert check["snapshot"]["kept_from"] == first["snapshot"] and check["snapshot"]["kept_rows"] == 6000
    drift = check["drift"]
    assert (drift["reference"], drift["version"], drift["rows"], drift["tested"]) == (first["snapshot"], 1, 3000,
                                                                                     170)

    # v2: the Jenkins stages one by one
    out = tmp_path / "mlops-out"
    code, _, err = cli("train", str(project), "--out", str(out), uri=store_uri)
    assert code == 0, err
    code, decision, err = cli("evaluate", str(out / "summary.json"), "--json", uri=store_uri)
    second = json.loads((out / "summary.json").read_text())
    assert decision["run_id"] == second["run_id"] and decision["baseline_version"] == 1 and decision["version"] == 2
    assert code == (0 if decision["blessed"] else 1)
    assert decision["blessed"] == (all(c["passed"] for c in decision["checks"])
                                   and decision["infra"]["status"] == "passed")
    assert decision["rows"] == {"candidate": second["snapshot"], "production": first["snapshot"]}
    assert {(c["metric"], c["check"], c["rows"]) for c in decision["checks"]} == {
        ("cost", "target", "candidate"), ("cost", "tolerance", "candidate"), ("cost", "tolerance", "production"),
        ("recall", "tolerance", "candidate"), ("recall", "tolerance", "production")} | (
        {("inputs", "inputs", "candidate")} if decision["blessed"] else set())  # the same columns as production
    evaluations = decision["evaluations"]
    # the same rows for both models: v1's test rows are all in v2's test split, so neither trained on them
    v1_test, v2_test = (read_snapshot(Path(os.environ["MLOPS_HOME"]) / "snapshots" / s).test
                        for s in (first["snapshot"], second["snapshot"]))
    rows = {tuple(r) for r in v2_test.fillna(-1).astype(str).to_numpy()}
    assert all(tuple(r) in rows for r in v1_test.fillna(-1).astype(str).to_numpy())
    assert evaluations["production_on_production"]["metrics"] == first["evaluation"]["metrics"]
    assert evaluations["candidate_on_candidate"]["metrics"] == second["evaluation"]["metrics"]
    assert evaluations["production_on_candidate"]["rows"] == evaluations["candidate_on_candidate"]["rows"] == 1350
    assert evaluations["candidate_on_production"]["rows"] == 900

    if decision["blessed"]:
        code, pushed, err = cli("push", str(out / "summary.json"), "--json", uri=store_uri)
        assert code == 0 and pushed["alias"] == "candidate" and (out / "awaiting-approval.json").is_file(), err
        code, _, err = cli("promote", str(out / "summary.json"), "--to", "production", "--reason", "approved in "
                           "Jenkins", uri=store_uri)
        assert code == 0, err
    _, models, _ = cli("models", name, "--json", uri=store_uri)
    versions = {v["version"]: v for v in models["versions"]}
    assert versions[2]["snapshot"] == second["snapshot"] and versions[2]["decision"]["blessed"] == decision["blessed"]
    assert models["aliases"]["production"] == (2 if decision["blessed"] else 1)
    assert [(m["alias"], m["version"], m["why"]) for m in models["history"]][:2] == [
        ("candidate", 1, f"blessed, waiting for approval: {first['decision']['reason']}"),
        ("production", 1, "first model, reviewed")]

    report = (out / "report.html").read_text()
    assert "Gate:" in report and "not worse than production" in report and "confusion matrix" in report
    assert f"production v1's snapshot {first['snapshot']}" in report and 'src="history.png"' in report
    print(f"\nAPS v1 ({first['snapshot']}): {figures(first['evaluation'])}"
          f"\nAPS v2 ({second['snapshot']}): {figures(second['evaluation'])}"
          f"\nv1 on v2's test rows: {figures(evaluations['production_on_candidate'])}"
          f"\nv2 on v1's test rows: {figures(evaluations['candidate_on_production'])}"
          f"\ngate: {'BLESSED' if decision['blessed'] else 'NOT BLESSED'}: {decision['reason']}")


FOREST = (EXAMPLES / "wine-sklearn" / "train.py").read_text()


@pytest.mark.usefixtures("ml_env")
def test_the_example_data_project_reaches_its_target_and_is_served_with_its_categories_and_pushed(
        mlops_home: Path) -> None:
    code, summary, output = cli("run", str(PUMPS), "--json", uri="")
    assert code == 0, output
    assert summary["data_project"] and summary["measured_on"] == "test" and summary["value"] >= 0.85
    assert summary["blessed"] and summary["pushed"]["alias"] == "production"
    infra = summary["decision"]["infra"]
    assert infra["status"] == "passed" and infra["rows"] >= 5, infra  # rows with text categories, served
    test = read_snapshot(mlops_home / "snapshots" / summary["snapshot"]).test
    assert test["site"].dtype == object and test["hours_since_service"].dtype == "float64"  # 'na': missing
    assert "Keras 2 script" not in output and "tf-keras" not in output  # a scikit-learn Pipeline: no Keras warning


@pytest.mark.usefixtures("ml_env")
def test_a_script_worse_than_production_is_not_blessed_and_production_stays(project_factory) -> None:
    yaml = "target: 0.5\nmail: {when: never}\ndata: {path: wines.csv.gz, label: Class}\n"
    project = project_factory({"train.py": FOREST, "mlops.yaml": yaml}, "wine")
    (project / "wines.csv.gz").write_bytes(WINES.read_bytes())
    code, first, err = cli("run", str(project), "--json", uri="")
    assert code == 0 and first["blessed"] and first["pushed"]["alias"] == "production", err
    assert not first["data_project"] and first["snapshot"] == first["data"]["snapshot"]["id"]  # its own script
    assert first["measured_on"] == "reported" and first["decision"]["infra"]["status"] == "passed"
    (project / "train.py").write_text(FOREST.replace("n_estimators=100", "n_estimators=1, max_depth=1"))
    code, second, err = cli("run", str(project), "--json", "--max-trials", "1", uri="")
    decision = second["decision"]
    assert code == 1 and second["status"] == "passed" and not second["blessed"] and second["pushed"] is None
    assert decision["compared_on"].startswith("the figures each script reported")
    [tolerance] = [c for c in decision["checks"] if c["check"] == "tolerance"]
    assert tolerance["baseline"] == first["value"] and tolerance["candidate"] == second["value"] < first["value"]
    assert decision["reason"].startswith(f"accuracy {second['value']:.4g} is worse than production's")
    _, models, _ = cli("models", "wine", "--json", uri="")
    assert models["aliases"] == {"production": 1} and models["versions"][0]["decision"]["blessed"] is False
    assert models["versions"][0]["snapshot"] == models["versions"][1]["snapshot"] == first["snapshot"]


@pytest.mark.usefixtures("ml_env")
def test_a_model_that_cannot_be_served_is_never_blessed(tmp_path: Path, mlops_home: Path) -> None:
    project = tmp_path / "wine"
    project.mkdir()
    (project / "mlops.yaml").write_text("data: {path: wines.csv.gz, label: Class}\nbudget: {max_trials: 1}\n")
    (project / "wines.csv.gz").write_bytes(WINES.read_bytes())
    out = tmp_path / "out"
    code, _, err = cli("train", str(project), "--out", str(out), uri="")
    assert code == 0, err
    (mlops_home / "registry" / "wine" / "v1" / "model.joblib").write_bytes(b"not a model any more")
    code, decision, err = cli("evaluate", str(out / "summary.json"), "--json", uri="")
    assert code == 1 and not decision["blessed"] and decision["infra"]["status"] == "failed"
    assert decision["reason"].startswith("infra validation failed: model v1 cannot be served: it did not load its "
                                         "model in its serving environment (exited)")
    again = mlops("evaluate", str(out / "summary.json"), env=NO_DOCKER)
    assert again.returncode == 1 and again.stdout.strip() == f"NOT BLESSED: {decision['reason']}"  # recorded once
    code, _, err = cli("push", str(out / "summary.json"), uri="")
    assert code == 1 and "not pushed: the gate did not bless model v1" in err


@pytest.mark.usefixtures("dl_env")
def test_a_keras_data_project_is_served_with_its_transform_and_blessed(tmp_path: Path) -> None:
    project = tmp_path / "wine"
    project.mkdir()
    (project / "mlops.yaml").write_text("data: {path: wines.csv.gz, label: Class}\nframework: keras\n"
                                        "target: 0.8\nbudget: {max_trials: 1}\nmail: {when: never}\n")
    (project / "wines.csv.gz").write_bytes(WINES.read_bytes())
    code, summary, err = cli("run", str(project), "--json", uri="")
    assert code == 0, err
    assert (summary["framework"], summary["kind"]) == ("keras", "ann") and summary["model"].endswith("model.keras")
    assert summary["blessed"] and summary["decision"]["infra"]["status"] == "passed"
    folder = Path(summary["model"]).parent
    meta = json.loads((folder / "model.json").read_text())
    assert meta["transform"] == "transform.joblib" and (folder / "transform.joblib").is_file()
    assert meta["classes"] == ["1", "2", "3"] and summary["evaluation"]["labels"] == ["1", "2", "3"]


@pytest.mark.usefixtures("ml_env")
def test_the_gates_probes_are_not_captured_as_live_predictions(tmp_path: Path, mlops_home: Path) -> None:
    project = tmp_path / "wine"
    project.mkdir()
    (project / "mlops.yaml").write_text("data: {path: wines.csv.gz, label: Class}\nbudget: {max_trials: 1}\n"
                                        "target: 0.5\n")
    (project / "wines.csv.gz").write_bytes(WINES.read_bytes())
    out = tmp_path / "out"
    code, _, err = cli("train", str(project), "--out", str(out), uri="")
    assert code == 0, err
    code, decision, err = cli("evaluate", str(out / "summary.json"), "--json", uri="")
    assert decision["infra"]["status"] == "passed" and decision["infra"]["rows"] >= 5, err  # the probes answered
    spool = mlops_home / "capture" / "wine"
    # nothing for /review to show, nothing for the live accuracy or the next retrain to take as a user's row
    assert not (spool / "capture.sqlite").exists() or SpoolCapture(spool).recent("wine", 1000) == []
