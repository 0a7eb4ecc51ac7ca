"""Orchestration overhead of the local and Docker backends, side by side in one run.

Usage: ``.venv/bin/python bench/overhead.py [--trials 5] [--project examples/digits-cnn]``
(needs a Docker engine; set MLOPS_BASE_IMAGE where python:3.11-slim cannot be pulled).

The same tuning run (random strategy, same seed, an unreachable target so that every trial runs) on
each backend with a warm image / virtualenv. For every trial it compares the wall time the backend
measured (process or container start to result) with the time the harness itself spent running the
script (``metrics.json`` ``duration_s``): overhead = (wall - own) / own. Target: Docker at most 10%.
It also checks that changing only the training code rebuilds no image.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mlops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlops", *args], capture_output=True, text=True, env=env, cwd=ROOT)


def measure(project: Path, backend: str, trials: int, env: dict[str, str]) -> dict[str, float]:
    """One tuning run; returns the summed trial wall time, the harness's own time, and the run's wall time."""
    start = time.time()
    proc = mlops("run", str(project), "--backend", backend, "--strategy", "random", "--max-trials", str(trials),
                 "--target", "1.01", "--no-notify", "--fresh", "--quiet", "--json", env=env)
    wall = time.time() - start
    if not proc.stdout.strip():
        raise SystemExit(f"{backend}: mlops run failed: {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    own = 0.0
    for t in summary["trials"]:
        metrics = Path(summary["run_dir"]) / f"trial-{t['number']:03d}" / "metrics.json"
        own += json.loads(metrics.read_text())["duration_s"]
    trial_wall = sum(t["duration_s"] for t in summary["trials"])
    return {"trials": len(summary["trials"]), "trial_wall": trial_wall, "own": own, "run_wall": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--project", type=Path, default=ROOT / "examples" / "digits-cnn")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MLOPS_HOME": tmp, "NO_COLOR": "1"}
        for backend in ("local", "docker"):  # warm: venv and image built before anything is timed
            proc = mlops("build", str(args.project), "--backend", backend, env=env)
            if proc.returncode != 0:
                raise SystemExit(f"mlops build --backend {backend} failed: {proc.stderr[-1500:]}")
        results = {}
        for backend in ("local", "docker"):
            results[backend] = measure(args.project, backend, args.trials, env)
        changed = Path(tmp) / "changed"
        shutil.copytree(args.project, changed)
        train = changed / "train.py"
        train.write_text(train.read_text().replace("epochs=8", "epochs=9"))
        start = time.time()
        rebuild = mlops("build", str(changed), "--backend", "docker", env=env)
        rebuild_s = time.time() - start
    print(f"{args.trials} trials of {args.project.name} per backend (random strategy, same seed)\n")
    print(f"{'backend':<8} {'trials':>6} {'own s':>8} {'trial wall s':>13} {'overhead':>9} {'run wall s':>11}")
    for backend, r in results.items():
        overhead = (r["trial_wall"] - r["own"]) / r["own"]
        print(f"{backend:<8} {r['trials']:>6} {r['own']:>8.1f} {r['trial_wall']:>13.1f} {overhead:>8.1%} "
              f"{r['run_wall']:>11.1f}")
    ratio = results["docker"]["trial_wall"] / results["local"]["trial_wall"]
    print(f"\ndocker/local trial wall time ratio: {ratio:.2f}")
    cached = "(cached)" in rebuild.stdout + rebuild.stderr
    print(f"after a training-code change: image {'reused, no build' if cached else 'REBUILT'} ({rebuild_s:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
