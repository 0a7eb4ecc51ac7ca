"""``mlops monitor``: live accuracy from labels, the decision, the alert and the retrain trigger (cool-down)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from email import message_from_bytes
from pathlib import Path
from typing import ClassVar

import pytest

from core import paths
from core.config import Monitoring
from core.console import Out
from core.errors import MlopsError
from core.records import ModelVersion
from core.registry import Registry
from core.store import get_run_store
from monitor.live import live_check, publish
from monitor.serving.capture import SpoolCapture
from monitor.triggers import act
from tests.conftest import mlops, write_project

CFG = Monitoring(threshold=0.8, min_labels=10, window=20, cooldown_minutes=30)


@pytest.fixture
def registry(mlops_home: Path) -> Registry:
    registry = Registry(get_run_store())
    model = mlops_home / "m" / "model.joblib"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"a model")
    for _ in range(2):
        registry.register(ModelVersion(project="wine", format="joblib", kind="ml", metric="accuracy", value=0.9,
                                       passed=True), model)
    registry.promote("wine", 2, why="test")
    return registry


def serve(capture: SpoolCapture, n: int, wrong: int, version: int = 2, start: int = 0) -> None:
    """``n`` predictions of class 1 by ``version``, labelled, the first ``wrong`` of them corrected to 2."""
    docs = [{"_id": f"v{version}-{i}", "project": "wine", "model_version": version, "time": time.time(),
             "row": [1.0, 2.0], "prediction": 1, "probabilities": None} for i in range(start, start + n)]
    capture.add_predictions(docs)
    for k, d in enumerate(docs):
        capture.add_labels("wine", [(d["_id"], 2 if k < wrong else 1)], "api")


def test_too_few_labels_is_said_and_decides_nothing(registry: Registry) -> None:
    capture = SpoolCapture(paths.capture_dir("wine"))
    serve(capture, 5, wrong=5)
    check = live_check("wine", CFG, registry, capture)
    assert check.decision == "too_few_labels" and check.labels == 5 and check.accuracy == 0.0
    assert check.reason == "v2: 5 labelled prediction(s) in the window, fewer than min_labels 10: no decision"
    assert act(check, CFG, registry, None, Out()) == {"action": "none"}


def test_live_accuracy_is_over_the_window_of_the_production_version_only(registry: Registry) -> None:
    capture = SpoolCapture(paths.capture_dir("wine"))
    serve(capture, 30, wrong=30, version=1)  # the old version's mistakes do not count against v2
    serve(capture, 10, wrong=10)  # older v2 labels, outside the window of 20
    serve(capture, 20, wrong=2, start=10)
    check = live_check("wine", CFG, registry, capture)
    assert (check.decision, check.model_version, check.labels, check.corrected) == ("ok", 2, 20, 2)
    assert check.accuracy == pytest.approx(0.9)
    assert check.drift_note == "v2 names no training snapshot (a project without data:)"


def test_under_the_threshold_one_alert_one_retrain_then_the_cooldown(registry: Registry, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    capture = SpoolCapture(paths.capture_dir("wine"))
    serve(capture, 20, wrong=8)
    check = live_check("wine", CFG, registry, capture)
    assert check.decision == "under_threshold"
    assert check.reason == ("v2: live accuracy 0.600 over the last 20 labels is under the threshold 0.8 "
                            "(8 corrected)")
    publish(check, capture, registry)
    assert capture.status("wine")["window"] == 20
    server = http.server.HTTPServer(("127.0.0.1", 0), _FakeJenkins)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("JENKINS_URL", f"http://127.0.0.1:{server.server_port}")
    try:
        first = act(check, CFG, registry, tmp_path, Out())
        again = act(check, CFG, registry, tmp_path, Out())
    finally:
        server.shutdown()
        server.server_close()  # gone: refused at once (a socket left open would keep the caller 20 s)
    assert first["action"] == "retrain" and first["how"] == "jenkins" and first["job"] == "mlops-retrain"
    assert [s for s in _FakeJenkins.seen if s.startswith("POST")] == [
        f"POST /job/mlops-retrain/buildWithParameters?PROJECT_DIR={str(tmp_path).replace('/', '%2F')}"
        f"&REASON={check.reason.replace(' ', '+').replace(':', '%3A').replace('(', '%28').replace(')', '%29')}"]
    assert again["action"] == "cooldown"
    store = registry.store
    assert len(store.events("live_alert", project="wine")) == 1
    started = store.events("retrain_started", project="wine")
    assert len(started) == 1 and started[0].labels == 20 and started[0].accuracy == pytest.approx(0.6)
    mails = list(paths.outbox_dir().glob("*.eml"))
    assert len(mails) == 1
    mail = message_from_bytes(mails[0].read_bytes())
    assert mail["Subject"] == "[mlops] ALERT wine: live accuracy under 0.8"
    with pytest.raises(MlopsError, match="cannot start Jenkins job mlops-retrain"):  # tried again: Jenkins is gone
        act(check, CFG, registry, tmp_path, Out(), now=time.time() + 31 * 60)


def test_alert_only_when_retrain_is_off(registry: Registry) -> None:
    capture = SpoolCapture(paths.capture_dir("wine"))
    serve(capture, 20, wrong=20)
    cfg = CFG.model_copy(update={"retrain": False})
    check = live_check("wine", cfg, registry, capture)
    assert act(check, cfg, registry, Path("/nonexistent"), Out()) == {"action": "alerted"}
    assert registry.store.events("retrain_started") == []


class _FakeJenkins(http.server.BaseHTTPRequestHandler):
    """Stands in for Jenkins's REST API (Jenkins itself cannot be installed here): records requests."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        self.send_response(404)
        self.end_headers()

    def do_POST(self) -> None:
        self.seen.append(f"POST {self.path}")
        self.send_response(201)
        self.send_header("Location", "http://127.0.0.1/queue/item/7/")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_mlops_monitor_once_prints_the_verdict_and_json(registry: Registry, tmp_path: Path, mlops_home: Path) -> None:
    project = write_project(tmp_path / "wine", {"mlops.yaml": "name: wine\nmonitoring:\n  threshold: 0.5\n"
                                                               "  min_labels: 5\n  window: 50\n"})
    serve(SpoolCapture(paths.capture_dir("wine")), 10, wrong=1)
    proc = mlops("monitor", str(project), "--once", env={"MLOPS_HOME": str(mlops_home)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("OK               v2: live accuracy 0.900 over the last 10 labels meets the "
                                  "threshold 0.5")
    proc = mlops("monitor", str(project), "--once", "--json", env={"MLOPS_HOME": str(mlops_home)})
    verdict = json.loads(proc.stdout)
    assert verdict["decision"] == "ok" and verdict["labels"] == 10 and verdict["action"] == {"action": "none"}
    bad = write_project(tmp_path / "bad", {"mlops.yaml": "monitoring:\n  min_labels: 500\n  window: 100\n"})
    proc = mlops("monitor", str(bad), "--once")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {bad}/mlops.yaml: monitoring: min_labels (500) cannot exceed window (100)"
