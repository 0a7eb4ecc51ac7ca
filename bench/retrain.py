"""The production loop, timed: from the user's label that pulls live accuracy under the threshold to the retrained
model serving (SageMaker Model Monitor's anchor: at most hourly, plus up to 20 minutes).

Usage, from a clean clone with the tool virtualenv (``make setup``)::

    .venv/bin/python bench/retrain.py [--docker]

It loads one APS file (``../shared/data``) into a collection, trains the data project on it (mlops writes the
script), deploys it (a local serving process, or a container with ``--docker``), sends 60 predictions of rows
from another APS file (raw, missing values and all; 40 failures, which the model misses most, and 20 others), and
users label them with their true class (``min_labels: 20``, threshold 0.8). The label that
makes the verdict fall (the 20th) is timed from its start; ``mlops monitor --once`` runs right after it (the Jenkins
monitor job runs it every five minutes: add up to that) and starts ``mlops retrain`` in the background; the clock
stops when the new version, blessed by the gate, is serving and the old unit is retired. The phases come from the
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
#: Where the served rows come from: another file of the same source, never trained on.
LATER = ROOT.parent / "shared" / "data" / "aps_subset_apsfailure_20211224_133116.csv.gz"
TOKEN = "bench-token"

CONFIG = """\
name: aps-bench
data: {mongodb: aps_bench, label: class}
metric: accuracy
target: 0.9
gate:
  accuracy: {absolute: 0.02}
budget: {max_trials: 2}
mail: {when: never}
monitoring:
  threshold: 0.8
  min_labels: 20
  window: 50
"""


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
        (project / "mlops.yaml").write_text(CONFIG)
        env = {**os.environ, "MLOPS_HOME": str(home), "MLOPS_FEEDBACK_TOKEN": TOKEN, "NO_COLOR": "1"}
        for var in ("MONGODB_URI", "SMTP_HOST", "JENKINS_URL"):
            env.pop(var, None)
        if not args.docker:
            env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
        mlops("data", "load", str(APS), "--collection", "aps_bench", "--na-value", "na", env=env)
        try:
            start = time.time()
            mlops("run", str(project), "--no-notify", "--json", env=env)
            first = json.loads(mlops("deploy", "latest", "--json", env=env).stdout)
            print(f"  first model trained and serving (v{first['version']})           {time.time() - start:7.1f} s")
            later = pd.read_csv(LATER, na_values=["na"])
            served = pd.concat([later[later["class"] == "pos"].head(40), later[later["class"] == "neg"].head(20)])
            truth = served.pop("class").tolist()
            rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in served.to_dict(orient="records")]
            answer = post(f"{first['url']}/predict", {"rows": rows})  # failures (pos) are what the model misses most
            labels = [{"inference_id": i, "label": t} for i, t in zip(answer["inference_ids"], truth, strict=True)]
            order = labels[::3] + labels[1::3] + labels[2::3]  # failures and others mixed, as they come
            post(f"{first['url']}/feedback", {"labels": order[:19]}, TOKEN)  # fewer than min_labels: no decision yet
            crossed = time.time()
            post(f"{first['url']}/feedback", {"labels": order[19:20]}, TOKEN)  # the 20th: the verdict can fall
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
            from core.store import get_run_store

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
                              ("labels added to the data", "retrain:ground_truth"),
                              ("both runs trained and gated", "retrain:runs"),
                              ("new version healthy, old unit retired", "retrain:deployed")):
                print(f"  {what:<52} +{events[key] - crossed:7.1f} s")
            print(f"  from the crossing label to v{serving['model_version']} serving                   "
                  f"{deployed[0].time - crossed:7.1f} s   (goal: minutes; the anchor: up to 80 minutes)")
            print(f"  (the retrain process ended at +{done - crossed:.1f} s)")
        finally:  # no serving unit is left behind, also when the loop fails
            os.environ["MLOPS_HOME"] = str(home)
            from monitor.units import all_units

            client = None
            if args.docker:
                from core.infra.docker_engine import docker_client

                client = docker_client()[0]
            for unit in all_units(client, "aps-bench"):
                unit.remove()
    print(f"load average {os.getloadavg()[0]:.2f} at the end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
