"""One model, one row per request: its own predict (timed in a separate process), our server at 1 and 8
connections, a bare ASGI app on the same uvicorn (the floor), in interleaved rounds; MLflow beside them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench._common import Server, free_port, inner, median
from bench.serving import _mlflow
from bench.serving._procs import tree_peak_rss_mb, worker_count
from bench.serving._report import goals, row
from bench.serving._setup import Load, Served, server_env
from bench.serving._wrk import over_predict, wrk


class OwnPredict:
    """The model's own predict, timed in the serving virtualenv (``bench/inner/own_predict.py``), round by round."""

    def __init__(self, model: Served) -> None:
        self.proc = subprocess.Popen([str(model.python), inner("own_predict.py"), str(model.folder),
                                      json.dumps(model.rows)], env=server_env(model), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdin and self.proc.stdout
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        if self.stdout.readline().strip() != "ready":
            raise SystemExit("timing the model's own predict failed")

    def round(self, seconds: float) -> dict[str, float]:
        """The medians (ms) of one round of ``seconds``: ``p50_ms``, and ``estimator_p50_ms`` for scikit-learn."""
        self.stdin.write(f"{seconds}\n")
        self.stdin.flush()
        return json.loads(self.stdout.readline())

    def close(self) -> None:
        self.stdin.close()
        self.proc.wait(30)


def rounds(model: Served, load: Load) -> tuple[dict[str, list[Any]], list[Any], float, int]:
    """The interleaved rounds: each measurement's list of results; our answers; our peak RSS and workers."""
    env, tmp, part = server_env(model), load.tmp, load.seconds / 3
    own = OwnPredict(model)
    ours = Server("ours", [str(model.python), "-m", "serving", "--port", str(port := free_port())], env, port,
                  "/health", tmp / f"{model.folder.name}-ours.log")
    bare = Server("bare ASGI", [str(model.python), inner("bare_asgi.py"), str(port := free_port())], env, port, "/",
                  tmp / f"{model.folder.name}-bare.log")
    got: dict[str, list[Any]] = {k: [] for k in ("own", "estimator", "ours_1", "bare_1", "busy_1", "ours_8")}
    try:
        expected = ours.post("/predict", model.body)["predictions"]
        wrk(ours.url + "/predict", model.body, 8, 1, tmp)  # warm up both workers
        for _ in range(load.rounds):  # interleaved, so that all of them see the same machine load
            timed = own.round(part)
            got["own"].append(timed["p50_ms"])
            if "estimator_p50_ms" in timed:
                got["estimator"].append(timed["estimator_p50_ms"])
            got["ours_1"].append(wrk(ours.url + "/predict", model.body, 1, part, tmp))
            got["bare_1"].append(wrk(bare.url + "/predict", model.body, 1, part, tmp))
            got["busy_1"].append(wrk(f"{bare.url}/predict?busy_ms={got['own'][-1]:.3f}", model.body, 1, part, tmp))
            got["ours_8"].append(wrk(ours.url + "/predict", model.body, 8, part, tmp))
        rss, workers = tree_peak_rss_mb(ours.proc.pid), worker_count(ours.proc.pid)
    finally:
        ours.stop()
        bare.stop()
        own.close()
    return got, expected, rss, workers


def figures_of(got: dict[str, list[Any]]) -> dict[str, Any]:
    """The medians of the rounds, and each round's overhead on its own requests."""
    ours_1, busy_1 = got["ours_1"], got["busy_1"]
    return {
        "own_p50": median(got["own"]),
        "ours_1": median(ours_1, key=lambda r: r["p50_ms"]),
        "bare_p50": median([r["p50_ms"] for r in got["bare_1"]]),
        # the latency's p50 minus the p50 of the predict the server timed
        "overhead": median([over_predict(r) for r in ours_1]),
        "in_server": median([r["server_p50_ms"] - r["model_p50_ms"] for r in ours_1]),
        "busy_floor": median([over_predict(r) for r in busy_1]),
        # ours over that floor, round by round (the floor moves with the machine's load from minute to minute)
        "above_floor": median([over_predict(r) - over_predict(b) for r, b in zip(ours_1, busy_1, strict=True)]),
        "overhead_vs_own": median([r["p50_ms"] - own for r, own in zip(ours_1, got["own"], strict=True)]),
        # each figure at 8 connections is the median of the rounds', the tail ratio too (one 6 s run's p99 can be
        # one moment of the machine's)
        "ours_8": {key: median([r[key] for r in got["ours_8"]]) for key in ("p50_ms", "p99_ms", "rps")},
        "tails_8": sorted(r["p99_ms"] / r["p50_ms"] for r in got["ours_8"]),
    }


def show(f: dict[str, Any], estimator: list[float], n_rounds: int) -> None:
    """Our figures, line by line."""
    row("model's own predict, timed in a separate process", {"p50_ms": f["own_p50"]})
    row("model's predict, timed in the server (same requests)", {"p50_ms": f["ours_1"]["model_p50_ms"]})
    if estimator:
        f["estimator_p50"] = median(estimator)
        row("  scikit-learn's own call on the same array", {"p50_ms": f["estimator_p50"]},
            "(a forest's through joblib: served by walking its trees together, same answers)")
    row("ours, 1 connection", f["ours_1"])
    row("bare ASGI app on the same uvicorn, 1 connection", {"p50_ms": f["bare_p50"]},
        "(the floor: loopback HTTP, no model)")
    row("  the same app computing as long as the predict", {"p50_ms": f["busy_floor"]},
        "(over its compute: the floor at this predict time)")
    row("ours, 8 connections", f["ours_8"], f"peak RSS {f['ours_rss']:.0f} MB (median of {n_rounds} rounds)")


def measure(model: Served, mlflow: Path | None, load: Load) -> dict[str, Any]:
    """Measure one model; print its figures against the goals; return them."""
    print(f"\n{model.label}, one row per request", flush=True)
    got, expected, rss, workers = rounds(model, load)
    figures = {**figures_of(got), "ours_rss": rss, "workers": workers}
    show(figures, got["estimator"], load.rounds)
    if mlflow is not None:
        figures.update(_mlflow.compare(mlflow, model, expected, workers, load))
    goals(figures)
    return figures
