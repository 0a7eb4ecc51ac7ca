"""Serving speed, side by side in one run: the model's own predict, our server, and MLflow's scoring server.

Usage, from a clean clone with the tool virtualenv (``make setup``) and Debian's ``wrk``::

    apt-get install -y wrk
    .venv/bin/python bench/serving.py [--seconds 6] [--skip-mlflow]

The first run builds, and later runs reuse: the serving virtualenvs (``ml-serve``, ``dl-serve``: trial
packages + requirements-serve.txt, as ``mlops deploy`` uses without Docker) and MLflow's own virtualenv
(``~/.cache/mlops/bench/mlflow-<version>``: ``mlflow`` + requirements-dl.txt, from PyPI). It trains the
wine random forest (examples/wine-sklearn, 100 trees) and a small Keras CNN on scikit-learn's 8x8
digits, then for each model, one row per request, all on 127.0.0.1:

1. the model's own predict: the exact call the server makes on an already validated array, timed
   in-process in the serving virtualenv, in rounds interleaved with (2) so that both see the same load (and for
   scikit-learn, the estimator's own call beside it: a forest is served without joblib, its trees walked together);
2. ours, ``python -m serving`` (one worker per CPU): ``wrk`` with 1 connection and with 8 connections, in the
   same interleaved rounds (each figure is the median of the rounds', p99 / p50 too). Each answer's
   ``Server-Timing`` header says how long the model's predict took in the server and the whole answer there, so
   the overhead is the latency's p50 minus the predict's p50 over the same requests (a separately timed predict
   moves by more than the overhead with the load of the moment; it is shown too); beside it, a bare ASGI app on
   the same uvicorn, the floor of loopback HTTP, answering at once and after computing as long as the predict
   (a client that waited longer wakes up more slowly, so the floor rises with the predict's time);
3. MLflow's ``mlflow models serve --env-manager local`` on the same model (its default: 1 worker),
   1 and 8 connections, and with as many workers as ours at 8 connections;
4. peak RSS (VmHWM summed over the server's processes);
5. prediction capture on vs off: two servers of the same model, one writing every prediction to a capture spool
   (``MLOPS_CAPTURE_DIR``), one with ``MLOPS_CAPTURE=off``, measured in interleaved rounds at 1 and 8 connections;
   the spool's row count is checked against the requests answered (``--only-capture`` runs just this part).

Goals (issue "Speed"): overhead over the model's predict <= 0.5 ms p50; capture costs at most a few percent
(p50 and requests/s); 8 connections >= 1.7x the
one-client rate; >= 3x MLflow's throughput at 8 connections, with p99 <= 3x p50 under load. The machine
is shared: the load average is printed at the start and the end, so a noisy run can be told apart.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MLFLOW_VERSION = "3.17.2"
WINE_ROW = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]

TRAIN_WINE = """
import json, sys
from pathlib import Path
import joblib, pandas as pd
from sklearn.ensemble import RandomForestClassifier
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
df = pd.read_csv(sys.argv[2])
model = RandomForestClassifier(n_estimators=100, random_state=1).fit(df.drop(columns=["Class"]), df["Class"])
joblib.dump(model, out / "model.joblib")
(out / "model.json").write_text(json.dumps({"project": "wine-bench", "version": 1, "format": "joblib"}))
"""

TRAIN_DIGITS = """
import json, os, sys
from pathlib import Path
import keras
from sklearn.datasets import load_digits
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
digits = load_digits()
X = (digits.images / 16.0).astype("float32")[..., None]
keras.utils.set_random_seed(0)
layers = keras.layers
model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(16, 3, activation="relu", padding="same"),
                          layers.MaxPooling2D(), layers.Flatten(), layers.Dense(32, activation="relu"),
                          layers.Dense(10, activation="softmax")])
model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
model.fit(X, keras.utils.to_categorical(digits.target, 10), epochs=5, batch_size=32, verbose=0)
model.save(out / "model.keras")
(out / "model.json").write_text(json.dumps({"project": "digits-bench", "version": 1, "format": "keras"}))
"""

# Runs in the serving virtualenv: times the call the server makes, one round per line read from stdin.
OWN_PREDICT = """
import json, sys, time, statistics
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from serving.loading import load_model
model = load_model(Path(sys.argv[2]))
x = model.to_array(json.loads(sys.argv[3]))
calls = {"p50_ms": lambda: model.predict(x)}
if hasattr(model, "with_probabilities"):  # scikit-learn: the estimator's own call too, as made without our server
    estimator = model.model
    own = estimator.predict_proba if model.with_probabilities else estimator.predict
    calls["estimator_p50_ms"] = lambda: own(model._as_input(x))
