"""Trials in real containers: images, isolation, limits and failures (needs a Docker engine)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from core.infra.docker_engine import docker_client
from core.infra.images import Images
from tests.conftest import EXAMPLES, mlops
from tests.training.test_resolve import book_repository
from training.backends import DockerBackend, TrialSpec


@pytest.fixture(scope="module")
def docker_backend() -> DockerBackend:
    client, reason = docker_client()
    if client is None:
        if os.environ.get("MLOPS_REQUIRE_DOCKER") == "1":
            pytest.fail(f"MLOPS_REQUIRE_DOCKER=1 but no Docker engine answers: {reason}")
        pytest.skip(f"no Docker engine answers ({reason}); start one with scripts/start-dockerd")
    return DockerBackend(client, warm=False)  # a container per trial (warm ones: test_docker_warm.py)


@pytest.fixture(scope="module")
def ml_image(docker_backend: DockerBackend) -> str:
    return docker_backend.prepare("ml", print)


def spec(project: Path, run_dir: Path, env: str = "ml", **kw) -> TrialSpec:
    return TrialSpec(project=project, entry=kw.pop("entry", "train.py"), run_dir=run_dir, env=env, **kw)


pytestmark = pytest.mark.docker


def test_both_images_build_once_and_are_reused(docker_backend: DockerBackend, ml_image: str) -> None:
    tag = Images(docker_backend.client).trial_tag("dl")
    assert docker_backend.prepare("ml", print).endswith("(cached)")
    assert docker_backend.prepare("dl", print).startswith(f"image {tag}")
    image = docker_backend.client.images.get(tag)
    assert image.attrs["Config"]["User"] == "10001" and image.labels["mlops.env"] == "dl"


def test_changing_training_code_does_not_change_the_image_tag(tmp_path: Path, monkeypatch) -> None:
    images = Images(client=None)
    before = images.trial_tag("ml")
    (tmp_path / "train.py").write_text("print(1)\n")
    assert images.trial_tag("ml") == before
    monkeypatch.setenv("MLOPS_BASE_IMAGE", "other:1")
    assert images.trial_tag("ml") != before


@pytest.mark.usefixtures("ml_image")
def test_the_sklearn_example_trains_in_its_image(docker_backend: DockerBackend, tmp_path: Path) -> None:
    lines: list[str] = []
    result = docker_backend.run_trial(spec(EXAMPLES / "wine-sklearn", tmp_path / "run"), lines.append)
    assert result.status == "ok" and result.value >= 0.9, result.error
    assert any(line.startswith("Accuracy:") for line in lines)  # streamed as it came
    assert (tmp_path / "run" / "model" / "model.joblib").is_file()
    assert result.where.startswith("docker mlops-ml:")


@pytest.mark.slow
def test_the_keras_example_trains_in_its_image(docker_backend: DockerBackend, tmp_path: Path) -> None:
    docker_backend.prepare("dl", print)
    result = docker_backend.run_trial(spec(EXAMPLES / "digits-cnn", tmp_path / "run", env="dl"), lambda _: None)
    assert result.status == "ok" and result.value >= 0.9, (result.error, result.log_tail)
    assert (tmp_path / "run" / "model" / "model.keras").is_file()


ISOLATION = """
import json, os, socket
checks = {"uid": os.getuid(), "docker_sock": os.path.exists("/var/run/docker.sock")}
try:
    open("/project/x.txt", "w")
    checks["project_writable"] = True
except OSError:
    checks["project_writable"] = False
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    checks["network"] = True
except OSError:
    checks["network"] = False
