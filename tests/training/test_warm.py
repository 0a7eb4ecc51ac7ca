"""Warm trials: forked from a zygote that imported the framework, each still a fresh process, with the results
of a cold start."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from training.backends import LocalBackend, TrialSpec

CORRUPTS = """
import threading, time
import numpy as np
import sklearn.base
from sklearn.neighbors import KNeighborsClassifier
np.pi = 3.0                                   # a module corrupted
sklearn.base.BaseEstimator.get_params = None  # a class corrupted
threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()  # a thread leaked
print("accuracy", 0.5)
"""

CHECKS = """
import threading
import numpy as np
import sklearn.base
print("pi", np.pi, "get_params", sklearn.base.BaseEstimator.get_params is not None,
      "threads", threading.active_count())
print("accuracy", 0.5)
"""


def trial(project: Path, run_dir: Path, env: str = "ml", warm: bool = True) -> tuple[object, list[str]]:
    lines: list[str] = []
    spec = TrialSpec(project=project, entry="train.py", run_dir=run_dir, env=env)
    return LocalBackend(warm=warm).run_trial(spec, lines.append), lines


@pytest.mark.usefixtures("ml_env")
def test_a_trial_that_corrupts_modules_or_leaks_a_thread_never_reaches_the_next(project_factory, tmp_path) -> None:
    bad = project_factory({"train.py": CORRUPTS})
    good = project_factory({"train.py": CHECKS})
    first, _ = trial(bad, tmp_path / "1")
    second, lines = trial(good, tmp_path / "2")
    assert first.status == "ok" and first.where.endswith("(warm)")
    assert second.status == "ok" and second.where.endswith("(warm)")
    assert "pi 3.141592653589793 get_params True threads 1" in lines


@pytest.mark.usefixtures("ml_env")
def test_a_warm_trial_gives_the_metric_and_model_of_a_cold_one(tmp_path) -> None:
    cold, _ = trial(EXAMPLES / "wine-knn-unscaled", tmp_path / "cold", warm=False)
    warm, _ = trial(EXAMPLES / "wine-knn-unscaled", tmp_path / "warm")
    assert not cold.where.endswith("(warm)") and warm.where.endswith("(warm)")
    assert warm.value == cold.value and warm.metrics == cold.metrics and warm.sources == cold.sources
    assert (tmp_path / "warm" / "model" / "model.joblib").is_file()


@pytest.mark.usefixtures("ml_env")
def test_a_warm_trial_is_killed_with_everything_it_started(project_factory, tmp_path) -> None:
    import time

    p = project_factory({"train.py": "import subprocess, time\nimport sklearn\n"
                                     "subprocess.Popen(['sleep', '600'])\nprint('started', flush=True)\n"
                                     "time.sleep(600)\n"})
    start = time.time()
    lines: list[str] = []
    spec = TrialSpec(project=p, entry="train.py", run_dir=tmp_path / "run", env="ml", time_limit_s=5)
    result = LocalBackend(warm=True).run_trial(spec, lines.append)
    assert result.status == "failed" and result.error_kind == "timeout" and time.time() - start < 30
    assert "started" in lines


@pytest.mark.slow
@pytest.mark.usefixtures("dl_env")
def test_a_warm_keras_trial_gives_the_same_metric_as_a_cold_one(tmp_path) -> None:
    cold, _ = trial(EXAMPLES / "digits-cnn", tmp_path / "cold", env="dl", warm=False)
    warm, _ = trial(EXAMPLES / "digits-cnn", tmp_path / "warm", env="dl")
    assert warm.where.endswith("(warm)") and cold.status == warm.status == "ok"
    assert warm.value == cold.value and warm.history == cold.history
