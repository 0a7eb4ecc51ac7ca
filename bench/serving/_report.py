"""The lines the serving benchmark prints: a measurement, a figure against its goal, and one model's goals."""

from __future__ import annotations

from typing import Any

from bench._common import median


def row(what: str, r: dict[str, float], extra: str = "") -> None:
    """One measurement: p50, p99 and requests/s where known."""
    rate = f"{r['rps']:7.0f} req/s" if "rps" in r else ""
    p99 = f"p99 {r['p99_ms']:7.2f} ms" if "p99_ms" in r else ""
    print(f"  {what:<48} p50 {r['p50_ms']:7.2f} ms  {p99:<15} {rate}  {extra}".rstrip(), flush=True)


def check(what: str, value: float, goal: str, ok: bool, unit: str = "x") -> None:
    """One figure against its goal, met or MISSED."""
    print(f"  {what:<48} {value:7.2f} {unit:<3} goal {goal:<8} {'met' if ok else 'MISSED'}", flush=True)


def goals(f: dict[str, Any]) -> None:
    """One model's figures against the goals: overhead, scaling, tail, and MLflow when measured."""
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
