"""Serving and the watchdog on a real Docker engine: deploy, predict, restart, crash loop, rollback."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from core import paths
from core.console import Out
from core.infra.docker_engine import docker_client
from core.registry import Registry
from core.store import get_run_store
from monitor.serving.capture import SpoolCapture
from monitor.units import serving_containers, start_container
from monitor.watchdog import Policy, Watchdog
from tests.conftest import EXAMPLES, call, mlops, register_broken_model

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def client():
    c, reason = docker_client()
    if c is None:
        if os.environ.get("MLOPS_REQUIRE_DOCKER") == "1":
            pytest.fail(f"MLOPS_REQUIRE_DOCKER=1 but no Docker engine answers: {reason}")
        pytest.skip(f"no Docker engine answers ({reason})")
    yield c
    for container in serving_containers(c):
        container.remove(force=True)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, client) -> Path:
    """A module-wide MLOPS_HOME with one passed, pushed run of the scikit-learn example."""
    home = tmp_path_factory.mktemp("serving-home")
    proc = mlops("run", str(EXAMPLES / "wine-sklearn"), "--no-notify", "--json", env={"MLOPS_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["pushed"]["version"] == 1
    return home


@pytest.fixture
def env(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("MLOPS_HOME", str(home))
    return {"MLOPS_HOME": str(home)}


def deploy(env: dict[str, str]) -> dict:
    proc = mlops("deploy", "latest", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_deployed_model_predicts_validates_and_reports_metrics(env) -> None:
    served = deploy(env)
    url = served["url"]
    code, body = call(f"{url}/health")
    assert code == 200 and json.loads(body)["model_version"] == 1
    features = json.loads(body)["features"]
    assert len(features) == 13 and features[0] == "Alcohol"
    row = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]
    code, body = call(f"{url}/predict", {"rows": [row, row]})
    answer = json.loads(body)
    assert code == 200 and answer["predictions"] == [1, 1] and answer["model_version"] == 1
    time.sleep(0.6)  # the capture writer's batch lands in the spool mounted from $MLOPS_HOME/capture/<project>
    captured = SpoolCapture(paths.capture_dir("wine-sklearn")).predictions("wine-sklearn", answer["inference_ids"])
    assert [captured[i]["row"] for i in answer["inference_ids"]] == [row, row]
    code, body = call(f"{url}/predict", {"rows": [dict(zip(features, row, strict=True))]})
    assert code == 200 and json.loads(body)["predictions"] == [1]
    for bad, message in [({"rows": [[1, 2, 3]]}, "expected 13 numbers"), ({"rows": [["a"] * 13]}, "must be a number"),
                         ({"data": []}, 'send {"rows"'), ({"rows": [{"Alcohol": 1}]}, "missing features")]:
        code, body = call(f"{url}/predict", bad)
        assert code == 422 and message in json.loads(body)["detail"], body
    assert call(f"{url}/predict", raw=b"not json")[0] == 422
    code, metrics = call(f"{url}/metrics")
    assert code == 200
    assert 'mlops_requests_total{code="200",endpoint="/predict"} 2.0' in metrics
    assert 'mlops_requests_total{code="422",endpoint="/predict"} 5.0' in metrics
    assert 'mlops_model_version{project="wine-sklearn"} 1.0' in metrics
    assert "mlops_predict_latency_seconds_bucket" in metrics


def test_a_redeploy_is_healthy_before_the_old_container_is_retired(env, client) -> None:
    first = deploy(env)
    second = deploy(env)
    assert second["retired"] == [first["container"]]
    assert [c.name for c in serving_containers(client, "wine-sklearn")] == [second["container"]]
    assert call(f"{second['url']}/health")[0] == 200


def test_a_killed_serving_container_is_restarted_with_the_same_model(env, client) -> None:
    served = deploy(env)
    container = client.containers.get(served["container"])
    container.kill()
    proc = mlops("watch", "--once", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"container": served["container"], "action": "restarted", "result": "healthy"}]
    code, body = call(f"{served['url']}/health")
    assert code == 200 and json.loads(body)["model_version"] == 1
    [event] = get_run_store().events("restart", container=served["container"])
    assert event.reason.startswith("exited")


def test_a_crash_looping_new_model_is_rolled_back_and_alerted_once(env, client, home: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    good = deploy(env)
    registry = Registry(get_run_store())
    bad_version = register_broken_model(registry, home)
    registry.promote("wine-sklearn", bad_version, why="a new model that cannot load")
    client.containers.get(good["container"]).remove(force=True)
    monkeypatch.setenv("MLOPS_FEEDBACK_TOKEN", "deployed-with-this-token")
    bad = start_container(client, registry, "wine-sklearn", bad_version, "ml", Out())
    monkeypatch.delenv("MLOPS_FEEDBACK_TOKEN")  # the watchdog's environment has none
    assert bad.wait_healthy(120) == "exited"  # its workers start, fail to load, exit 3
    dog = Watchdog(registry, Out(), client, Policy(max_restarts=2, backoff_s=0))
    actions = [dog.check_once() for _ in range(4)]
    assert [a[0]["action"] for a in actions if a] == ["restarted", "restarted", "rolled back"]
    assert actions[3] == [] or all(a["container"] != bad.name for a in actions[3])
    [alert] = registry.store.events("alert", container=bad.name)
    assert "Rolled back to model v1" in alert.what  # type: ignore[attr-defined]
    assert registry.aliases("wine-sklearn")["production"] == 1
    rollback = registry.history("wine-sklearn")[-1]
    assert (rollback.version, rollback.previous, rollback.who) == (1, bad_version, "mlops watch")
    assert rollback.why.startswith(f"rollback: v{bad_version} crash-looped")
    outbox = list((home / "outbox").glob("*ALERT*.eml"))
    assert len(outbox) == 1
    [serving] = serving_containers(client, "wine-sklearn")
    assert serving.labels["mlops.model_version"] == "1"
    assert "MLOPS_FEEDBACK_TOKEN=deployed-with-this-token" in serving.attrs["Config"]["Env"]  # the unit's, kept
    assert not any(c.name == bad.name for c in serving_containers(client))


def test_a_keras_model_is_served_with_probabilities_and_its_input_shape_checked(client, tmp_path) -> None:
    env = {"MLOPS_HOME": str(tmp_path / "home")}
    proc = mlops("run", str(EXAMPLES / "digits-cnn"), "--no-notify", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    served = deploy(env)
    code, body = call(f"{served['url']}/health")
    assert code == 200 and json.loads(body)["input_shape"] == [8, 8, 1]
    from sklearn.datasets import load_digits

    digits = load_digits()
    rows = [(digits.images[i] / 16.0).tolist() for i in range(20)]  # nested 8x8 rows are accepted as 64 numbers
    code, body = call(f"{served['url']}/predict", {"rows": rows})
    result = json.loads(body)
    assert code == 200 and result["model_version"] == 1 and len(result["probabilities"][0]) == 10
    correct = sum(p == t for p, t in zip(result["predictions"], digits.target[:20], strict=True))
    assert correct >= 17
    code, body = call(f"{served['url']}/predict", {"rows": [[0.0] * 63]})
    assert code == 422 and "expected 64 numbers (input shape [8, 8, 1]), got 63" in json.loads(body)["detail"]
    client.containers.get(served["container"]).remove(force=True)
