"""``/predict`` with prediction capture on vs off: two servers of the same model in interleaved rounds at 1 and 8
connections; the server CPU per request; the rows captured counted against the requests answered."""

from __future__ import annotations

import sqlite3
import time
from functools import partial
from pathlib import Path

from bench._common import Server, free_port, median, side_by_side
from bench.serving._procs import tree_cpu_s
from bench.serving._report import check, row
from bench.serving._setup import Load, Served, server_env
from bench.serving._wrk import wrk

Rounds = dict[str, dict[int, list[dict[str, float]]]]


def spool_rows(spool: Path) -> int:
    """Rows in the capture spool."""
    with sqlite3.connect(spool / "capture.sqlite") as db:
        (count,) = db.execute("SELECT count(*) FROM predictions").fetchone()
    return count


def rounds(model: Served, load: Load, spool: Path) -> tuple[Rounds, dict[str, float], int, int]:
    """The interleaved rounds of both servers; their CPU ms per request; rows captured; requests answered."""
    servers: dict[str, Server] = {}
    try:
        for name, extra in (("off", {"MLOPS_CAPTURE": "off"}), ("on", {"MLOPS_CAPTURE_DIR": str(spool)})):
            port = free_port()
            servers[name] = Server(f"capture {name}", [str(model.python), "-m", "serving", "--port", str(port)],
                                   server_env(model, **extra), port, "/health",
                                   load.tmp / f"{model.folder.name}-capture-{name}.log")
        for server in servers.values():
            wrk(server.url + "/predict", model.body, 8, 1, load.tmp)  # warm-up
        time.sleep(1.0)
        before = spool_rows(spool)
        cpu_before = {n: tree_cpu_s(server.proc.pid) for n, server in servers.items()}
        runs = side_by_side(load.rounds, {(name, c): partial(wrk, server.url + "/predict", model.body, c,
                                                             load.seconds / 2, load.tmp)
                                          for c in (1, 8) for name, server in servers.items()})
        got: Rounds = {n: {c: runs[n, c] for c in (1, 8)} for n in servers}
        time.sleep(1.0)  # the last batch lands
        requests = {n: sum(r["requests"] for r in [*got[n][1], *got[n][8]]) for n in servers}
        cpu = {n: (tree_cpu_s(server.proc.pid) - cpu_before[n]) * 1000 / requests[n] for n, server in servers.items()}
        captured = spool_rows(spool) - before
    finally:
        for server in servers.values():
            server.stop()
    return got, cpu, captured, requests["on"]


def measure(model: Served, load: Load) -> None:
    """Capture on vs off for one model, printed."""
    print(f"\n{model.name}: prediction capture on vs off, one row per request", flush=True)
    got, cpu, captured, answered = rounds(model, load, load.tmp / f"{model.folder.name}-spool")
    for connections in (1, 8):
        mid = {n: median(got[n][connections], key=lambda r: r["p50_ms"]) for n in got}
        for name in ("off", "on"):
            row(f"capture {name}, {connections} connection(s)", mid[name])
        p50 = mid["on"]["p50_ms"] / mid["off"]["p50_ms"] - 1
        rate = 1 - mid["on"]["rps"] / mid["off"]["rps"]
        print(f"  {'capture cost at ' + str(connections) + ' connection(s)':<48} p50 {p50:+.1%}, requests/s "
              f"{-rate:+.1%}", flush=True)
    for name in ("off", "on"):  # the median of the rounds'
        tail = median([r["p99_ms"] / r["p50_ms"] for r in got[name][8]])
        check(f"p99 / p50 at 8 connections, capture {name}", tail, "<= 3", tail <= 3)
    cost = cpu["on"] / cpu["off"] - 1
    print(f"  {'server CPU per request, off -> on':<48} {cpu['off']:.3f} -> {cpu['on']:.3f} ms "
          f"({cost:+.1%}; CPU time, so less sensitive to other load than latency)", flush=True)
    print(f"  {'rows captured / requests answered':<48} {captured} / {answered} (wrk leaves out the requests "
          "in flight when a round ends)", flush=True)
