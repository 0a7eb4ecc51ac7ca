"""Serving and the watchdog without Docker: the same supervision for local serving processes."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from core.console import Out
from core.registry import Registry
from core.store import get_run_store
from monitor.units import local_units, start_local
from monitor.watchdog import Policy, Watchdog
from tests.conftest import EXAMPLES, call, mlops, register_broken_model

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, ml_env: str) -> Path:
    home = tmp_path_factory.mktemp("local-serving")
    proc = mlops("run", str(EXAMPLES / "wine-sklearn"), "--no-notify", "--json", "--backend", "local",
                 env={"MLOPS_HOME": str(home), **NO_DOCKER})
    assert proc.returncode == 0, proc.stderr
    yield home
    os.environ["MLOPS_HOME"] = str(home)
    for unit in local_units():
        unit.remove()


@pytest.fixture
def env(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("MLOPS_HOME", str(home))
    for key, value in NO_DOCKER.items():
        monkeypatch.setenv(key, value)
    return {"MLOPS_HOME": str(home), **NO_DOCKER}


def deploy(env: dict[str, str]) -> dict:
    proc = mlops("deploy", "latest", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "serving as a local process" in proc.stderr
    return json.loads(proc.stdout)


def test_without_docker_deploy_serves_a_local_process_and_replaces_the_old_one(env) -> None:
    first = deploy(env)
    code, body = call(f"{first['url']}/health")
    assert code == 200 and json.loads(body)["model_version"] == 1
    assert call(f"{first['url']}/predict", {"rows": [[1, 2, 3]]})[0] == 422
    second = deploy(env)
    assert second["retired"] == [first["container"]]
    assert [u.name for u in local_units()] == [second["container"]]


def test_a_killed_local_server_is_restarted_with_the_same_model(env) -> None:
    served = deploy(env)
    [unit] = local_units()
    os.killpg(unit.data["pid"], signal.SIGKILL)
    time.sleep(0.5)
    proc = mlops("watch", "--once", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"container": served["container"], "action": "restarted", "result": "healthy"}]
    code, body = call(f"{served['url']}/health")
    assert code == 200 and json.loads(body)["model_version"] == 1


def test_a_crash_looping_local_server_is_rolled_back_and_alerted_once(env, home: Path) -> None:
    deploy(env)
    registry = Registry(get_run_store())
    bad_version = register_broken_model(registry, home)
    for unit in local_units():
        unit.remove()
    bad = start_local(registry, "wine-sklearn", bad_version, "ml", Out())
    assert bad.wait_healthy(60) == "exited"
    dog = Watchdog(registry, Out(), None, Policy(max_restarts=2, backoff_s=0))
    actions = [dog.check_once() for _ in range(4)]
    assert [a[0]["action"] for a in actions if a] == ["restarted", "restarted", "rolled back"]
    assert len(registry.store.events("alert", container=bad.name)) == 1
    assert len(list((home / "outbox").glob("*ALERT*.eml"))) == 1
    [serving] = local_units()
    assert serving.version == 1 and serving.state() == ("running", "healthy")


def test_one_unit_that_cannot_be_restarted_never_stops_the_watch_of_the_others(env, home: Path) -> None:
    served = deploy(env)
    [unit] = local_units()
    broken = dict(unit.data, name="mlops-serve-broken", python="/nonexistent/python", pid=2 ** 22 + 7)
    (unit.record.parent / "mlops-serve-broken.json").write_text(json.dumps(broken))
    os.killpg(unit.data["pid"], signal.SIGKILL)
    time.sleep(0.5)
    proc = mlops("watch", "--once", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    actions = {a["container"]: a for a in json.loads(proc.stdout)}
    assert actions["mlops-serve-broken"]["action"] == "error" and "FileNotFoundError" in actions[
        "mlops-serve-broken"]["error"]
    assert actions[served["container"]] == {"container": served["container"], "action": "restarted",
                                            "result": "healthy"}
    (unit.record.parent / "mlops-serve-broken.json").unlink()
