"""Recovery and serving benchmark on a real Docker engine.

Usage: ``.venv/bin/python bench/recovery.py [--kills 5]`` (set MLOPS_BASE_IMAGE where python:3.11-slim
cannot be pulled).

1. Training: one Keras trial (16 epochs) is killed with SIGKILL ``--kills`` times, each time after a new
   checkpoint appears; the backend starts it again and the harness resumes. Prints the median and worst
   time from death to running again (Docker ``die`` -> ``start`` events), epochs lost per kill (epochs
   that had started but were not checkpointed), and whether the final model equals the one an
   uninterrupted run with the same seed makes. Targets: median <= 3 s, <= 1 epoch lost per kill.
2. Serving: the scikit-learn example is deployed; its container is killed ``--kills`` times and the
   ``mlops watch`` daemon brings it back. Prints death -> healthy times. Target: <= 5 s.
3. ``/predict`` latency p50/p99 and throughput on 127.0.0.1, single rows and batches of 64, 300 requests
   each, one client at a time (a bounded load).
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCRIPT = """
import time
import numpy as np
import keras
rng = np.random.default_rng(0)
X = rng.normal(size=(600, 8)); y = (X[:, 0] + X[:, 1] - X[:, 2] > 0).astype(int)
m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                      keras.layers.Dense(1, activation="sigmoid")])
m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
class Pace(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        open("epoch_started", "w").write(str(epoch))
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.8)
m.fit(X, y, epochs=16, batch_size=32, validation_split=0.2, shuffle=False, verbose=0, callbacks=[Pace()])
m.evaluate(X, y, verbose=0)
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def training(backend, kills: int, tmp: Path) -> None:
    from training.backends import TrialSpec

    project = tmp / "project"
    project.mkdir()
    (project / "train.py").write_text(SCRIPT)
    backend.prepare("dl", lambda _: None)
    base = backend.run_trial(TrialSpec(project=project, entry="train.py", run_dir=tmp / "base", kind="dl"),
                             lambda _: None)
    run_dir = tmp / "killed"
    state = run_dir / "checkpoint" / "fit-1" / "state.json"
    started = run_dir / "work" / "epoch_started"
    lost: list[int] = []
    deaths: dict[str, float] = {}
    downtime: list[float] = []

    def events() -> None:
        for ev in backend.client.events(decode=True, filters={"type": "container", "label": "mlops.role=training"}):
            if ev.get("status") == "die":
                deaths[ev["id"]] = ev["timeNano"] / 1e9
            elif ev.get("status") == "start" and ev["id"] in deaths:
                downtime.append(ev["timeNano"] / 1e9 - deaths.pop(ev["id"]))

    def killer() -> None:
        done = -1
        for _ in range(kills):
            while True:
                try:
                    epoch = json.loads(state.read_text())["epoch"]
                except (OSError, ValueError):
                    epoch = -1
                if epoch > done:
                    break
                time.sleep(0.05)
            time.sleep(0.3)
            try:
                running = int(started.read_text())
                checkpointed = json.loads(state.read_text())["epoch"]
            except (OSError, ValueError):
                continue
            for c in backend.client.containers.list(filters={"label": f"mlops.run_dir={run_dir}"}):
                c.kill()
                lost.append(running - checkpointed)
            done = checkpointed + 1

    threading.Thread(target=events, daemon=True).start()
    threading.Thread(target=killer, daemon=True).start()
    result = backend.run_trial(TrialSpec(project=project, entry="train.py", run_dir=run_dir, kind="dl",
                                         restarts=kills + 1), lambda _: None)
    time.sleep(1)
    same = _same_weights(tmp)
    print(f"training: {result.restarts} kills survived, status {result.status}, "
          f"epochs in history {len(result.history.get('loss', []))}/16")
    if downtime:
        print(f"  death -> running: median {statistics.median(downtime):.2f} s, worst {max(downtime):.2f} s")
    print(f"  epochs lost per kill: {lost} (max {max(lost) if lost else 0})")
    print(f"  final model equals the uninterrupted run: {same}; value {result.value:.4f} vs {base.value:.4f}")


