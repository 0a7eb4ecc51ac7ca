"""Recovery and serving benchmark on a real Docker engine.

Usage: ``.venv/bin/python -m bench.recovery [--kills 5] [--quick]`` (set MLOPS_BASE_IMAGE where
python:3.11-slim cannot be pulled).

1. Training: one Keras trial (``bench/inner/paced_keras.py``, 16 epochs, a container per trial) is killed with
   SIGKILL ``--kills`` times, each time after a new checkpoint appears; the backend starts it again and the harness
   resumes. Prints the median and worst time from death to running again (Docker ``die`` -> ``start`` events),
   epochs lost per kill (epochs that had started but were not checkpointed), and whether the final model equals
   the one an uninterrupted run with the same seed makes. Targets: median <= 3 s, <= 1 epoch lost per kill.
2. Serving: the scikit-learn example is deployed; its container is killed ``--kills`` times and the
   ``mlops watch`` daemon brings it back. Prints death -> healthy times. Target: <= 5 s.
3. ``/predict`` latency p50/p99 and throughput on 127.0.0.1, single rows and batches of 64, 300 requests
   each, one client at a time (a bounded load), for the scikit-learn example and the Keras CNN example.

``--quick``: 1 kill of a 6-epoch trial, 1 kill of the server, 30 requests each, the Keras CNN left out.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench._common import INNER, ROOT, inner, mlops, parser, temp_project
from core.infra.docker_engine import docker_client
from training.backends import DockerBackend, LocalBackend, TrialSpec

WINE_ROW = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Killer:
    """Kills the trial's container ``kills`` times, each time after a new checkpoint, and records what each kill
    lost; records the Docker ``die`` -> ``start`` time of each restart."""

    def __init__(self, backend: DockerBackend, run_dir: Path, kills: int) -> None:
        self.backend, self.run_dir, self.kills = backend, run_dir, kills
        self.state = run_dir / "checkpoint" / "fit-1" / "state.json"
        self.started = run_dir / "work" / "epoch_started"
        self.lost: list[int] = []
        self.downtime: list[float] = []

    def start(self) -> None:
        """Both threads (daemons: they end with the benchmark)."""
        threading.Thread(target=self.events, daemon=True).start()
        threading.Thread(target=self.kill, daemon=True).start()

    def events(self) -> None:
        deaths: dict[str, float] = {}
        for ev in self.backend.client.events(decode=True, filters={"type": "container",
                                                                  "label": "mlops.role=training"}):
            if ev.get("status") == "die":
                deaths[ev["id"]] = ev["timeNano"] / 1e9
            elif ev.get("status") == "start" and ev["id"] in deaths:
                self.downtime.append(ev["timeNano"] / 1e9 - deaths.pop(ev["id"]))

    def checkpointed(self) -> int:
        try:
            return json.loads(self.state.read_text())["epoch"]
        except (OSError, ValueError):
            return -1

    def kill(self) -> None:
        done = -1
        for _ in range(self.kills):
            while self.checkpointed() <= done:
                time.sleep(0.05)
            time.sleep(0.3)
            try:
                running, checkpointed = int(self.started.read_text()), self.checkpointed()
            except (OSError, ValueError):
                continue
            for c in self.backend.client.containers.list(filters={"label": f"mlops.run_dir={self.run_dir}"}):
                c.kill()
                self.lost.append(running - checkpointed)
            done = checkpointed + 1


def training(backend: DockerBackend, kills: int, epochs: int, tmp: Path) -> None:
    """Kill a Keras trial ``kills`` times; print what it cost and whether the model is the uninterrupted one's."""
    project = temp_project(tmp, "project", {"train.py": INNER / "paced_keras.py"})
    args = ["--epochs", str(epochs)]
    backend.prepare("dl", lambda _: None)
    base = backend.run_trial(TrialSpec(project=project, entry="train.py", run_dir=tmp / "base", env="dl", args=args),
                             lambda _: None)
    killer = Killer(backend, tmp / "killed", kills)
    killer.start()
    result = backend.run_trial(TrialSpec(project=project, entry="train.py", run_dir=killer.run_dir, env="dl",
                                         args=args, restarts=kills + 1), lambda _: None)
    time.sleep(1)
    if result.status != "ok" or base.status != "ok":
        raise SystemExit(f"the Keras trial failed: {result.error or base.error}\n{result.log_tail or base.log_tail}")
    print(f"training: {result.restarts} kills survived, status {result.status}, "
          f"epochs in history {len(result.history.get('loss', []))}/{epochs}")
    if killer.downtime:
        print(f"  death -> running: median {statistics.median(killer.downtime):.2f} s, "
              f"worst {max(killer.downtime):.2f} s")
    print(f"  epochs lost per kill: {killer.lost} (max {max(killer.lost) if killer.lost else 0})")
    print(f"  final model equals the uninterrupted run: {same_weights(tmp)}; "
          f"value {result.value:.4f} vs {base.value:.4f}")