for call in calls.values():
    for _ in range(30):
        call()
print("ready", flush=True)
for line in sys.stdin:
    seconds = float(line) / len(calls)
    out = {}
    for name, call in calls.items():
        times, end = [], time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times) * 1000
    print(json.dumps(out), flush=True)
"""

SAVE_MLFLOW = """
import sys
kind, src, dest = sys.argv[1:4]
if kind == "keras":
    import keras, mlflow.keras
    mlflow.keras.save_model(keras.saving.load_model(src), dest, pip_requirements=["keras"])
else:
    import joblib, mlflow.sklearn
    # cloudpickle, as our joblib file: MLflow's default (skops) refuses tree models unless told to trust them
    mlflow.sklearn.save_model(joblib.load(src), dest, pip_requirements=["scikit-learn"],
                              serialization_format="cloudpickle")
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]
-- ours says in Server-Timing how long the model's predict took and the whole answer in the server
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) model_ms = {}; server_ms = {} end
response = function(status, headers, body)
  local timing = headers["server-timing"]
  if timing then
    model_ms[#model_ms + 1] = tonumber(timing:match("predict;dur=([%%d.]+)"))
    server_ms[#server_ms + 1] = tonumber(timing:match("server;dur=([%%d.]+)"))
  end
end
local function median(name)
  local all = {}
  for _, t in ipairs(threads) do for _, v in ipairs(t:get(name)) do all[#all + 1] = v end end
  table.sort(all)
  return all[math.floor(#all / 2) + 1] or -1
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "non2xx": %%d, "socket_errors": %%d, ' ..
    '"p50_ms": %%f, "p99_ms": %%f, "model_p50_ms": %%f, "server_p50_ms": %%f}\\n', summary.requests,
    summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, median("model_ms"), median("server_ms")))
end
"""

# The floor under any Python HTTP server here: a bare ASGI app on the same uvicorn (httptools, uvloop) that
# reads the body and answers at once.
BARE_ASGI = """
import sys, time, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    start = time.perf_counter()
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    busy = float(scope["query_string"].partition(b"=")[2] or 0) / 1000  # ?busy_ms=: compute that long
    began = time.perf_counter()
    while time.perf_counter() - began < busy:
        pass
    end = time.perf_counter()
    timing = b"predict;dur=%.3f, server;dur=%.3f" % ((end - began) * 1000, (end - start) * 1000)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"server-timing", timing)]})
    await send({"type": "http.response.body", "body": b'{"predictions":[0]}'})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
