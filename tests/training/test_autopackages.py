"""Which of a script's imports install themselves: the decision before any download (the download itself is in
``test_real_scripts.py``, seaborn through the real ``mlops run``)."""

from __future__ import annotations

import os

import pytest

from core.infra.requirements import Packages
from training.autopackages import resolve_imports
from training.harness.pip_names import pip_name


def test_the_import_name_becomes_its_distribution_name() -> None:
    assert [pip_name(m) for m in ("cv2", "sklearn.svm", "PIL", "yaml", "bs4", "seaborn", "google.protobuf")] == [
        "opencv-python-headless", "scikit-learn", "pillow", "pyyaml", "beautifulsoup4", "seaborn", "protobuf"]


def test_what_the_project_asks_for_or_the_harness_serves_is_not_added() -> None:
    asked = Packages(("seaborn>=0.12",), source="requirements.txt")
    auto = resolve_imports([("seaborn", "train.py:3"), ("training", "train.py:4"),
                            ("keras_preprocessing", "train.py:5"), ("pandas", "train.py:1")],
                           ["seaborn", "training", "keras_preprocessing"], "ml", asked)
    assert (auto.pins, auto.left) == ([], [])


def test_a_framework_of_its_own_is_never_installed_silently() -> None:
    auto = resolve_imports([("torch", "train.py:2"), ("tensorflow", "train.py:3")], ["torch", "tensorflow"], "ml",
                           Packages())
    assert auto.pins == []
    assert [(where, name) for where, name, _ in auto.left] == [("train.py:2", "torch"), ("train.py:3", "tensorflow")]
    assert auto.lines("ml")[0] == ("train.py:2 imports torch, which the ml environment lacks: torch is not installed "
                                   "automatically (a framework of its own, or one the image decides); add it to "
                                   "requirements.txt")


def test_pinned_packages_install_from_wheels_only(monkeypatch) -> None:
    monkeypatch.delenv("MLOPS_ALLOW_SOURCE_BUILDS", raising=False)
    packages = Packages(("requests",), source="requirements.txt").with_auto(["seaborn==0.13.2"])
    assert packages.text() == "requests\nseaborn==0.13.2\n--only-binary=:all:\n"
    monkeypatch.setenv("MLOPS_ALLOW_SOURCE_BUILDS", "1")  # the operator allows builds: the pins stay wheels-only
    assert packages.text() == "requests\nseaborn==0.13.2\n--only-binary=seaborn\n"
    assert Packages().with_auto(["seaborn==0.13.2"]).text() == "seaborn==0.13.2\n--only-binary=seaborn\n"
    assert packages.digest() != Packages(("requests",)).digest()


@pytest.mark.slow
def test_pypi_not_answering_decides_nothing_and_is_not_remembered(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLOPS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no local mirror of this machine's pip configuration
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    monkeypatch.setenv("PIP_RETRIES", "1")
    auto = resolve_imports([("seaborn", "train.py:3")], ["seaborn"], "ml", Packages())
    assert auto.pins == []
    [(where, name, why)] = auto.left
    assert (where, name) == ("train.py:3", "seaborn") and why.startswith("PyPI could not be asked for seaborn")
    assert not list((tmp_path / "cache").rglob("*.json"))  # the next run asks again


@pytest.mark.usefixtures("ml_env")
def test_the_environment_says_which_imports_it_lacks() -> None:
    from training.backends import LocalBackend

    assert LocalBackend().missing_modules("ml", ["pandas", "seaborn", "sklearn", "cv2"]) == ["seaborn", "cv2"]
