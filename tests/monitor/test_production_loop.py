"""The loop end to end, without Docker: an APS model served, predictions, users' labels that pull live accuracy
under the threshold, ``mlops monitor --once`` starting the retrain, the new version blessed, made ``production``
and deployed, the old unit retired, and the chain in the store."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from core.registry import Registry
from core.store import get_run_store
from monitor.units import local_units
from tests.conftest import aps_files, mlops, write_project

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
TOKEN = "loop-token"
pytestmark = pytest.mark.slow

TRAIN = """\
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

df = pd.read_csv("aps.csv.gz", na_values=["na"]).fillna(0)
y = df.pop("class")
X_train, X_test, y_train, y_test = train_test_split(df, y, test_size=0.3, random_state=0, stratify=y)
model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X_train, y_train)
print("accuracy", model.score(X_test, y_test))
"""
MLOPS_YAML = """\
name: aps
metric: accuracy
target: 0.9
budget:
  max_trials: 2
monitoring:
  threshold: 0.8
  min_labels: 20
  window: 50
  cooldown_minutes: 30
"""


@pytest.fixture
def aps() -> tuple[Path, Path]:
    """The first APS file (trained on) and the third (the same source, never trained on)."""
    files = aps_files()
    return files[0], files[2]


@pytest.fixture(autouse=True)
def no_unit_left(mlops_home: Path):
    """Every serving process a test started (directly or through the retrain) is stopped, also when it fails."""
    yield
    for unit in local_units():
        unit.remove()


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def post(url: str, body: object, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_wrong_predictions_labelled_by_users_retrain_and_redeploy_the_model(tmp_path: Path, mlops_home: Path,
                                                                            aps: tuple[Path, Path],
                                                                            ml_env: str) -> None:
    aps_file, _ = aps
    project = write_project(tmp_path / "aps", {"train.py": TRAIN, "mlops.yaml": MLOPS_YAML})
    shutil.copy(aps_file, project / "aps.csv.gz")
    env = {"MLOPS_HOME": str(mlops_home), "MLOPS_FEEDBACK_TOKEN": TOKEN, **NO_DOCKER}
    proc = mlops("run", str(project), "--backend", "local", "--no-notify", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    first = json.loads(mlops("deploy", "latest", "--json", env=env).stdout)
    assert first["version"] == 1

    rows = pd.read_csv(aps_file, na_values=["na"]).fillna(0).drop(columns=["class"]).iloc[:60]
    answer = post(f"{first['url']}/predict", {"rows": rows.to_dict(orient="records")})
    ids, predicted = answer["inference_ids"], answer["predictions"]
    assert len(ids) == 60 and set(predicted) <= {"neg", "pos"}
    flipped = {"neg": "pos", "pos": "neg"}
    labels = [{"inference_id": i, "label": flipped[p] if k < 15 else p}
              for k, (i, p) in enumerate(zip(ids, predicted, strict=True))]
    post(f"{first['url']}/feedback", {"labels": labels[:30]}, TOKEN)  # 15 of 30 corrected: live accuracy 0.5
    checked = mlops("monitor", str(project), "--once", "--json", env=env)
    verdict = json.loads(checked.stdout)
    assert verdict["decision"] == "under_threshold" and verdict["labels"] == 30, checked.stderr
    crossed = time.time()
    assert verdict["action"]["action"] == "retrain" and verdict["action"]["how"] == "local"

    store = get_run_store()
    deadline = time.time() + 600
    while time.time() < deadline and not store.events("retrain", project="aps", step="deployed"):
        if store.events("retrain", project="aps", step="decision") or not alive(verdict["action"]["pid"]):
            time.sleep(1)
            if not store.events("retrain", project="aps", step="deployed"):
                log = Path(verdict["action"]["log"]).read_text()
                pytest.fail(f"the retrain ended without deploying:\n{log[-3000:]}")
        time.sleep(1)
    log = Path(verdict["action"]["log"]).read_text()
    done = store.events("retrain", project="aps", step="deployed")
    assert done, log[-3000:]
    print(f"\nfrom the label that crossed the threshold to the new version serving: {done[0].time - crossed:.1f} s")
    chain = done[0]
    assert chain.version in (2, 3) and chain.retired == [first["container"]]  # the as-is run's or the tuned one's
    assert Registry(store).aliases("aps")["production"] == chain.version
    assert [u.version for u in local_units("aps")] == [chain.version]
    health = json.loads(urllib.request.urlopen(f"{chain.url}/health", timeout=10).read())
    assert health["model_version"] == chain.version
    steps = [e.step for e in store.events("retrain", project="aps")]
    assert steps == ["ground_truth", "runs", "deployed"]
    truth = store.events("retrain", project="aps", step="ground_truth")[0]
    assert truth.labels == 30 and truth.corrected == 15
    runs = store.events("retrain", project="aps", step="runs")[0]
    assert set(runs.runs) == {"as_is", "tuned"} and runs.run_id in runs.runs.values()
    assert [e.type for e in store.events(project="aps") if e.type in ("live_check", "live_alert",
                                                                       "retrain_started")][:3] == \
        ["live_check", "live_alert", "retrain_started"]


DATA_YAML = """\
name: aps-data
data: {mongodb: aps_live, label: class}
metric: accuracy
target: 0.9
gate:
  accuracy: {absolute: 0.02}
