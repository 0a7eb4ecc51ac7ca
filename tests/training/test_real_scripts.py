"""Scripts as people push them to their MLOps repositories (`tests/training/realscripts_corpus/`), through the real
``mlops run`` with no mlops.yaml: data named by absolute paths of the seed jobs' containers (``/mycode/...``,
``/dataset/...``), a chapter folder reading ``../Dataset`` of its repository, seaborn imported for plots, TensorFlow 1
calls of Keras 2 scripts, Keras 2 module paths. Each runs unchanged to its metric, or is refused in its one trial
with a reason.

Each project's ``DATA`` file names the data it reads (written by the test: sklearn's iris, the wine example's CSV,
a made-up lung cancer table), relative to the project folder.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, mlops

CORPUS = Path(__file__).parent / "realscripts_corpus"
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

#: Project -> (what its one trial ends as, what the console or the error says).
EXPECTED = {
    "01_mycode_wines": ("ok", "train.py:7 reads /mycode/wines.csv: /mycode is mapped onto the project folder"),
    "02_dataset_lung_cancer": ("ok", "reads /dataset/lung_cancer_examples.csv: /dataset is mapped onto the project "
                                     "folder"),
    "03_chap4_parent_dataset": ("ok", "the project is the folder Chap4/ of the repository"),
    "04_seaborn_plots": ("ok", "installed for the script's imports, from PyPI wheels into the project's ml layer: "
                               "seaborn=="),
    "05_keras2_set_random_seed": ("ok", "tf.set_random_seed"),
    "06_keras2_session_threads": ("ok", "K.set_session"),
    "07_keras2_vis_utils": ("ok", "import keras.utils.vis_utils"),
    "08_tf1_graph_mode_loop": ("failed", "train.py:10: tf.placeholder() is TensorFlow 1 graph mode (placeholders, "
                                         "sess.run), which TensorFlow 2 does not run"),
    "09_sklearn_externals_joblib": ("failed", "train.py:3 imports joblib from sklearn.externals, which the installed "
                                              "sklearn 1.9.1 does not have"),
    "10_absolute_path_elsewhere": ("failed", "train.py:6 raised FileNotFoundError: /data/raw/creditcard.csv does not "
                                             "exist in the trial"),
    "11_mycode_data_folder": ("ok", "/mycode is mapped onto the project folder"),
    "12_keras2_engine_saving": ("failed", "train.py:3 imports keras.engine.saving, which the installed keras "
                                          "(tf_keras 2.21.0) does not have"),
}
KERAS = {"05_keras2_set_random_seed", "06_keras2_session_threads", "07_keras2_vis_utils", "08_tf1_graph_mode_loop",
         "12_keras2_engine_saving"}
#: The shims each Keras 2 script's trial lists (among others).
SHIMS = {
    "05_keras2_set_random_seed": {"keras -> tf_keras", "tf.set_random_seed"},
    "06_keras2_session_threads": {"tf.logging", "tf.ConfigProto", "tf.set_random_seed", "tf.get_default_graph",
                                  "tf.Session", "K.set_session", "tf.global_variables_initializer"},
    "07_keras2_vis_utils": {"import keras.utils.vis_utils", "import keras.utils.np_utils", "plot_model without pydot"},
}


def write_data(name: str, project: Path) -> None:
    """The files a project's ``DATA`` names, at those paths relative to the project."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_iris

    for rel in (CORPUS / name / "DATA").read_text().split():
        target = (project / rel).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.name == "iris.csv":
            load_iris(as_frame=True).frame.to_csv(target, index=False)
        elif target.name == "wines.csv":
            target.write_bytes(gzip.decompress((EXAMPLES / "wine-sklearn" / "wines.csv.gz").read_bytes()))
        elif target.name == "lung_cancer_examples.csv":
            rng = np.random.default_rng(0)
            smokes, alcohol = rng.integers(0, 35, 120), rng.integers(0, 8, 120)
            frame = pd.DataFrame({"Age": rng.integers(18, 80, 120), "Smokes": smokes,
                                  "AreaQ": rng.integers(1, 10, 120), "Alkhol": alcohol})
            frame["Result"] = (smokes + 3 * alcohol > 25).astype(int)
            frame.to_csv(target, index=False)


def corpus_project(name: str, folder: Path) -> Path:
    """A copy of a corpus project with its data; ``03``'s is a folder of a git repository, as pushed."""
    source = CORPUS / name
    if (source / "Chap4").is_dir():
        repo = folder / "book"
        shutil.copytree(source, repo, ignore=shutil.ignore_patterns("DATA"))
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        project = repo / "Chap4"
    else:
        project = folder / name
        shutil.copytree(source, project, ignore=shutil.ignore_patterns("DATA"))
    write_data(name, project)
    return project


def run_corpus_project(name: str, tmp_path: Path) -> tuple[dict, str]:
    project = corpus_project(name, tmp_path)
    proc = mlops("run", str(project), "--json", "--no-notify", "--max-trials", "1", "--target", "0.5",
                 env=NO_DOCKER, timeout=900)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout), proc.stderr


def check(name: str, summary: dict, console: str) -> None:
    status, said = EXPECTED[name]
    [trial] = summary["trials"]
    assert trial["status"] == status, (trial["error"], console[-3000:])
    if status == "ok":
        assert trial["value"] is not None and summary["value"] is not None
    shims = []
    if summary.get("run_id"):
        from core.store import get_run_store

        shims = [s for t in get_run_store().trials(summary["run_id"]) for s in t.shims]
    assert said in console or said in (trial["error"] or "") or said in shims, (said, console[-3000:])


@pytest.mark.usefixtures("ml_env")
@pytest.mark.parametrize("name", sorted(set(EXPECTED) - KERAS - {"04_seaborn_plots"}))
def test_a_scikit_learn_script_as_pushed_runs_or_is_refused_in_one_trial(name: str, tmp_path: Path) -> None:
    summary, console = run_corpus_project(name, tmp_path)
    check(name, summary, console)
    if name.startswith(("01_", "02_", "11_")):
        report = Path(summary["report"]).read_text()
        assert "Resolved for the script" in report and "is mapped onto the project" in report


@pytest.mark.slow
@pytest.mark.usefixtures("dl_env")
@pytest.mark.parametrize("name", sorted(KERAS))
def test_a_keras2_script_with_tensorflow1_calls_runs_or_is_refused_in_one_trial(name: str, tmp_path: Path) -> None:
    summary, console = run_corpus_project(name, tmp_path)
    check(name, summary, console)
    if name in SHIMS:
        from core.store import get_run_store

        [trial] = get_run_store().trials(summary["run_id"])
        assert SHIMS[name] <= set(trial.shims), trial.shims


@pytest.mark.slow
@pytest.mark.usefixtures("ml_env")
def test_seaborn_imported_for_plots_installs_itself_pinned_in_the_run_record(tmp_path: Path) -> None:
    from core.store import get_run_store

    summary, console = run_corpus_project("04_seaborn_plots", tmp_path)
    check("04_seaborn_plots", summary, console)
    run = get_run_store().get_run(summary["run_id"])
    [pin] = run.auto_packages
    assert pin.startswith("seaborn==") and any(pin in line for line in run.resolved)
    assert pin in Path(summary["report"]).read_text()
