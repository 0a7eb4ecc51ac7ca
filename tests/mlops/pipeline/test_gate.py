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

from mlops.data import read_snapshot
from tests.conftest import mlops

DATA = Path("/work/shared/data")
APS = sorted(DATA.glob("aps_subset_*.csv.gz"))
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

pytestmark = [pytest.mark.slow, pytest.mark.skipif(len(APS) != 3, reason=f"the APS files are not in {DATA}")]


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
    tag = secrets.token_hex(3)
    name, collection = f"aps-{tag}", f"aps_{tag}"
    project = tmp_path / "aps"
    project.mkdir()
    (project / "mlops.yaml").write_text(f"""
name: {name}
data: {{mongodb: {collection}, label: class}}
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
    code, loaded, err = cli("data", "load", *map(str, APS[:2]), "--collection", collection, "--na-value", "na",
                            "--json", uri=store_uri)
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
    code, loaded, err = cli("data", "load", *map(str, APS), "--collection", collection, "--na-value", "na",
                            "--json", uri=store_uri)
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
        ("recall", "tolerance", "candidate"), ("recall", "tolerance", "production")}
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