def same_weights(tmp: Path) -> str:
    """Whether the killed trial's model has the uninterrupted one's weights (checked in the local dl virtualenv)."""
    venv = LocalBackend().venv_dir("dl") / "bin" / "python"
    if not venv.exists():
        return "not checked (no local dl virtualenv)"
    out = subprocess.run([str(venv), inner("same_weights.py"), str(tmp / "base" / "model" / "model.keras"),
                          str(tmp / "killed" / "model" / "model.keras")], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return out.stdout.strip() or out.stderr.strip()[-200:]


def deploy(example: str, env: dict[str, str]) -> dict[str, Any]:
    """Train an example and deploy it; what ``mlops deploy --json`` says."""
    for args in (["run", str(ROOT / "examples" / example), "--no-notify", "--quiet", "--json"],
                 ["deploy", "latest", "--json"]):
        proc = mlops(*args, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"mlops {args[0]} {args[1]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def healthy_within(url: str, seconds: float) -> bool:
    """Whether ``/health`` answers 200 within ``seconds``."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def serving(client: Any, kills: int, requests: int, env: dict[str, str]) -> None:
    """Kill the served wine model ``kills`` times under ``mlops watch``; print the times back; then latency."""
    served = deploy("wine-sklearn", env)
    container = client.containers.get(served["container"])
    # The daemon, as in production (events wake it; it also polls every second). Each kill is an
    # independent incident: kills are spaced past the crash-loop window, so no back-off builds up.
    daemon = subprocess.Popen([sys.executable, "-m", "mlops", "watch", "--interval", "1", "--window-minutes", "0.05",
                               "--max-restarts", str(kills + 1)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    back: list[float] = []
    try:
        time.sleep(3)
        for _ in range(kills):
            container.kill()
            died = time.time()
            if not healthy_within(served["url"], 60):
                raise SystemExit("the serving container did not come back within 60 s")
            back.append(time.time() - died)
            time.sleep(4)
    finally:
        daemon.terminate()
        daemon.wait(30)
    print(f"serving: killed {kills} times; death -> healthy median {statistics.median(back):.2f} s, "
          f"worst {max(back):.2f} s (mlops watch daemon)")
    latency(served["url"], "scikit-learn (wine)", WINE_ROW, requests)
    container.remove(force=True)


def latency(url: str, label: str, row: list[float], requests: int) -> None:
    """p50/p99 and throughput of /predict for single rows and batches of 64, ``requests`` sequential ones each."""
    for what, rows in (("single row", [row]), ("batch of 64", [row] * 64)):
        body = json.dumps({"rows": rows}).encode()
        times = []
        start = time.time()
        for _ in range(requests):
            t = time.perf_counter()
            req = urllib.request.Request(f"{url}/predict", data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
            times.append(time.perf_counter() - t)
        wall = time.time() - start
        print(f"  /predict {label}, {what}: p50 {pct(times, 0.5) * 1000:.1f} ms, p99 {pct(times, 0.99) * 1000:.1f} ms, "
              f"{requests / wall:.0f} requests/s, {requests * len(rows) / wall:.0f} rows/s")


def main() -> int:
    """Training, serving, latency, on the local Docker engine."""
    cli = parser(__doc__)
    cli.add_argument("--kills", type=int, default=5)
    args = cli.parse_args()
    kills, epochs, requests = (1, 6, 30) if args.quick else (args.kills, 16, 300)
    client, reason = docker_client()
    if client is None:
        raise SystemExit(f"no Docker engine answers: {reason}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLOPS_HOME"] = tmp
        env = {**os.environ, "MLOPS_HOME": tmp}
        backend = DockerBackend(client, warm=False)  # a container per trial: the kill is of the trial itself
        try:
            training(backend, kills, epochs, Path(tmp))
        finally:
            backend.close()
        serving(client, kills, requests, env)
        if not args.quick:
            served = deploy("digits-cnn", env)
            latency(served["url"], "Keras (digits CNN)", [0.5] * 64, requests)
            client.containers.get(served["container"]).remove(force=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
