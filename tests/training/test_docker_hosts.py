"""Trials on several Docker hosts: the local engine and a second engine on this machine that stands for a
remote host (its own data root, reached over TCP, sharing no filesystem with us as far as mlops knows)."""

from __future__ import annotations

import ipaddress
import json
import os
import threading
import time
from pathlib import Path

import pytest

from core.infra.docker_engine import docker_client
from core.infra.images import Images
from core.store import get_run_store
from tests.conftest import EXAMPLES, OUT_OF_REACH, copy_image, mlops
from training.backends import DockerBackend, TrialSpec, connect_hosts

pytestmark = pytest.mark.docker
LOCAL = "unix:///var/run/docker.sock"


@pytest.fixture(scope="module")
def hosts(second_docker_host: str) -> list[str]:
    """Both engines, each with the scikit-learn trial image (built here, copied there)."""
    client, reason = docker_client(base_url=LOCAL)
    if client is None:
        if os.environ.get("MLOPS_REQUIRE_DOCKER") == "1":
            pytest.fail(f"MLOPS_REQUIRE_DOCKER=1 but no Docker engine answers: {reason}")
        pytest.skip(f"no Docker engine answers ({reason}); start one with scripts/start-dockerd")
    images = Images(client)
    images.prepare_trial("ml", print)
    copy_image(images.trial_tag("ml"), second_docker_host)
    return [LOCAL, second_docker_host]


class ContainerWatch(threading.Thread):
    """Records the mounts of every trial container that appears on an engine while a run goes on."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.client = docker_client(base_url=url)[0]
        self.seen: dict[str, dict] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            for c in self.client.containers.list(all=True, filters={"label": "mlops.role=training"}):
                self.seen.setdefault(c.id, {"binds": c.attrs["HostConfig"].get("Binds"),
                                            "mounts": c.attrs.get("Mounts"), "labels": c.labels})


def test_trials_run_on_both_hosts_and_the_remote_ones_get_no_bind_mount(project_factory, hosts: list[str]) -> None:
    script = (EXAMPLES / "wine-knn-unscaled" / "train.py").read_text().replace(
        "knn.fit(X_train, y_train)", "import time\ntime.sleep(6)\nknn.fit(X_train, y_train)")
    p = project_factory({"train.py": script, "mlops.yaml": (
        OUT_OF_REACH + "strategy: ladder\nworkers: 2\nbudget: {max_trials: 3}\ntrial: {cpus: 2}\n"
        f"docker:\n  hosts: [{hosts[0]}, {hosts[1]}]\n")})
    (p / "wines.csv.gz").write_bytes((EXAMPLES / "wine-knn-unscaled" / "wines.csv.gz").read_bytes())
    watch = ContainerWatch(hosts[1])
    watch.start()
    try:
        proc = mlops("run", str(p), "--backend", "docker", "--json", "--no-notify")
    finally:
        watch.done.set()
        watch.join()
    assert proc.returncode == 1, proc.stderr  # 1.0 is out of reach in three trials
    summary = json.loads(proc.stdout)
    trials = get_run_store().trials(summary["run_id"])
    assert {t.host for t in trials} == set(hosts)  # the second trial found the first host busy
    assert all(t.status == "ok" and t.value is not None for t in trials)
    remote = [t for t in trials if t.host == hosts[1]]
    for t in remote:  # metrics, events and the model came back as archives
        assert (Path(t.run_dir) / "metrics.json").is_file() and (Path(t.run_dir) / t.model.path).is_file()
        assert t.where.endswith(f"on {hosts[1]}")
    assert len(watch.seen) == len(remote)
    for seen in watch.seen.values():
        assert not seen["binds"] and seen["mounts"] == []
        assert seen["labels"]["mlops.run_id"] == summary["run_id"]


def test_the_containers_of_a_dead_workers_trial_are_removed_on_every_host(hosts: list[str], project_factory,
                                                                          tmp_path: Path) -> None:
    p = project_factory({"train.py": "import time, sklearn\ntime.sleep(300)\nprint(0.5)\n"})
    backend = DockerBackend(hosts=connect_hosts(hosts[1:])[0])
    labels = {"mlops.run_id": f"orphans-{os.getpid()}", "mlops.trial": "4"}
    proc = backend.launch(TrialSpec(project=p, entry="train.py", run_dir=tmp_path / "run", env="ml", labels=labels))
    (tmp_path / "run").mkdir()
    proc.start()
    remote = docker_client(base_url=hosts[1])[0]
    wanted = {"label": [f"{k}={v}" for k, v in labels.items()]}
    assert [c.status for c in remote.containers.list(all=True, filters=wanted)] == ["running"]
    DockerBackend(hosts=connect_hosts(hosts)[0]).stop_trial(labels)  # another worker, that reaped the trial
    assert remote.containers.list(all=True, filters=wanted) == []


SLOW_EPOCHS = (EXAMPLES / "wine-keras" / "train.py").read_text().replace(
    "model.fit(X_train, y_train, epochs=40, batch_size=16, validation_split=0.1, verbose=2)",
    "import time\n\n\nclass Slow(keras.callbacks.Callback):\n    def on_epoch_end(self, epoch, logs=None):\n"
    "        time.sleep(1)\n\n\n"
    "model.fit(X_train, y_train, epochs=8, batch_size=16, validation_split=0.1, verbose=2, callbacks=[Slow()])")


@pytest.mark.slow
def test_a_keras_trial_on_a_remote_host_streams_its_epochs_and_sends_back_its_checkpoint(
        hosts: list[str], project_factory, tmp_path: Path) -> None:
    images = Images(docker_client(base_url=LOCAL)[0])
    images.prepare_trial("dl", print)
    copy_image(images.trial_tag("dl"), hosts[1])
    p = project_factory({"train.py": SLOW_EPOCHS})
    (p / "wines.csv.gz").write_bytes((EXAMPLES / "wine-keras" / "wines.csv.gz").read_bytes())
    backend = DockerBackend(hosts=connect_hosts(hosts[1:])[0])
    seen: list[tuple[int, float]] = []

    def on_epoch(epoch: int, logs: dict) -> bool:
        seen.append((epoch, time.time()))
        return True

    spec = TrialSpec(project=p, entry="train.py", run_dir=tmp_path / "run", env="dl", on_epoch=on_epoch)
    result = backend.run_trial(spec, lambda _: None)
    ended = time.time()
    assert result.status == "ok" and result.value >= 0.5, (result.error, result.log_tail)
    assert [e for e, _ in seen] == list(range(8))  # every epoch, in order
    assert seen[0][1] < ended - 4 and seen[-1][1] - seen[0][1] > 3  # as they came, not all with the results
    assert (tmp_path / "run" / "model" / "model.keras").is_file()
    state = json.loads(next((tmp_path / "run" / "checkpoint").rglob("state.json")).read_text())
    assert state["epoch"] == 7  # the last epoch's checkpoint came back with the results


ADDRESS = "import socket; print(socket.gethostbyname(socket.gethostname()))"


def test_the_second_engine_leaves_the_first_ones_bridge_alone(hosts: list[str]) -> None:
    """dockerd --bridge none deletes docker0, the first engine's bridge in the same network namespace: the
    second engine has a bridge of its own, and the first engine's containers still get their network."""
    client = docker_client(base_url=LOCAL)[0]
    address = client.containers.run(Images(client).trial_tag("ml"), ["python", "-c", ADDRESS], network_mode="bridge",
                                    remove=True).decode().strip()
    subnet = client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Subnet"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet), (address, subnet)
