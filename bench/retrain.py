"""The production loop, timed: from the user's label that pulls live accuracy under the threshold to the retrained
model serving (SageMaker Model Monitor's anchor: at most hourly, plus up to 20 minutes).

Usage, from a clean clone with the tool virtualenv (``make setup``)::

    MLOPS_TEST_APS_DIR=DIR .venv/bin/python -m bench.retrain [--docker] [--quick]

It loads one APS file (the first ``aps_subset_*.csv.gz`` of ``$MLOPS_TEST_APS_DIR``) into a collection, trains the
data project on it (mlops writes the script), deploys it (a local serving process, or a container with
``--docker``), sends 60 predictions of rows from another APS file (the last one: raw, missing values and all; 40
failures, which the model misses most, and 20 others), and users label them with their true class
(``min_labels: 20``, threshold 0.8). The label that makes the verdict fall (the 20th) is timed from its start;
``mlops monitor --once`` runs right after it (the Jenkins monitor job runs it every five minutes: add up to that)
and starts ``mlops retrain`` in the background; the clock stops when the new version, blessed by the gate, is
serving and the old unit is retired. The phases come from the run store's events. ``--quick``: a budget of one
trial per run. Without the APS subset the bench says why in one line and stops (exit 0 in quick mode).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd

from bench._common import aps_files, load_average, mlops, parser

TOKEN = "bench-token"
PROJECT = "aps-bench"

CONFIG = """\
name: aps-bench
data: {mongodb: aps_bench, label: class}
metric: accuracy
target: 0.9
gate:
  accuracy: {absolute: 0.02}
budget: {max_trials: %d}
mail: {when: never}
monitoring:
  threshold: 0.8
  min_labels: 20
  window: 50
"""


def run(*args: str, env: dict[str, str]) -> str:
    """``mlops ARGS``; its standard output, or the benchmark stops with its error."""
    proc = mlops(*args, env=env, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"mlops {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def post(url: str, body: object, token: str | None = None) -> dict[str, Any]:
    """POST JSON (with a bearer token if given); the decoded answer."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    with urllib.request.urlopen(urllib.request.Request(url, json.dumps(body).encode(), headers), timeout=60) as r:
        return json.loads(r.read())


def labelled_traffic(url: str, later: Path) -> list[dict[str, Any]]:
    """Send 40 failures and 20 others of a later file to ``/predict``; their labels, mixed as they come."""
    frame = pd.read_csv(later, na_values=["na"])
    served = pd.concat([frame[frame["class"] == "pos"].head(40), frame[frame["class"] == "neg"].head(20)])
    truth = served.pop("class").tolist()
    rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in served.to_dict(orient="records")]
    answer = post(f"{url}/predict", {"rows": rows})  # failures (pos) are what the model misses most
    labels = [{"inference_id": i, "label": t} for i, t in zip(answer["inference_ids"], truth, strict=True)]
    return labels[::3] + labels[1::3] + labels[2::3]


def wait_for(pid: int) -> None:
    """Until the process ``pid`` (the background retrain) has ended."""
    while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]:
        time.sleep(0.5)


def report(home: Path, crossed: float, done: float, verdict: dict[str, Any], log: Path) -> None:
    """The phases, from the run store's events, timed from the crossing label."""
    os.environ["MLOPS_HOME"] = str(home)
    os.environ.pop("MONGODB_URI", None)
    from core.store import get_run_store

    store = get_run_store()
    deployed = store.events("retrain", project=PROJECT, step="deployed")
    if not deployed:
        raise SystemExit(f"the retrain did not deploy:\n{log.read_text()[-3000:]}")
    serving = json.loads(urllib.request.urlopen(f"{deployed[0].url}/health", timeout=10).read())
    events = {e.type if e.type != "retrain" else f"retrain:{e.step}": e.time  # type: ignore[attr-defined]
              for e in store.events(project=PROJECT)}
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


def loop(files: list[Path], project: Path, home: Path, env: dict[str, str]) -> None:
    """Load, train, deploy, label until the verdict falls, and time the retrain to serving."""
    run("data", "load", str(files[0]), "--collection", "aps_bench", "--na-value", "na", env=env)
    start = time.time()
    run("run", str(project), "--no-notify", "--json", env=env)
    first = json.loads(run("deploy", "latest", "--json", env=env))
    print(f"  first model trained and serving (v{first['version']})           {time.time() - start:7.1f} s")
    order = labelled_traffic(first["url"], files[-1])
    post(f"{first['url']}/feedback", {"labels": order[:19]}, TOKEN)  # fewer than min_labels: no decision yet
    crossed = time.time()
    post(f"{first['url']}/feedback", {"labels": order[19:20]}, TOKEN)  # the 20th: the verdict can fall
    verdict = json.loads(run("monitor", str(project), "--once", "--json", env=env))
    if verdict["action"].get("action") != "retrain":
        raise SystemExit(f"no retrain was started: {verdict}")
    wait_for(verdict["action"]["pid"])
    report(home, crossed, time.time(), verdict, Path(verdict["action"]["log"]))


def remove_units(home: Path, docker: bool) -> None:
    """No serving unit is left behind, also when the loop fails."""
    os.environ["MLOPS_HOME"] = str(home)
    from monitor.units import all_units

    client = None
    if docker:
        from core.infra.docker_engine import docker_client

        client = docker_client()[0]
    for unit in all_units(client, PROJECT):
        unit.remove()


def main() -> int:
    """The loop in a scratch MLOPS_HOME, its units removed at the end."""
    cli = parser(__doc__)
    cli.add_argument("--docker", action="store_true", help="train and serve in containers (default: local)")
    args = cli.parse_args()
    files, reason = aps_files()
    if not files and args.quick:
        print(f"skipped: {reason}")
        return 0
    if not files:
        raise SystemExit(f"bench.retrain needs the APS subset: {reason}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as name:
        tmp = Path(name)
        home, project = tmp / "home", tmp / "aps"
        project.mkdir()
        (project / "mlops.yaml").write_text(CONFIG % (1 if args.quick else 2))
        env = {**os.environ, "MLOPS_HOME": str(home), "MLOPS_FEEDBACK_TOKEN": TOKEN, "NO_COLOR": "1"}
        for var in ("MONGODB_URI", "SMTP_HOST", "JENKINS_URL"):
            env.pop(var, None)
        if not args.docker:
            env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
        try:
            loop(files, project, home, env)
        finally:
            remove_units(home, args.docker)
    load_average("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
