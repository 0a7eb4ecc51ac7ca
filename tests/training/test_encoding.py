"""Scripts in another encoding than UTF-8 (PEP 263) go through detection, tweaks and the harness unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import harness, mlops
from training.detect import detect, load_source
from training.harness.source import write_source
from training.tweaks import apply_config

LATIN1 = """# -*- coding: latin-1 -*-
# Modèle de référence : forêt aléatoire sur les vins.
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
model = KNeighborsClassifier(n_neighbors=3)
model.fit(X_train, y_train)
print("précision obtenue", model.score(X_test, y_test))
"""


def latin1_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "train.py").write_bytes(LATIN1.encode("latin-1"))
    return folder


def test_a_latin1_script_is_detected_tweaked_and_written_back_in_latin1(tmp_path: Path) -> None:
    project = latin1_project(tmp_path / "vins")
    detection = detect(project)
    assert (detection.framework, detection.kind, detection.entry) == ("sklearn", "ml", "train.py")
    source = load_source(project / "train.py")
    assert "forêt aléatoire" in source
    tweaked = apply_config(source, {"scale": True})
    assert tweaked.applied and "forêt aléatoire" in tweaked.source
    write_source(tmp_path / "tweaked.py", tweaked.source)
    data = (tmp_path / "tweaked.py").read_bytes()
    assert "forêt".encode("latin-1") in data and "forêt".encode() not in data  # the same bytes as pushed


@pytest.mark.slow
def test_an_undecodable_script_gets_one_line_naming_the_file_and_the_byte(tmp_path: Path) -> None:
    project = tmp_path / "broken"
    project.mkdir()
    (project / "train.py").write_bytes(b"from sklearn.svm import SVC\n# caf\xe9\nprint('accuracy', 0.9)\n")
    proc = mlops("run", str(project), env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: train.py: byte 33 (0xe9) cannot be decoded as utf-8; save the file as "
                                  "UTF-8 or declare its encoding")


@pytest.mark.slow
@pytest.mark.usefixtures("ml_env")
def test_the_harness_runs_a_latin1_script_and_its_rewrite(tmp_path: Path) -> None:
    project = latin1_project(tmp_path / "vins")
    code, metrics, output = harness(project, "ml")
    assert code == 0 and metrics["metrics"]["accuracy"] > 0.6, output
    rewritten = tmp_path / "rewritten.py"
    write_source(rewritten, apply_config(load_source(project / "train.py"), {"scale": True}).source)
    code, scaled, output = harness(project, "ml", script=rewritten)
    assert code == 0 and scaled["metrics"]["accuracy"] > metrics["metrics"]["accuracy"], output
    assert (project / "train.py").read_bytes() == LATIN1.encode("latin-1")
