"""Paths a push names resolve inside the project (symlinks followed) before anything reads them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.store import get_run_store
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
@pytest.mark.slow
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


@pytest.mark.slow
def test_a_training_script_that_is_a_symlink_out_of_the_project_is_not_read(project_factory, outside: Path) -> None:
    project = project_factory({"mlops.yaml": "target: 0.5\n"}, "project")
    os.symlink(outside / "outside_train.py", project / "train.py")
    proc = mlops("run", str(project), env=NO_DOCKER)
    assert proc.returncode == 2 and proc.stderr.startswith("error: train.py leads to "), proc.stderr
    assert not (outside / "was-run").exists()


@pytest.mark.slow
def test_the_data_validation_stage_refuses_a_symlinked_data_file_before_reading_it(project_factory,
                                                                                    outside: Path) -> None:
    project = project_factory({"mlops.yaml": "data: {path: rows.csv, label: y}\n"}, "project")
    os.symlink(outside / "secret.csv", project / "rows.csv")
    proc = mlops("data", "validate", str(project))
    assert proc.returncode == 2 and "data.path: 'rows.csv' leads to" in proc.stderr
    assert "$6$hash" not in proc.stdout + proc.stderr


EVIL_SETUP = "import pathlib\npathlib.Path(__file__).with_name('built-on-the-host').write_text('yes')\n" \
             "from setuptools import setup\nsetup(name='evil', version='1.0')\n"


@pytest.mark.parametrize(("files", "field", "line"), [
    ({"requirements.txt": "./evil\n"}, "requirements.txt", "./evil"),
    ({"requirements.txt": "evil @ git+https://example.invalid/evil.git\n"}, "requirements.txt", "evil @ git+"),
    ({"mlops.yaml": "packages: ['evil @ https://example.invalid/evil-1.0.tar.gz']\n"}, "packages", "evil @ https"),
    ({"mlops.yaml": "packages: [./evil]\n"}, "packages", "./evil"),
])
@pytest.mark.slow
def test_a_package_the_push_would_have_built_on_the_host_is_refused(project_factory, files: dict[str, str],
                                                                     field: str, line: str) -> None:
    project = project_factory({"train.py": SCRIPT, "evil/setup.py": EVIL_SETUP, **files}, "project")
    proc = mlops("run", str(project), env={**NO_DOCKER, "JENKINS_TOKEN": "sekrit"})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    source = project / ("requirements.txt" if field == "requirements.txt" else "mlops.yaml")
    assert proc.stderr.startswith(f"error: {source}: {'' if field == 'requirements.txt' else field + ': '}'{line}")
    assert "would be built from source on this machine, outside the trial's sandbox" in proc.stderr
    assert "MLOPS_ALLOW_SOURCE_BUILDS=1" in proc.stderr
    assert not (project / "evil" / "built-on-the-host").exists() and get_run_store().find_runs() == []


@pytest.mark.slow
def test_a_build_the_operator_allows_sees_none_of_the_operators_secrets(tmp_path: Path, monkeypatch) -> None:
    from core.infra.requirements import Packages
    from core.infra.virtualenvs import Virtualenvs

    pkg = tmp_path / "leaky"
    pkg.mkdir()
    # pip passes its own PIP_* settings on to a build: the build writes the names it sees where PIP_LEAK_TO says
    (pkg / "setup.py").write_text("import os, pathlib\npathlib.Path(os.environ['PIP_LEAK_TO']).write_text("
                                  "'\\n'.join(sorted(os.environ)))\nfrom setuptools import setup\n"
                                  "setup(name='leaky', version='1.0')\n")
    seen = tmp_path / "seen.txt"
    monkeypatch.setenv("PIP_LEAK_TO", str(seen))
    monkeypatch.setenv("MLOPS_ALLOW_SOURCE_BUILDS", "1")
    monkeypatch.setenv("JENKINS_TOKEN", "sekrit")
    monkeypatch.setenv("SMTP_PASSWORD", "sekrit")
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "1")  # setuptools from the environment: no index needed
    venvs = Virtualenvs()
    packages = Packages((f"leaky @ file://{pkg}",), source="requirements.txt")
    assert "--only-binary" not in packages.text()  # the operator allowed builds
    venvs.prepare("ml", lambda _: None, packages=packages)
    names = set(seen.read_text().split())
    assert "PATH" in names and "PIP_LEAK_TO" in names
    assert "JENKINS_TOKEN" not in names and "SMTP_PASSWORD" not in names


def test_a_pushs_named_packages_are_installed_from_wheels_only() -> None:
    from core.infra.requirements import Packages

    assert Packages(("lightgbm==4.3",), source="requirements.txt").text() == "lightgbm==4.3\n--only-binary=:all:\n"