approval: auto
budget: {max_trials: 2}
mail: {when: never}
monitoring:
  threshold: 0.9
  min_labels: 20
  window: 50
"""


def test_a_data_project_retrains_on_its_users_labels_and_the_gate_lets_the_new_version_serve(
        tmp_path: Path, mlops_home: Path, aps: tuple[Path, Path], ml_env: str) -> None:
    aps_file, later_file = aps
    project = write_project(tmp_path / "aps-data", {"mlops.yaml": DATA_YAML})
    env = {"MLOPS_HOME": str(mlops_home), "MLOPS_FEEDBACK_TOKEN": TOKEN, **NO_DOCKER}
    loaded = mlops("data", "load", str(aps_file), "--collection", "aps_live", "--na-value", "na", "--json", env=env)
    assert loaded.returncode == 0, loaded.stderr
    proc = mlops("run", str(project), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    first_run = json.loads(proc.stdout)
    assert first_run["blessed"] and first_run["pushed"]["alias"] == "production"
    first = json.loads(mlops("deploy", first_run["run_id"], "--json", env=env).stdout)

    later = pd.read_csv(later_file, na_values=["na"])
    served = pd.concat([later[later["class"] == "pos"].head(40), later[later["class"] == "neg"].head(20)])
    truth = served.pop("class").tolist()
    rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in served.to_dict(orient="records")]
    answer = post(f"{first['url']}/predict", {"rows": rows})  # raw rows, missing values and all
    labels = [{"inference_id": i, "label": t} for i, t in zip(answer["inference_ids"], truth, strict=True)]
    given = (labels[::3] + labels[1::3])[:30]  # users label what they checked: the true class, failures and others
    post(f"{first['url']}/feedback", {"labels": given}, TOKEN)
    predicted = dict(zip(answer["inference_ids"], answer["predictions"], strict=True))
    right = sum(predicted[g["inference_id"]] == g["label"] for g in given)
    verdict = json.loads(mlops("monitor", str(project), "--once", "--json", env=env).stdout)
    assert verdict["decision"] == "under_threshold" and verdict["accuracy"] == pytest.approx(right / 30)
    assert verdict["drift_share"] is not None  # served rows against v1's training snapshot

    store = get_run_store()
    deadline = time.time() + 900
    while time.time() < deadline and not store.events("retrain", project="aps-data", step="deployed"):
        if store.events("retrain", project="aps-data", step="decision") or not alive(verdict["action"]["pid"]):
            time.sleep(1)
            if not store.events("retrain", project="aps-data", step="deployed"):
                pytest.fail(f"no deploy:\n{Path(verdict['action']['log']).read_text()[-4000:]}")
        time.sleep(1)
    chain = store.events("retrain", project="aps-data", step="deployed")[0]
    gathered = store.events("retrain", project="aps-data", step="ground_truth")[0]
    assert (gathered.labels, gathered.corrected, gathered.added) == (30, 30 - right, "mongodb:aps_live")
    assert store.data_collection("aps_live").count_documents({"_id": {"$regex": "^label:"}}) == 30
    runs = store.events("retrain", project="aps-data", step="runs")[0]
    decision = store.decision(chain.run_id)
    assert decision is not None and decision.blessed and decision.baseline_version == 1
    assert chain.snapshot == runs.snapshot != first_run["snapshot"]  # the labelled rows made a new snapshot
    assert Registry(store).aliases("aps-data")["production"] == chain.version > 1
    assert chain.retired == [first["container"]] and [u.version for u in local_units("aps-data")] == [chain.version]
    print(f"\ndata project: from the crossing label to v{chain.version} serving: {chain.time - verdict['time']:.1f} s")