def _same_weights(tmp: Path) -> str:
    code = (
        "import keras, numpy as np, sys\n"
        "a = keras.saving.load_model(sys.argv[1]); b = keras.saving.load_model(sys.argv[2])\n"
        "d = max(float(np.max(np.abs(x - y))) for x, y in zip(a.get_weights(), b.get_weights()))\n"
        "print('yes' if d == 0 else f'no (max weight difference {d:.2e})')\n")
    from training.backends import LocalBackend

    venv = LocalBackend().venv_dir("dl") / "bin" / "python"
    if not venv.exists():
        return "not checked (no local dl virtualenv)"
    out = subprocess.run([str(venv), "-c", code, str(tmp / "base" / "model" / "model.keras"),
                          str(tmp / "killed" / "model" / "model.keras")], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return out.stdout.strip() or out.stderr.strip()[-200:]


def serving(client, kills: int, env: dict[str, str]) -> None:
    run = subprocess.run([sys.executable, "-m", "mlops", "run", str(ROOT / "examples" / "wine-sklearn"),
                          "--no-notify", "--quiet", "--json"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    dep = subprocess.run([sys.executable, "-m", "mlops", "deploy", "latest", "--json"], capture_output=True,
                         text=True, env=env, cwd=ROOT)
    assert dep.returncode == 0, dep.stderr[-2000:]
    served = json.loads(dep.stdout)
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
            deadline = died + 60
            while time.time() < deadline:
                try:
                    with urllib.request.urlopen(f"{served['url']}/health", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.05)
            else:
                raise SystemExit("the serving container did not come back within 60 s")
            back.append(time.time() - died)
            time.sleep(4)
    finally:
        daemon.terminate()
    print(f"serving: killed {kills} times; death -> healthy median {statistics.median(back):.2f} s, "
          f"worst {max(back):.2f} s (mlops watch daemon)")
    row = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]
    latency(served["url"], "scikit-learn (wine)", row)
    container.remove(force=True)


def latency(url: str, label: str, row: list[float]) -> None:
    """p50/p99 and throughput of /predict for single rows and batches of 64, 300 sequential requests each."""
    for what, rows in (("single row", [row]), ("batch of 64", [row] * 64)):
        body = json.dumps({"rows": rows}).encode()
        times = []
        start = time.time()
        for _ in range(300):
            t = time.perf_counter()
            req = urllib.request.Request(f"{url}/predict", data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
            times.append(time.perf_counter() - t)
        wall = time.time() - start
        print(f"  /predict {label}, {what}: p50 {pct(times, 0.5) * 1000:.1f} ms, p99 {pct(times, 0.99) * 1000:.1f} ms, "
              f"{300 / wall:.0f} requests/s, {300 * len(rows) / wall:.0f} rows/s")


def keras_latency(env: dict[str, str]) -> None:
    """Deploy the Keras CNN example and measure /predict."""
    for args in (["run", str(ROOT / "examples" / "digits-cnn"), "--no-notify", "--quiet", "--json"],
                 ["deploy", "latest", "--json"]):
        proc = subprocess.run([sys.executable, "-m", "mlops", *args], capture_output=True, text=True, env=env, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-2000:]
    latency(json.loads(proc.stdout)["url"], "Keras (digits CNN)", [0.5] * 64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    from training.backends._docker import DockerBackend, docker_client

    client, reason = docker_client()
    if client is None:
        raise SystemExit(f"no Docker engine answers: {reason}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLOPS_HOME"] = tmp
        training(DockerBackend(client), args.kills, Path(tmp))
        serving(client, args.kills, {**os.environ, "MLOPS_HOME": tmp})
        keras_latency({**os.environ, "MLOPS_HOME": tmp})
    return 0


if __name__ == "__main__":
    sys.exit(main())
