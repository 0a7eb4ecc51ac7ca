"""Paths a push names resolve inside the project (symlinks followed) before anything reads them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlops.store import get_run_store
from tests.conftest import mlops

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent.sock"}
SCRIPT = "from sklearn.svm import SVC\nprint('accuracy', 0.9)\n"
OUTSIDE = "import pathlib\npathlib.Path(__file__).with_name('was-run').write_text('yes')\nprint('accuracy', 1.0)\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the project holding a secret and a script that leaves a mark when it runs."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "secret.csv").write_text("root:$6$hash:19000:0:99999:7:::\n")
    (folder / "outside_train.py").write_text(OUTSIDE)
    (folder / "requirements.txt").write_text("lightgbm\n")
    return folder


@pytest.mark.parametrize(("yaml", "links", "field", "says"), [
    ("entry: ../elsewhere/outside_train.py\n", {}, "entry", "'../elsewhere/outside_train.py' leads to"),
    ("data: {path: rows.csv, label: y}\n", {"rows.csv": "secret.csv"}, "data.path", "'rows.csv' leads to"),
    ("data: {path: '*.csv', label: y}\n", {"rows.csv": "secret.csv"}, "data.path", "'rows.csv' (matched by"),
    ("data: {path: ../elsewhere/secret.csv, label: y}\n", {}, "data.path", "'../elsewhere/secret.csv' leads"),
    ("data: {path: x.csv, label: y, schema: ../elsewhere/secret.csv}\n", {}, "data.schema", "leads to"),
    ("datasets_cache: ../elsewhere\n", {}, "datasets_cache", "the operator's setting (MLOPS_DATASETS_CACHE)"),
    ("packages: ['--index-url http://example.invalid/simple', lightgbm]\n", {}, "packages", "pip options"),
    ("packages: ['../elsewhere']\n", {}, "packages", "'../elsewhere' leads to"),
    ("paths: {/mycode: data}\n", {"data": "."}, "paths./mycode", "'data' leads to"),
    ("target: 0.5\n", {"requirements.txt": "requirements.txt"}, "requirements.txt", "leads to"),
    ("optuna_storage: sqlite:///../elsewhere/optuna.db\n", {}, "optuna_storage", "(MLOPS_OPTUNA_STORAGE)"),
])
def test_a_path_of_the_push_that_leads_out_of_the_project_is_refused(
        project_factory, outside: Path, yaml: str, links: dict[str, str], field: str, says: str) -> None:
    project = project_factory({"train.py": SCRIPT, "mlops.yaml": yaml}, "project")
    for name, target in links.items():
        os.symlink(outside / target, project / name)
    proc = mlops("run", str(project), env=NO_DOCKER)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    source = project / ("requirements.txt" if field == "requirements.txt" else "mlops.yaml")
    assert proc.stderr.startswith(f"error: {source}: {'' if field == 'requirements.txt' else field + ': '}")
    assert says in proc.stderr and ("a push may only name files inside its project" in proc.stderr
                                    or says == "pip options")
    assert "$6$hash" not in proc.stdout + proc.stderr and not (outside / "was-run").exists()
    assert get_run_store().find_runs() == []


def test_a_training_script_that_is_a_symlink_out_of_the_project_is_not_read(project_factory, outside: Path) -> None:
    project = project_factory({"mlops.yaml": "target: 0.5\n"}, "project")
    os.symlink(outside / "outside_train.py", project / "train.py")
    proc = mlops("run", str(project), env=NO_DOCKER)
    assert proc.returncode == 2 and proc.stderr.startswith("error: train.py leads to "), proc.stderr
    assert not (outside / "was-run").exists()


def test_the_data_validation_stage_refuses_a_symlinked_data_file_before_reading_it(project_factory,
                                                                                    outside: Path) -> None:
    project = project_factory({"mlops.yaml": "data: {path: rows.csv, label: y}\n"}, "project")
    os.symlink(outside / "secret.csv", project / "rows.csv")
    proc = mlops("data", "validate", str(project))
    assert proc.returncode == 2 and "data.path: 'rows.csv' leads to" in proc.stderr
    assert "$6$hash" not in proc.stdout + proc.stderr