"""


#: Interleaved rounds (the median round is shown): own predict, ours and the bare app at 1 connection, ours at 8
#: connections; capture on and off.
ROUNDS = 5


def median(values: list[Any], key: Callable[[Any], float] | None = None) -> Any:
    """The middle one of ``values`` (the upper one of an even count), by ``key`` if given."""
    return sorted(values, key=key)[len(values) // 2]


def over_predict(result: dict[str, float]) -> float:
    """A wrk run's latency p50 over the p50 of the predict its server said it timed (``Server-Timing``), in ms."""
    return result["p50_ms"] - result["model_p50_ms"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, body: dict[str, Any], connections: int, seconds: float, tmp: Path) -> dict[str, float]:
    """One bounded ``wrk`` run against ``url`` (127.0.0.1): requests/s, p50 and p99 in ms."""
    script = tmp / "post.lua"
    script.write_text(WRK_SCRIPT % json.dumps(body))
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {proc.stdout}\n{proc.stderr}")
    result = json.loads(line[len("RESULT "):])
    if result["non2xx"] or result["socket_errors"]:
        raise SystemExit(f"{url}: {result['non2xx']} non-2xx answers, {result['socket_errors']} socket errors")
    result["rps"] = result["requests"] / result["seconds"]
    for key in ("model_p50_ms", "server_p50_ms"):  # -1: no Server-Timing (MLflow)
        if result[key] < 0:
            del result[key]
    return result


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += children(p)
    ticks = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) summed over ``pid`` and its descendants."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += children(p)
    total = 0
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        total += next((int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM:")), 0)
    return total / 1024


class Server:
    """A server process group on 127.0.0.1, stopped on exit."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int, ready_path: str, log: Path) -> None:
        self.name, self.port, self.log = name, port, log
        self.url = f"http://127.0.0.1:{port}"
        with log.open("w") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{name} ended with code {self.proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{name} did not turn healthy in 300 s:\n{log.read_text()[-3000:]}")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def serve_venv(kind: str) -> Path:
    """The serving virtualenv of ``kind`` (built once, as local serving units use it)."""
    from core.infra.virtualenvs import Virtualenvs

    venvs, extra = Virtualenvs(), (ROOT / "requirements-serve.txt",)
    venvs.prepare(kind, lambda line: print(f"  {line}", flush=True), extra=extra)
    return venvs.python_of(kind, extra)


def mlflow_venv() -> Path:
    """MLflow's scoring server in its own virtualenv under ~/.cache/mlops/bench (built once, from PyPI)."""
    venv = Path.home() / ".cache" / "mlops" / "bench" / f"mlflow-{MLFLOW_VERSION}"
    if not (venv / ".ready").exists():
        print(f"  building {venv} (mlflow=={MLFLOW_VERSION} + requirements-dl.txt; first run only)", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                        f"mlflow=={MLFLOW_VERSION}", "-r", str(ROOT / "requirements-dl.txt")], check=True)
        (venv / ".ready").write_text("ok\n")
    return venv


def workers_env() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def bench_model(label: str, python: Path, model_dir: Path, ours_body: dict, rows: list, mlflow: Path | None,
                mlflow_body: dict, seconds: float, tmp: Path) -> dict[str, Any]:
    """Measure one model; print its figures; return them."""
    print(f"\n{label}, one row per request", flush=True)
    env = {**workers_env(), "PYTHONPATH": str(ROOT / "monitor"), "MLOPS_MODEL_DIR": str(model_dir)}
    own = subprocess.Popen([str(python), "-c", OWN_PREDICT, str(ROOT / "monitor"), str(model_dir), json.dumps(rows)],
                           env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert own.stdin and own.stdout
    if own.stdout.readline().strip() != "ready":
        raise SystemExit("timing the model's own predict failed")
    ours = Server("ours", [str(python), "-m", "serving", "--port", str(port := free_port())], env, port, "/health",
                  tmp / f"{model_dir.name}-ours.log")
    bare = Server("bare ASGI", [str(python), "-c", BARE_ASGI, str(port := free_port())], env, port, "/",
                  tmp / f"{model_dir.name}-bare.log")
    figures: dict[str, Any] = {}
    try:
        expected = ours.post("/predict", ours_body)["predictions"]
        wrk(ours.url + "/predict", ours_body, 8, 1, tmp)  # warm up both workers
        own_p50, estimator_p50, ours_1, bare_1, busy_1, ours_8s = [], [], [], [], [], []
        for _ in range(ROUNDS):  # interleaved, so that all three see the same machine load
            own.stdin.write(f"{seconds / 3}\n")
            own.stdin.flush()
            timed = json.loads(own.stdout.readline())
            own_p50.append(timed["p50_ms"])
            if "estimator_p50_ms" in timed:
                estimator_p50.append(timed["estimator_p50_ms"])
            ours_1.append(wrk(ours.url + "/predict", ours_body, 1, seconds / 3, tmp))
            bare_1.append(wrk(bare.url + "/predict", ours_body, 1, seconds / 3, tmp))
            busy_1.append(wrk(f"{bare.url}/predict?busy_ms={own_p50[-1]:.3f}", ours_body, 1, seconds / 3, tmp))
            ours_8s.append(wrk(ours.url + "/predict", ours_body, 8, seconds / 3, tmp))
        figures["ours_rss"] = tree_peak_rss_mb(ours.proc.pid)
        n_workers = sum(b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes() for c in children(ours.proc.pid)) or 1
    finally:
        ours.stop()
        bare.stop()
        own.stdin.close()
        own.wait(30)
    figures["own_p50"] = median(own_p50)
    figures["ours_1"] = median(ours_1, key=lambda r: r["p50_ms"])
    figures["bare_p50"] = median([r["p50_ms"] for r in bare_1])
    # each round's overhead on its own requests: the latency's p50 minus the p50 of the predict the server timed
    figures["overhead"] = median([over_predict(r) for r in ours_1])
    figures["in_server"] = median([r["server_p50_ms"] - r["model_p50_ms"] for r in ours_1])
    figures["busy_floor"] = median([over_predict(r) for r in busy_1])
    # ours over that floor, round by round (the floor moves with the machine's load from minute to minute)
    figures["above_floor"] = median([over_predict(r) - over_predict(b) for r, b in zip(ours_1, busy_1, strict=True)])
    figures["overhead_vs_own"] = median([r["p50_ms"] - own for r, own in zip(ours_1, own_p50, strict=True)])
    # each figure at 8 connections is the median of the rounds', the tail ratio too (one 6 s run's p99 can be
    # one moment of the machine's)
    ours_8 = {key: median([r[key] for r in ours_8s]) for key in ("p50_ms", "p99_ms", "rps")}
    figures["ours_8"] = ours_8
    figures["tails_8"] = sorted(r["p99_ms"] / r["p50_ms"] for r in ours_8s)
    row("model's own predict, timed in a separate process", {"p50_ms": figures["own_p50"]})
    row("model's predict, timed in the server (same requests)", {"p50_ms": figures["ours_1"]["model_p50_ms"]})
    if estimator_p50:
        figures["estimator_p50"] = median(estimator_p50)
        row("  scikit-learn's own call on the same array", {"p50_ms": figures["estimator_p50"]},
            "(a forest's through joblib: served by walking its trees together, same answers)")
    row("ours, 1 connection", figures["ours_1"])
    row("bare ASGI app on the same uvicorn, 1 connection", {"p50_ms": figures["bare_p50"]},
        "(the floor: loopback HTTP, no model)")
    row("  the same app computing as long as the predict", {"p50_ms": figures["busy_floor"]},
        "(over its compute: the floor at this predict time)")
    row("ours, 8 connections", ours_8, f"peak RSS {figures['ours_rss']:.0f} MB (median of {ROUNDS} rounds)")
    if mlflow is not None:
        mlflow_model = tmp / f"{model_dir.name}-mlflow-model"
        kind = "keras" if (model_dir / "model.keras").exists() else "sklearn"
        src = next(p for p in model_dir.iterdir() if p.name.startswith("model.") and p.suffix != ".json")
        subprocess.run([str(mlflow / "bin" / "python"), "-c", SAVE_MLFLOW, kind, str(src), str(mlflow_model)],
                       env=workers_env(), check=True, stdout=subprocess.DEVNULL)
        mlflow_env = {**workers_env(), "PATH": f"{mlflow / 'bin'}:{os.environ['PATH']}"}  # it runs `uvicorn`
        for count in (1, n_workers):
            port = free_port()
            server = Server(f"MLflow ({count} worker)", [str(mlflow / "bin" / "mlflow"), "models", "serve", "-m",
                            str(mlflow_model), "-h", "127.0.0.1", "-p", str(port), "--env-manager", "local", "-w",
                            str(count)], mlflow_env, port, "/ping", tmp / f"{model_dir.name}-mlflow{count}.log")
            try:
                answer = server.post("/invocations", mlflow_body)["predictions"]
                got = [int(max(range(len(p)), key=p.__getitem__)) for p in answer] if kind == "keras" else answer
                assert got == expected, (got, expected)
                wrk(server.url + "/invocations", mlflow_body, 8, 1, tmp)
                if count == 1:
                    figures["mlflow_1"] = wrk(server.url + "/invocations", mlflow_body, 1, seconds, tmp)
                    figures["mlflow_8"] = wrk(server.url + "/invocations", mlflow_body, 8, seconds, tmp)
                    figures["mlflow_rss"] = tree_peak_rss_mb(server.proc.pid)
                    row("MLflow (its default: 1 worker), 1 connection", figures["mlflow_1"])
                    row("MLflow (its default: 1 worker), 8 connections", figures["mlflow_8"],
                        f"peak RSS {figures['mlflow_rss']:.0f} MB")
                else:
                    figures["mlflow_n8"] = wrk(server.url + "/invocations", mlflow_body, 8, seconds, tmp)
                    row(f"MLflow -w {count}, 8 connections", figures["mlflow_n8"],
                        f"peak RSS {tree_peak_rss_mb(server.proc.pid):.0f} MB")
            finally:
                server.stop()
            if n_workers == 1:
                break
    figures["workers"] = n_workers
    goals(figures)
    return figures


def bench_capture(label: str, python: Path, model_dir: Path, body: dict, seconds: float, tmp: Path) -> None:
    """``/predict`` with prediction capture on vs off, side by side; the captured rows are counted."""
    import sqlite3

    print(f"\n{label}: prediction capture on vs off, one row per request", flush=True)
    spool = tmp / f"{model_dir.name}-spool"
    base = {**workers_env(), "PYTHONPATH": str(ROOT / "monitor"), "MLOPS_MODEL_DIR": str(model_dir)}
    servers = {}
    try:
        for name, extra in (("off", {"MLOPS_CAPTURE": "off"}), ("on", {"MLOPS_CAPTURE_DIR": str(spool)})):
            port = free_port()
            servers[name] = Server(f"capture {name}", [str(python), "-m", "serving", "--port", str(port)],
                                   {**base, **extra}, port, "/health", tmp / f"{model_dir.name}-capture-{name}.log")
        for server in servers.values():
            wrk(server.url + "/predict", body, 8, 1, tmp)  # warm-up
        time.sleep(1.0)
        with sqlite3.connect(spool / "capture.sqlite") as db:
            (before,) = db.execute("SELECT count(*) FROM predictions").fetchone()
        rounds: dict[str, dict[int, list[dict[str, float]]]] = {n: {1: [], 8: []} for n in servers}
        cpu_before = {n: tree_cpu_s(server.proc.pid) for n, server in servers.items()}
        for _ in range(ROUNDS):  # interleaved, so that both see the same machine load
            for connections in (1, 8):
                for name, server in servers.items():
                    rounds[name][connections].append(wrk(server.url + "/predict", body, connections, seconds / 2, tmp))
        answered = sum(r["requests"] for r in [*rounds["on"][1], *rounds["on"][8]])
        time.sleep(1.0)  # the last batch lands
        cpu_per_request = {n: (tree_cpu_s(server.proc.pid) - cpu_before[n]) * 1000 /
                           sum(r["requests"] for r in [*rounds[n][1], *rounds[n][8]]) for n, server in servers.items()}
        with sqlite3.connect(spool / "capture.sqlite") as db:
            (captured,) = db.execute("SELECT count(*) FROM predictions").fetchone()
        captured -= before
    finally:
        for server in servers.values():
            server.stop()
    for connections in (1, 8):
        mid = {n: median(rounds[n][connections], key=lambda r: r["p50_ms"]) for n in servers}
        for name in ("off", "on"):
            row(f"capture {name}, {connections} connection(s)", mid[name])
        p50 = mid["on"]["p50_ms"] / mid["off"]["p50_ms"] - 1
        rate = 1 - mid["on"]["rps"] / mid["off"]["rps"]
        print(f"  {'capture cost at ' + str(connections) + ' connection(s)':<48} p50 {p50:+.1%}, requests/s "
              f"{-rate:+.1%}", flush=True)
    for name in ("off", "on"):  # the median of the rounds'
        tail = median([r["p99_ms"] / r["p50_ms"] for r in rounds[name][8]])
        check(f"p99 / p50 at 8 connections, capture {name}", tail, "<= 3", tail <= 3)
    cost = cpu_per_request["on"] / cpu_per_request["off"] - 1
    print(f"  {'server CPU per request, off -> on':<48} {cpu_per_request['off']:.3f} -> {cpu_per_request['on']:.3f} ms "
          f"({cost:+.1%}; CPU time, so less sensitive to other load than latency)", flush=True)
    print(f"  {'rows captured / requests answered':<48} {captured} / {answered} (wrk leaves out the requests "
          "in flight when a round ends)", flush=True)


def row(what: str, r: dict[str, float], extra: str = "") -> None:
    rate = f"{r['rps']:7.0f} req/s" if "rps" in r else ""
    p99 = f"p99 {r['p99_ms']:7.2f} ms" if "p99_ms" in r else ""
    print(f"  {what:<48} p50 {r['p50_ms']:7.2f} ms  {p99:<15} {rate}  {extra}".rstrip(), flush=True)


def check(what: str, value: float, goal: str, ok: bool, unit: str = "x") -> None:
    """One figure against its goal, met or MISSED."""
    print(f"  {what:<48} {value:7.2f} {unit:<3} goal {goal:<8} {'met' if ok else 'MISSED'}", flush=True)


def goals(f: dict[str, Any]) -> None:
    check("overhead over the model's predict, p50", f["overhead"], "<= 0.5", f["overhead"] <= 0.5, "ms")
    print(f"  {'  of which in the server (validate, encode)':<48} {f['in_server']:7.2f} ms; HTTP and loopback "
          f"{f['overhead'] - f['in_server']:.2f} ms (bare ASGI app: {f['bare_p50']:.2f} ms, or "
          f"{f['busy_floor']:.2f} ms when it computes as long as the predict)", flush=True)
    print(f"  {'  above that floor, round by round':<48} {f['above_floor']:7.2f} ms (what the server adds to "
          "what any app on this uvicorn and machine pays)", flush=True)
    print(f"  {'  against the predict timed in another process':<48} {f['overhead_vs_own']:7.2f} ms (the same "
          "call, but its p50 moves with the load of the moment)", flush=True)
    scale = f["ours_8"]["rps"] / f["ours_1"]["rps"]
    check(f"8 connections / 1 connection ({f['workers']} workers)", scale, ">= 1.7", scale >= 1.7)
    tail = median(f["tails_8"])
    check("p99 / p50 at 8 connections", tail, "<= 3", tail <= 3)
    print(f"  {'  the rounds, each on its own requests':<48} {', '.join(f'{t:.2f}' for t in f['tails_8'])}",
          flush=True)
    if "mlflow_8" in f:
        vs = f["ours_8"]["rps"] / f["mlflow_8"]["rps"]
        check("ours / MLflow, requests/s at 8 connections", vs, ">= 3", vs >= 3)
        latency = f["mlflow_1"]["p50_ms"] / f["ours_1"]["p50_ms"]
        print(f"  {'MLflow / ours, p50 at 1 connection':<48} {latency:7.2f} x", flush=True)
        if "mlflow_n8" in f:
            same = f["ours_8"]["rps"] / f["mlflow_n8"]["rps"]
            print(f"  {'ours / MLflow with as many workers, 8 conns':<48} {same:7.2f} x", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6, help="length of each wrk run (default 6)")
    parser.add_argument("--skip-mlflow", action="store_true", help="do not build or run MLflow's server")
    parser.add_argument("--only-capture", action="store_true", help="measure prediction capture on vs off only")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    print("preparing virtualenvs and models", flush=True)
    ml, dl = serve_venv("ml"), serve_venv("dl")
    mlflow = None if args.skip_mlflow or args.only_capture else mlflow_venv()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as name:
        tmp = Path(name)
        env = workers_env()
        subprocess.run([str(ml), "-c", TRAIN_WINE, str(tmp / "wine"),
                        str(ROOT / "examples" / "wine-sklearn" / "wines.csv.gz")], env=env, check=True)
        subprocess.run([str(dl), "-c", TRAIN_DIGITS, str(tmp / "digits")], env=env, check=True)
        from_wine = json.loads(subprocess.run(
            [str(ml), "-c", "import joblib, sys, json; print(json.dumps([str(c) for c in "
             "joblib.load(sys.argv[1]).feature_names_in_]))", str(tmp / "wine" / "model.joblib")],
            env=env, check=True, capture_output=True, text=True).stdout)
        image = [[[round((i * 8 + j) % 17 / 16, 4)] for j in range(8)] for i in range(8)]
        if not args.only_capture:
            bench_model("wine random forest (scikit-learn, 100 trees)", ml, tmp / "wine", {"rows": [WINE_ROW]},
                        [WINE_ROW], mlflow, {"dataframe_split": {"columns": from_wine, "data": [WINE_ROW]}},
                        args.seconds, tmp)
            bench_model("digits CNN (Keras 3, TensorFlow)", dl, tmp / "digits", {"rows": [image]}, [image], mlflow,
                        {"inputs": [image]}, args.seconds, tmp)
        bench_capture("wine random forest", ml, tmp / "wine", {"rows": [WINE_ROW]}, args.seconds, tmp)
        bench_capture("digits CNN", dl, tmp / "digits", {"rows": [image]}, args.seconds, tmp)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
