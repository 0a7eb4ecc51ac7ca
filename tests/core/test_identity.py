"""A project name is bound at its first run to where the project comes from; a run from elsewhere is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from core.identity import normalise_remote, origin_of
from core.store import get_run_store
from tests.conftest import EXAMPLES, mlops

WINES = EXAMPLES / "wine-sklearn" / "wines.csv.gz"
DATA_YAML = "data: {path: wines.csv.gz, label: Class}\n"


def data_project(folder: Path) -> Path:
    """A project with data and no mlops.yaml name: its name is its folder's."""
    folder.mkdir(parents=True)
    (folder / "mlops.yaml").write_text(DATA_YAML)
    (folder / "wines.csv.gz").write_bytes(WINES.read_bytes())
    return folder


@pytest.mark.slow
def test_two_folders_with_the_same_name_are_not_one_project(tmp_path: Path) -> None:
    team_a, team_b = data_project(tmp_path / "a" / "model"), data_project(tmp_path / "b" / "model")
    first = mlops("data", "validate", str(team_a))
    assert first.returncode == 0, first.stderr
    for command in (("data", "validate", str(team_b)), ("run", str(team_b), "--backend", "local")):
        refused = mlops(*command)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert refused.stderr.startswith(f"error: project 'model' belongs to {team_a} (bound ")
        assert f"not to {team_b}; rename this one with 'name:' in mlops.yaml, or the operator can rebind it: " \
               f"mlops projects rebind model {team_b}" in refused.stderr
    assert get_run_store().find_runs() == []  # nothing of team B's was recorded
    listed = json.loads(mlops("projects", "--json").stdout)
    assert [(p["_id"], p["origin"]) for p in listed] == [("model", str(team_a))]
    (team_b / "mlops.yaml").write_text("name: model-b\n" + DATA_YAML)  # renamed: its own project
    assert mlops("data", "validate", str(team_b)).returncode == 0


@pytest.mark.slow
def test_the_operator_rebinds_a_name(tmp_path: Path) -> None:
    team_a, team_b = data_project(tmp_path / "a" / "model"), data_project(tmp_path / "b" / "model")
    assert mlops("data", "validate", str(team_a)).returncode == 0
    moved = mlops("projects", "rebind", "model", str(team_b), "--reason", "team B took over")
    assert moved.returncode == 0 and moved.stdout.strip() == f"model -> {team_b} (was {team_a})"
    assert mlops("data", "validate", str(team_b)).returncode == 0
    assert mlops("data", "validate", str(team_a)).returncode == 2


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_the_origin_is_the_git_remote_without_credentials_whatever_the_protocol(tmp_path: Path) -> None:
    assert normalise_remote("https://ci:s3cret@GitHub.com/team/models.git") == "github.com/team/models"
    assert normalise_remote("git@github.com:team/models.git") == "github.com/team/models"
    assert normalise_remote("ssh://git@github.com:22/team/models/") == "github.com/team/models"
    https, ssh, plain = tmp_path / "ci" / "models", tmp_path / "laptop" / "models", tmp_path / "plain"
    for clone, url in ((https, "https://ci:s3cret@github.com/team/models.git"), (ssh, "git@github.com:team/models")):
        (clone / "wine").mkdir(parents=True)
        git("init", "-q", cwd=clone)
        git("remote", "add", "origin", url, cwd=clone)
    assert origin_of(https / "wine") == origin_of(ssh / "wine") == "github.com/team/models#wine"
    assert origin_of(https) == "github.com/team/models"
    plain.mkdir()
    assert origin_of(plain) == str(plain.resolve())


@pytest.mark.slow
def test_the_operator_sets_the_gate_candidates_are_held_to(tmp_path: Path) -> None:
    from core.config import GateMetric, ProjectConfig
    from core.identity import claim
    from core.records import Decision, ModelVersion
    from core.registry import Registry
    from mlops.pipeline.held import held_config

    store = get_run_store()
    claim(store, "wine", str(tmp_path))
    model = tmp_path / "model.joblib"
    model.write_bytes(b"a model")
    production = Registry(store).register(ModelVersion(project="wine", run_id="r1", metric="accuracy", value=0.97,
                                                       format="joblib"), model)
    store.record_decision(Decision(run_id="r1", project="wine", metric="accuracy", target=0.9, gate={"accuracy": {}}))
    pushed = ProjectConfig.model_validate({"target": 0.5, "gate": {"accuracy": {"relative": 0.5}}}).for_task(None)
    cfg, loosened = held_config(store, pushed, production)
    assert (cfg.gate, cfg.target) == ({"accuracy": GateMetric()}, 0.9) and len(loosened) == 2
    operator = mlops("projects", "gate", "wine", "--gate", "{accuracy: {absolute: 0.05}}", "--target", "0.7")
    assert operator.returncode == 0, operator.stderr
    cfg, loosened = held_config(store, pushed, production)
    assert (cfg.gate, cfg.target) == ({"accuracy": GateMetric(absolute=0.05)}, 0.7)
    assert loosened == ["accuracy: relative 0.5 (the operator's: absolute 0.05; held to the operator's)",
                        "target 0.5 (the operator's: 0.7; held to the operator's)"]
    bad = mlops("projects", "gate", "wine", "--gate", "{accuracy: {absolute: -1}}")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --gate: accuracy.absolute: ")
    assert mlops("projects", "gate", "wine", "--clear").returncode == 0
    assert held_config(store, pushed, production)[0].target == 0.9