json.dump(checks, open("checks.json", "w"))
print("accuracy", 0.5)
"""


@pytest.mark.usefixtures("ml_image")
def test_the_container_is_non_root_read_only_offline_and_without_the_docker_socket(
        docker_backend: DockerBackend, project_factory, tmp_path: Path) -> None:
    p = project_factory({"train.py": ISOLATION})
    result = docker_backend.run_trial(spec(p, tmp_path / "run"), lambda _: None)
    assert result.status == "ok", result.error
    checks = json.loads((tmp_path / "run" / "work" / "checks.json").read_text())
    assert checks == {"uid": 10001 if os.getuid() == 0 else os.getuid(), "docker_sock": False,
                      "project_writable": False, "network": False}




@pytest.mark.usefixtures("ml_image")
def test_a_project_inside_a_repository_sees_it_read_only_working_in_its_folder(
        docker_backend: DockerBackend, tmp_path: Path) -> None:
    repo = book_repository(tmp_path / "book").parent
    lines: list[str] = []
    owner = os.stat(os.getcwd()).st_uid
    result = docker_backend.run_trial(spec(repo / "Chap4", tmp_path / "run", tree=repo, paths={"/mycode": "."}),
                                      lines.append)
    assert result.status == "ok" and result.value == 1.0, (result.error, result.log_tail)
    assert os.stat(os.getcwd()).st_uid == owner  # only the trial's own folders change hands
    assert "cwd Chap4" in lines
    assert not (repo / "Dataset" / "written.csv").exists()  # the write went to the trial's work folder
    assert (tmp_path / "run" / "work" / "Dataset" / "written.csv").read_text() == "x"


@pytest.mark.usefixtures("ml_image")
def test_the_image_says_which_imports_it_lacks(docker_backend: DockerBackend) -> None:
    assert docker_backend.missing_modules("ml", ["pandas", "seaborn", "sklearn", "cv2"]) == ["seaborn", "cv2"]


@pytest.mark.usefixtures("ml_image")
def test_a_trial_over_its_memory_limit_gets_a_clear_error(docker_backend: DockerBackend, project_factory,
                                                         tmp_path: Path) -> None:
    p = project_factory({"train.py": "import numpy as np\nblocks = [np.ones(50_000_000) for _ in range(20)]\n"
                                     "print(0.9)\n"})
    result = docker_backend.run_trial(spec(p, tmp_path / "run", memory="200m"), lambda _: None)
    assert result.status == "failed" and result.error_kind == "out_of_memory"
    assert "ran out of memory (limit 200m)" in result.error


CGROUP_LIMITS = """
import os, sklearn
def first(*paths):
    for path in paths:  # cgroup v2, then v1
        try:
            return open(path).read().split()[0]
        except OSError:
            continue
