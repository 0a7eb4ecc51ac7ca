"""A serving unit keeps what it was started with: restarted or rolled back by ``mlops watch``, whatever the
watchdog's own environment holds, it still takes labels with its feedback token and keeps its request limits."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.console import Out
from core.records import ModelVersion
from core.registry import Registry
from core.store import get_run_store
from monitor.units import LocalUnit, local_units, start_local
from tests.conftest import ROOT, call, mlops

TOKEN = "unit-s3cret-token"
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
TRAIN = """
import sys
from pathlib import Path
import joblib, pandas as pd
from sklearn.ensemble import RandomForestClassifier
df = pd.read_csv(sys.argv[2])
model = RandomForestClassifier(n_estimators=5, random_state=0).fit(df.drop(columns=["Class"]).values, df["Class"])
joblib.dump(model, Path(sys.argv[1]))
"""


@pytest.fixture
def registry(python: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """A registry holding v1 of ``wine`` (a small forest); every unit a test starts is stopped after it."""
    for key, value in NO_DOCKER.items():
        monkeypatch.setenv(key, value)
    model = tmp_path / "model.joblib"
    subprocess.run([python, "-c", TRAIN, str(model), str(ROOT / "examples" / "wine-sklearn" / "wines.csv.gz")],
                   check=True, timeout=300)
    registry = Registry(get_run_store())
    registry.register(ModelVersion(project="wine", format="joblib", kind="ml", framework="sklearn",
                                   metric="accuracy", value=0.9, passed=True), model)
    yield registry
    for unit in local_units():
        unit.remove()


def labelled(url: str) -> tuple[int, dict]:
    """Predict a row, then send its label with the token: ``(status, answer)`` of the label."""
    code, text = call(f"{url}/predict", {"rows": [[13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05,
                                                   3.4, 1050]]})
    assert code == 200, text
    ident = json.loads(text)["inference_ids"][0]
    req = urllib.request.Request(f"{url}/feedback", data=json.dumps({"inference_id": ident, "label": 1}).encode(),
                          headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_unit_restarted_by_the_watchdog_keeps_its_token_and_limits_in_a_private_record(
        registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_FEEDBACK_TOKEN", TOKEN)
    monkeypatch.setenv("MLOPS_PREDICT_MAX_ROWS", "3")
    unit = start_local(registry, "wine", 1, "ml", Out())
    assert unit.wait_healthy(120) == "healthy", unit.logs()
    assert stat.S_IMODE(unit.record.stat().st_mode) == 0o600  # it holds the token: this user only
    assert labelled(unit.url) == (200, {"recorded": 1, "replaced": 0})

    os.killpg(unit.data["pid"], signal.SIGKILL)
    time.sleep(0.5)
    monkeypatch.delenv("MLOPS_FEEDBACK_TOKEN")  # the Jenkins monitor job, or a person, without the credential
    monkeypatch.delenv("MLOPS_PREDICT_MAX_ROWS")
    proc = mlops("watch", "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"container": unit.name, "action": "restarted", "result": "healthy"}]
    assert labelled(unit.url) == (200, {"recorded": 1, "replaced": 0})  # not 403 "feedback is off"
    code, text = call(f"{unit.url}/predict", {"rows": [[1.0] * 13] * 4})
    assert code == 413 and "limit of 3 (MLOPS_PREDICT_MAX_ROWS)" in json.loads(text)["detail"]
    restarted = LocalUnit(unit.record)
    assert stat.S_IMODE(restarted.record.stat().st_mode) == 0o600
    said = proc.stdout + proc.stderr + Path(restarted.data["log"]).read_text()
    assert TOKEN not in said  # never in what the tool or the server prints

    rolled = restarted.start_version(registry, 1, Out())  # what a rollback starts, from the watchdog's environment
    assert rolled.wait_healthy(120) == "healthy", rolled.logs()
    assert labelled(rolled.url) == (200, {"recorded": 1, "replaced": 0})
