"""Bounded load with Debian's ``wrk`` (script ``bench/inner/post.lua``): requests/s, p50 and p99, and the medians
of the ``Server-Timing`` our server sends."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from bench._common import inner


def wrk(url: str, body: dict[str, Any], connections: int, seconds: float, tmp: Path) -> dict[str, float]:
    """One ``wrk`` run against ``url`` (127.0.0.1): requests/s, p50 and p99 in ms; the server's timings if sent."""
    body_file = tmp / "body.json"
    body_file.write_text(json.dumps(body))
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", inner("post.lua"), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                          env={**os.environ, "WRK_BODY": str(body_file)})
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


def over_predict(result: dict[str, float]) -> float:
    """A wrk run's latency p50 over the p50 of the predict its server said it timed (``Server-Timing``), in ms."""
    return result["p50_ms"] - result["model_p50_ms"]