print("limits", os.environ["MLOPS_CPUS"], first("/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
      first("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"))
print("accuracy 0.9")
"""


@pytest.mark.usefixtures("ml_image")
def test_more_cpus_and_memory_than_the_engine_has_are_bounded_by_it(docker_backend: DockerBackend, project_factory,
                                                                    tmp_path: Path) -> None:
    p = project_factory({"train.py": CGROUP_LIMITS})
    lines: list[str] = []
    result = docker_backend.run_trial(spec(p, tmp_path / "run", cpus=100000, memory="99999999g"), lines.append)
    assert result.status == "ok", result.error
    info = docker_backend.client.info()
    most = docker_backend.capacity()
    assert (most.cpus, most.memory) == (info["NCPU"], info["MemTotal"])
    [(cpus, quota, memory)] = [tuple(line.split()[1:]) for line in lines if line.startswith("limits ")]
    assert int(cpus) == info["NCPU"] and int(quota) == info["NCPU"] * 100_000
    assert int(memory) == info["MemTotal"] // 1024**2 * 1024**2


@pytest.mark.usefixtures("ml_image")
def test_a_trial_over_its_time_limit_is_stopped(docker_backend: DockerBackend, project_factory,
                                               tmp_path: Path) -> None:
    p = project_factory({"train.py": "import time\nprint('working', flush=True)\ntime.sleep(300)\n"})
    start = time.time()
    result = docker_backend.run_trial(spec(p, tmp_path / "run", time_limit_s=6), lambda _: None)
    assert time.time() - start < 40
    assert result.status == "failed" and result.error_kind == "timeout" and "time limit of 6s" in result.error
    assert not docker_backend.client.containers.list(all=True, filters={"label": f"mlops.run_dir={tmp_path / 'run'}"})


@pytest.mark.usefixtures("ml_image")
def test_a_killed_container_is_a_failed_trial(docker_backend: DockerBackend, project_factory, tmp_path: Path) -> None:
    p = project_factory({"train.py": "import time\nprint('started', flush=True)\ntime.sleep(120)\nprint(0.9)\n"})
    run_dir = tmp_path / "run"
    started = threading.Event()

    def on_line(line: str) -> None:
        if "started" in line:
            started.set()

    def killer() -> None:
        started.wait(60)
        for c in docker_backend.client.containers.list(filters={"label": f"mlops.run_dir={run_dir}"}):
            c.kill()

    threading.Thread(target=killer, daemon=True).start()
    result = docker_backend.run_trial(spec(p, run_dir, restarts=0), on_line)
    assert started.is_set()
    assert result.status == "failed" and result.error_kind == "killed" and "exit code 137" in result.error


SLOW_FIT = """
import time
import numpy as np
import keras
rng = np.random.default_rng(0)
X = rng.normal(size=(400, 4)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                      keras.layers.Dense(1, activation="sigmoid")])
m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
class Slow(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.7)
m.fit(X, y, epochs=10, validation_split=0.2, verbose=0, callbacks=[Slow()])
m.evaluate(X, y, verbose=0)
"""


@pytest.mark.slow
def test_a_killed_training_container_comes_back_and_resumes_from_its_checkpoint(
        docker_backend: DockerBackend, project_factory, tmp_path: Path) -> None:
    docker_backend.prepare("dl", print)
    p = project_factory({"train.py": SLOW_FIT})
    run_dir = tmp_path / "run"
    state = run_dir / "checkpoint" / "fit-1" / "state.json"
    lines: list[str] = []

    def killer() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            if state.exists() and json.loads(state.read_text())["epoch"] >= 3:
                for c in docker_backend.client.containers.list(filters={"label": f"mlops.run_dir={run_dir}"}):
                    c.kill()
                return
            time.sleep(0.2)

    threading.Thread(target=killer, daemon=True).start()
    result = docker_backend.run_trial(spec(p, run_dir, env="dl", restarts=2), lines.append)
    assert result.status == "ok", (result.error, result.log_tail)
    assert result.restarts == 1 and result.resumed_from_epoch and result.resumed_from_epoch[0] >= 4
    assert len(result.history["loss"]) == 10  # the epochs before the kill are kept, none is trained twice
    assert any("starting it again (1/2)" in line for line in lines)
    assert any("resuming fit at epoch" in line for line in lines)


@pytest.mark.usefixtures("ml_image")
def test_auto_backend_says_it_chose_docker() -> None:
    proc = mlops("run", str(EXAMPLES / "wine-sklearn"), "--json", "--no-notify")
    assert proc.returncode == 0, proc.stderr
    assert "Docker, because an engine answers" in proc.stderr
    assert json.loads(proc.stdout)["backend"] == "docker"


@pytest.mark.usefixtures("ml_image", "ml_env")
def test_an_engine_that_cannot_build_falls_back_to_local_in_auto_and_fails_hard_in_docker_mode() -> None:
    env = {"MLOPS_BASE_IMAGE": "mlops-no-such-base:0"}  # the engine answers, the base image cannot be pulled
    proc = mlops("run", str(EXAMPLES / "wine-sklearn"), "--json", "--no-notify", env=env)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "the Docker image could not be built" in warnings[0]
    assert "scripts/bootstrap-base-image" in warnings[0] and "MLOPS_BASE_IMAGE" in warnings[0]
    assert json.loads(proc.stdout)["backend"] == "local"
    assert "gate: serving model v1 in a local process" in proc.stderr  # served where it trained: no second build
    hard = mlops("run", str(EXAMPLES / "wine-sklearn"), "--no-notify", "--backend", "docker", env=env)
    assert hard.returncode == 1 and hard.stderr.startswith("error: building mlops-ml:")


SEED_IN_DOCKER = """
import seaborn
import pandas as pd
from sklearn.neighbors import KNeighborsClassifier
df = pd.read_csv("/mycode/wines.csv.gz")
model = KNeighborsClassifier(n_neighbors=3).fit(df.drop(columns=["Class"]), df["Class"])
print("seaborn", seaborn.__version__)
print("accuracy", model.score(df.drop(columns=["Class"]), df["Class"]))
open("/mycode/accuracy.txt", "w").write("overwritten by the trial")
"""


@pytest.mark.slow
@pytest.mark.usefixtures("ml_image")
def test_a_seed_style_project_with_its_packages_runs_in_a_derived_image_with_mycode_mapped(
        docker_backend: DockerBackend, project_factory, tmp_path: Path) -> None:
    from core.infra.requirements import project_packages

    p = project_factory({"train.py": SEED_IN_DOCKER, "requirements.txt": "seaborn\npandas>=1.0\n",
                         "accuracy.txt": "the user's own\n"})
    (p / "wines.csv.gz").write_bytes((EXAMPLES / "wine-sklearn" / "wines.csv.gz").read_bytes())
    packages = project_packages(p, [], "ml")
    assert packages.lines == ("seaborn",) and packages.ignored[0][0] == "pandas>=1.0"
    built = docker_backend.prepare("ml", print, packages)
    assert built.startswith("image mlops-ml-pkgs:") and docker_backend.prepare("ml", print, packages).endswith(
        "(cached)")
    mounts: list[dict] = []

    def on_line(line: str) -> None:
        if line.startswith("seaborn") and not mounts:
            for c in docker_backend.client.containers.list(filters={"label": f"mlops.run_dir={tmp_path / 'run'}"}):
                mounts.extend(c.attrs["Mounts"])

    result = docker_backend.run_trial(spec(p, tmp_path / "run", packages=packages, paths={"/mycode": "."}), on_line)
    assert result.status == "ok" and result.value > 0.8, (result.error, result.log_tail)
    assert {"/mycode", "/project", "/run"} <= {m["Destination"] for m in mounts}
    assert (p / "accuracy.txt").read_text() == "the user's own\n"
    assert (tmp_path / "run" / "work" / "accuracy.txt").read_text() == "overwritten by the trial"
