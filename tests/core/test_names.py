"""Project and alias names are slugs wherever they enter: mlops.yaml, a folder's name, the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UsageError
from core.names import check_name, default_name
from core.records import ModelVersion
from core.registry import Registry
from core.store import get_run_store
from tests.conftest import mlops

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent.sock"}
SCRIPT = "from sklearn.svm import SVC\nprint('accuracy', 0.9)\n"


@pytest.mark.parametrize("name", ["../../escaped", "a\r\nBcc: evil@example.com", ".hidden", "a/b", "x" * 65, ""])
@pytest.mark.slow
def test_a_name_in_mlops_yaml_that_is_not_a_slug_is_refused_in_one_line(project_factory, mlops_home: Path,
                                                                          name: str) -> None:
    project = project_factory({"train.py": SCRIPT, "mlops.yaml": f"name: {json.dumps(name)}\n"})
    proc = mlops("run", str(project), env=NO_DOCKER)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: {project / 'mlops.yaml'}: name: ") and proc.stderr.count("\n") == 1
    assert "\r" not in proc.stderr and "Bcc" not in proc.stdout
    assert get_run_store().find_runs() == [] and not (mlops_home.parent / "escaped").exists()


def test_a_folder_name_becomes_a_slug_or_is_refused() -> None:
    assert default_name("my repo") == "my-repo" and default_name("wine-sklearn") == "wine-sklearn"
    assert default_name("models.git..old") == "models.git.old" and default_name("été 2024") == "t-2024"
    with pytest.raises(UsageError, match=r"makes no valid project name; give one with .name:. in mlops\.yaml"):
        default_name("@@@")


@pytest.mark.slow
def test_an_alias_or_project_on_the_command_line_that_is_not_a_slug_is_refused(tmp_path: Path) -> None:
    registry = Registry(get_run_store())
    model = tmp_path / "model.joblib"
    model.write_bytes(b"a model")
    registry.register(ModelVersion(project="wine2", format="joblib"), model)
    proc = mlops("promote", "wine2", "1", "--to", "../../x")
    assert proc.returncode == 2 and proc.stderr.startswith("error: --to: '../../x' is not a valid name")
    assert registry.aliases("wine2") == {}
    proc = mlops("models", "../wine2")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a valid name" in proc.stderr
    with pytest.raises(UsageError):
        registry.folder("../../escaped", 1)  # the registry refuses too: no path is built from a bad name
    with pytest.raises(UsageError):
        registry.promote("wine2", 1, alias="a\nb")
    assert check_name("wine-sklearn_2.0") == "wine-sklearn_2.0"
