"""The production loop, timed: from the user's label that pulls live accuracy under the threshold to the retrained
model serving (SageMaker Model Monitor's anchor: at most hourly, plus up to 20 minutes).

Usage, from a clean clone with the tool virtualenv (``make setup``)::

    .venv/bin/python bench/retrain.py [--docker]

It trains a random forest on one APS file (``../shared/data``), deploys it (a local serving process, or a
container with ``--docker``), sends 60 predictions, then labels 20 of them, 15 corrected (``min_labels: 20``,
threshold 0.8). The label that makes the verdict fall (the 20th) is timed from its start; ``mlops monitor --once`` runs
right after it (the Jenkins monitor job runs it every five minutes: add up to that), starts ``mlops retrain`` in
the background, and the clock stops when ``/health`` of the new unit says the new version. The phases come from the
run store's events.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
APS = ROOT.parent / "shared" / "data" / "aps_subset_apsfailure_20211224_133055.csv.gz"
TOKEN = "bench-token"

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
CONFIG = "name: aps-bench\nmetric: accuracy\ntarget: 0.9\nbudget:\n  max_trials: 2\nmonitoring:\n  threshold: 0.8\n" \
         "  min_labels: 20\n  window: 50\n"


def mlops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "mlops", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"mlops {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def post(url: str, body: object, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    with urllib.request.urlopen(urllib.request.Request(url, json.dumps(body).encode(), headers), timeout=60) as r:
        return json.loads(r.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docker", action="store_true", help="train and serve in containers (default: local)")
    args = parser.parse_args()
    import pandas as pd

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as name:
        tmp = Path(name)
        home, project = tmp / "home", tmp / "aps"
        project.mkdir()
        (project / "train.py").write_text(TRAIN)
        (project / "mlops.yaml").write_text(CONFIG)
        (project / "aps.csv.gz").write_bytes(APS.read_bytes())
        env = {**os.environ, "MLOPS_HOME": str(home), "MLOPS_FEEDBACK_TOKEN": TOKEN, "NO_COLOR": "1"}
        for var in ("MONGODB_URI", "SMTP_HOST", "JENKINS_URL"):
            env.pop(var, None)
        if not args.docker:
            env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
        start = time.time()
        mlops("run", str(project), "--no-notify", "--json", env=env)
        first = json.loads(mlops("deploy", "latest", "--json", env=env).stdout)
        print(f"  first model trained and serving (v{first['version']})           {time.time() - start:7.1f} s")
        rows = pd.read_csv(APS, na_values=["na"]).fillna(0).drop(columns=["class"]).iloc[:60]
        answer = post(f"{first['url']}/predict", {"rows": rows.to_dict(orient="records")})
        flipped = {"neg": "pos", "pos": "neg"}
        labels = [{"inference_id": i, "label": flipped[p] if k < 15 else p}
                  for k, (i, p) in enumerate(zip(answer["inference_ids"], answer["predictions"], strict=True))]
        post(f"{first['url']}/feedback", {"labels": labels[:19]}, TOKEN)  # fewer than min_labels: no decision yet
        crossed = time.time()
        post(f"{first['url']}/feedback", {"labels": labels[19:20]}, TOKEN)  # the 20th: live accuracy 0.25 counts
        verdict = json.loads(mlops("monitor", str(project), "--once", "--json", env=env).stdout)
        if verdict["action"].get("action") != "retrain":
            raise SystemExit(f"no retrain was started: {verdict}")
        pid, log = verdict["action"]["pid"], Path(verdict["action"]["log"])
        while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            time.sleep(0.5)
        done = time.time()
        sys.path.insert(0, str(ROOT))
        os.environ["MLOPS_HOME"] = str(home)
        os.environ.pop("MONGODB_URI", None)
        from mlops.store import get_run_store
        from monitor.units import all_units

        store = get_run_store()
        deployed = store.events("retrain", project="aps-bench", step="deployed")
        if not deployed:
            raise SystemExit(f"the retrain did not deploy:\n{log.read_text()[-3000:]}")
        serving = json.loads(urllib.request.urlopen(f"{deployed[0].url}/health", timeout=10).read())
        events = {e.type if e.type != "retrain" else f"retrain:{e.step}": e.time  # type: ignore[attr-defined]
                  for e in store.events(project="aps-bench")}
        print(f"  live accuracy {verdict['accuracy']:.2f} over {verdict['labels']} labels, threshold "
              f"{verdict['threshold']} -> retrain")
        for what, key in (("monitor verdict and alert", "live_alert"), ("retrain started", "retrain_started"),
                          ("ground truth gathered", "retrain:ground_truth"), ("both runs trained", "retrain:runs"),
                          ("new version healthy, old unit retired", "retrain:deployed")):
            print(f"  {what:<52} +{events[key] - crossed:7.1f} s")
        print(f"  from the crossing label to v{serving['model_version']} serving                   "
              f"{deployed[0].time - crossed:7.1f} s   (goal: minutes; the anchor: up to 80 minutes)")
        print(f"  (the retrain process ended at +{done - crossed:.1f} s)")
        client = None
        if args.docker:
            from mlops.environments import docker_client

            client = docker_client()[0]
        for unit in all_units(client, "aps-bench"):
            unit.remove()
    print(f"load average {os.getloadavg()[0]:.2f} at the end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
