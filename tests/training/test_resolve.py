"""What a pushed script reaches beyond its folder, decided before its first trial: absolute paths that stand for
project files, and the repository around the project."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from training.analysis import Finding, analyze
from training.detect import detect
from training.resolve import map_absolute_paths, project_reach, repository_tree


def literals(source: str, file: str = "train.py") -> list[tuple[str, Finding]]:
    return [(file, f) for f in analyze(source).absolute_paths]


def git_repo(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


IN_A_REPOSITORY = """
import os
import pandas as pd
from sklearn.tree import DecisionTreeClassifier
iris = pd.read_csv('../Dataset/iris.csv')
extra = pd.read_csv('/mycode/more.csv')
model = DecisionTreeClassifier(random_state=0).fit(iris[['a', 'b']], iris['y'])
open('../Dataset/written.csv', 'w').write('x')
print('accuracy', model.score(extra[['a', 'b']], extra['y']))
print('cwd', os.path.basename(os.getcwd()))
"""


def book_repository(root: Path) -> Path:
    """A repository as a book's code comes: ``Chap4/train.py`` reads ``../Dataset/iris.csv`` and ``/mycode/more.csv``
    (its own folder), and writes ``../Dataset/written.csv``; returns the project folder ``Chap4``."""
    repo = git_repo(root)
    (repo / "Chap4").mkdir()
    (repo / "Dataset").mkdir()
    (repo / "Dataset" / "iris.csv").write_text("a,b,y\n1,2,0\n3,4,1\n1,2,0\n3,4,1\n")
    (repo / "Chap4" / "more.csv").write_text("a,b,y\n1,2,0\n3,4,1\n")
    (repo / "Chap4" / "train.py").write_text(IN_A_REPOSITORY)
    return repo / "Chap4"


def test_the_analysis_sees_absolute_path_literals_and_not_urls_or_relative_ones() -> None:
    source = ("import pandas as pd\ndf = pd.read_csv('/mycode/wines.csv')\nurl = 'https://x.org/a.csv'\n"
              "rel = pd.read_csv('data/x.csv')\nroot = '/'\nsep = '//'\nmsg = 'see /etc/x\\nand more'\n"
              "other = pd.read_csv(\"/dataset/lung_cancer_examples.csv\")\n")
    assert [(f.line, f.what) for f in analyze(source).absolute_paths] == [
        (2, "/mycode/wines.csv"), (8, "/dataset/lung_cancer_examples.csv")]


def test_a_path_whose_tail_is_a_project_file_maps_its_prefix_onto_the_project(tmp_path: Path) -> None:
    (tmp_path / "wines.csv").write_text("a\n1\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "lung.csv").write_text("a\n1\n")
    found = map_absolute_paths(tmp_path, literals(
        "a = '/mycode/wines.csv'\nb = '/dataset/lung.csv'\nc = '/home/ann/proj/data/lung.csv'\n"
        "d = '/nowhere/missing.csv'\ne = '/usr/share/lung.csv'\n"), {})
    assert [(m.prefix, m.folder) for m in found] == [("/mycode", "."), ("/dataset", "data"), ("/home/ann/proj", ".")]
    assert found[0].sentence() == ("train.py:1 reads /mycode/wines.csv: /mycode is mapped onto the project folder "
                                   "(read-only; paths: in mlops.yaml overrides)")


def test_paths_in_mlops_yaml_override_what_the_code_asks_for(tmp_path: Path) -> None:
    (tmp_path / "wines.csv").write_text("a\n1\n")
    assert map_absolute_paths(tmp_path, literals("a = '/mycode/wines.csv'\n"), {"/mycode": "data"}) == []
    reach = project_reach(tmp_path, literals("a = '/mycode/wines.csv'\nb = '/in/wines.csv'\n"), {"/mycode": "."})
    assert reach.paths == {"/in": ".", "/mycode": "."} and len(reach.lines) == 1


def test_detection_collects_the_literals_of_the_module_closure(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import pandas as pd\nimport helpers\nfrom sklearn.svm import SVC\n"
                                       "SVC().fit(helpers.load(), [0])\n")
    (tmp_path / "helpers.py").write_text("import pandas as pd\n\ndef load():\n    return pd.read_csv('/data/x.csv')\n")
    found = detect(tmp_path).absolute_paths
    assert [(e.file, e.line, e.what) for e in found] == [("helpers.py", 4, "/data/x.csv")]


def test_the_repository_around_a_project_folder_is_its_tree(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    (repo / "Chap4").mkdir()
    assert repository_tree(repo / "Chap4").root == repo.resolve()
    assert repository_tree(repo).root is None  # the project is the repository: nothing more to see
    assert repository_tree(tmp_path).root is None  # not in a checkout


def test_a_repository_that_would_expose_the_host_is_refused_in_one_line(tmp_path: Path) -> None:
    home = git_repo(tmp_path / "home")
    (home / "proj").mkdir()
    tree = repository_tree(home / "proj", home=home)
    assert tree.root is None and "the home folder" in tree.refused and "\n" not in tree.refused
    repo = git_repo(tmp_path / "repo")
    (repo / "proj").mkdir()
    held = repository_tree(repo / "proj", home=home, keep_out=(repo / ".mlops",))
    assert held.root is None and ".mlops" in held.refused




@pytest.mark.usefixtures("ml_env")
def test_a_local_trial_of_a_project_inside_a_repository_works_in_its_folder(tmp_path: Path) -> None:
    from training.backends import LocalBackend, TrialSpec

    project = book_repository(tmp_path / "book")
    repo = project.parent
    lines: list[str] = []
    spec = TrialSpec(project=repo / "Chap4", entry="train.py", run_dir=tmp_path / "run", env="ml",
                     tree=repository_tree(repo / "Chap4").root, paths={"/mycode": "."})
    result = LocalBackend(warm=False).run_trial(spec, lines.append)
    assert result.status == "ok" and result.value == 1.0, (result.error, result.log_tail)
    assert "cwd Chap4" in lines
    assert not (repo / "Dataset" / "written.csv").exists()  # the write went to the trial's work folder
    assert (tmp_path / "run" / "work" / "Dataset" / "written.csv").read_text() == "x"
