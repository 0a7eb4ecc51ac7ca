"""Warm trials in Docker: forked in one long-lived container per run from a zygote that imported the framework;
each trial still a fresh process with the limits and isolation of a cold container (needs a Docker engine)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.infra.docker_engine import docker_client
from tests.conftest import EXAMPLES
from tests.training.test_warm import CHECKS, CORRUPTS
from training.backends import DockerBackend, TrialSpec
from training.backends._docker_warm import WARM_ROLE

pytestmark = pytest.mark.docker

ISOLATION = """
import json, os, socket
checks = {"uid": os.getuid(), "docker_sock": os.path.exists("/var/run/docker.sock")}
for name, what in (("project_writable", lambda: open("/project/x.txt", "w")),
                   ("network", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))):
    try:
        what()
        checks[name] = True
    except OSError:
        checks[name] = False
print("checks", json.dumps(checks, sort_keys=True))
print("accuracy", 0.5)
"""


@pytest.fixture(scope="module")
def client() -> object:
    found, reason = docker_client()
    if found is None:
        if os.environ.get("MLOPS_REQUIRE_DOCKER") == "1":
            pytest.fail(f"MLOPS_REQUIRE_DOCKER=1 but no Docker engine answers: {reason}")
        pytest.skip(f"no Docker engine answers ({reason})")
    DockerBackend(found).prepare("ml", print)
    return found


@pytest.fixture
def warm(client: object) -> Iterator[DockerBackend]:
    backend = DockerBackend(client, warm=True)
    yield backend
    backend.close()


def warm_containers(client: object, run_folder: Path) -> list:
    return client.containers.list(all=True, filters={"label": [f"mlops.role={WARM_ROLE}",
                                                                f"mlops.run_dir={run_folder.resolve()}"]})


def trial(backend: DockerBackend, project: Path, run_dir: Path, entry: str = "train.py",
          **kw: object) -> tuple[object, list[str]]:
    lines: list[str] = []
    spec = TrialSpec(project=project, entry=entry, run_dir=run_dir, env="ml", **kw)
    return backend.run_trial(spec, lines.append), lines


def test_trials_of_a_run_fork_in_one_container_isolated_from_each_other(warm, client, project_factory,
                                                                       tmp_path) -> None:
    project = project_factory({"corrupt.py": CORRUPTS, "check.py": CHECKS, "isolation.py": ISOLATION})
    run = tmp_path / "run"
    first, _ = trial(warm, project, run / "trial-001", "corrupt.py")
    second, lines = trial(warm, project, run / "trial-002", "check.py")
    third, isolation = trial(warm, project, run / "trial-003", "isolation.py")
    assert [r.status for r in (first, second, third)] == ["ok", "ok", "ok"], (second.error, third.error)
    assert first.where == second.where == third.where and first.where.endswith(", warm)")
    assert "pi 3.141592653589793 get_params True threads 1" in lines  # the first trial's damage died with it
    uid = 10001 if os.getuid() == 0 else os.getuid()
    assert (f'checks {{"docker_sock": false, "network": false, "project_writable": false, "uid": {uid}}}'
            in isolation)
    assert len(warm_containers(client, run)) == 1
    warm.close()
    assert warm_containers(client, run) == []  # the run is over: its warm container is gone


def test_a_warm_trial_gives_the_metric_and_model_of_a_cold_one(warm, client, tmp_path) -> None:
    cold, _ = trial(DockerBackend(client, warm=False), EXAMPLES / "wine-knn-unscaled", tmp_path / "cold" / "t")
    hot, _ = trial(warm, EXAMPLES / "wine-knn-unscaled", tmp_path / "warm" / "t")
    assert not cold.where.endswith("warm)") and hot.where.endswith("warm)")
    assert hot.value == cold.value and hot.metrics == cold.metrics and hot.sources == cold.sources
    assert (tmp_path / "warm" / "t" / "model" / "model.joblib").is_file()


def test_a_warm_trial_over_its_time_limit_is_stopped_and_the_next_one_still_starts_warm(warm, project_factory,
                                                                                       tmp_path) -> None:
    project = project_factory({"slow.py": "import subprocess, time\nsubprocess.Popen(['sleep', '600'])\n"
                                          "print('started', flush=True)\ntime.sleep(600)\n",
                               "quick.py": "print('accuracy', 0.5)\n"})
    start = time.time()
    slow, lines = trial(warm, project, tmp_path / "run" / "t1", "slow.py", time_limit_s=5)
    assert slow.status == "failed" and slow.error_kind == "timeout" and time.time() - start < 30
    assert "started" in lines
    quick, _ = trial(warm, project, tmp_path / "run" / "t2", "quick.py")
    assert quick.status == "ok" and quick.where == slow.where


def test_a_warm_trial_over_its_memory_limit_gets_a_clear_error_and_the_container_lives_on(
        warm, project_factory, tmp_path) -> None:
    project = project_factory({"big.py": "import numpy as np\nblocks = [np.ones(50_000_000) for _ in range(20)]\n"
                                         "print('accuracy', 0.9)\n",
                               "quick.py": "print('accuracy', 0.5)\n"})
    big, _ = trial(warm, project, tmp_path / "run" / "t1", "big.py", memory="400m")
    assert big.status == "failed" and big.error_kind == "out_of_memory", (big.error, big.log_tail)
    assert "ran out of memory (limit 400m)" in big.error
    quick, _ = trial(warm, project, tmp_path / "run" / "t2", "quick.py", memory="400m")
    assert quick.status == "ok" and quick.where == big.where


def test_a_killed_warm_container_is_started_again_and_its_trial_runs_again(warm, client, project_factory,
                                                                           tmp_path) -> None:
    project = project_factory({"train.py": "import time\nprint('started', flush=True)\ntime.sleep(3)\n"
                                           "print('accuracy', 0.5)\n"})
    run = tmp_path / "run"
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "started" and lines.count("started") == 1:
            for container in warm_containers(client, run):
                container.kill()

    result = warm.run_trial(TrialSpec(project=project, entry="train.py", run_dir=run / "t1", env="ml", restarts=1),
                            on_line)
    assert result.status == "ok" and result.restarts == 1, (result.error, lines)
    assert any("starting it again (1/1)" in line for line in lines)
    assert lines.count("started") == 2 and result.where.endswith(", warm)")
