"""Speed of trials: the fixed cost of a trial cold and warm, containers against the virtualenv, and memory.

Usage: ``.venv/bin/python bench/overhead.py [--trials 4] [--ml examples/wine-knn-unscaled]
[--dl examples/digits-cnn] [--no-docker]`` (Docker needs an engine; set MLOPS_BASE_IMAGE where
python:3.11-slim cannot be pulled).

For each trial environment (scikit-learn and Keras), the same tuning run (random strategy, same seed, a target
out of reach so that every trial runs) three ways, one after the other in this one run: local virtualenv with
every trial cold (``MLOPS_WARM=0``), local with warm trials (forked from a zygote that imported the framework),
and Docker. A trial's fixed cost is its wall time minus the time the harness itself ran the script
(``metrics.json`` ``duration_s``); the first trial of a run is left out (it starts the zygote). Printed against
the goals: warm fixed cost at most 1 s; the script's own time in a container within 5% of the virtualenv's.
Peak resident memory: a trial's (the harness records it), and the zygotes'.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mlops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlops", *args], capture_output=True, text=True, env=env, cwd=ROOT)


def measure(project: Path, backend: str, trials: int, env: dict[str, str]) -> dict[str, float]:
    """One tuning run; per-trial fixed cost and own time (medians, first trial excluded), peak RSS."""
    start = time.time()
    proc = mlops("run", str(project), "--backend", backend, "--strategy", "random", "--max-trials", str(trials),
                 "--target", "1.0", "--no-notify", "--fresh", "--quiet", "--json", env=env)
    wall = time.time() - start
    if not proc.stdout.strip():
        raise SystemExit(f"{backend}: mlops run failed: {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    fixed, own, rss = [], [], []
    for t in summary["trials"]:
        metrics = json.loads((Path(summary["run_dir"]) / f"trial-{t['number']:03d}" / "metrics.json").read_text())
        fixed.append(t["duration_s"] - metrics["duration_s"])
        own.append(metrics["duration_s"])
        rss.append(metrics.get("peak_rss_mb") or 0)
    later = slice(1, None) if len(fixed) > 1 else slice(None)
    return {"trials": len(fixed), "fixed": statistics.median(fixed[later]), "first_fixed": fixed[0],
            "own": statistics.median(own[later]), "rss": max(rss), "run_wall": wall}


def zygote_rss_mb(cache: Path) -> float:
    """Summed resident memory of the live zygotes."""
    total = 0.0
    for pid_file in (cache / "warm").glob("*.sock.pid"):
        try:
            status = Path(f"/proc/{pid_file.read_text().strip()}/status").read_text()
        except (OSError, ValueError):
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1024
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--ml", type=Path, default=ROOT / "examples" / "wine-knn-unscaled")
    parser.add_argument("--dl", type=Path, default=ROOT / "examples" / "digits-cnn")
    parser.add_argument("--no-docker", action="store_true")
    args = parser.parse_args()
    variants = [("local cold", "local", {"MLOPS_WARM": "0"}), ("local warm", "local", {"MLOPS_WARM": "1"})]
    if not args.no_docker:
        variants.append(("docker", "docker", {}))
    rows: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = {**os.environ, "MLOPS_HOME": tmp, "NO_COLOR": "1"}
        cache = Path(os.environ.get("MLOPS_CACHE_DIR") or Path.home() / ".cache" / "mlops")
        zygotes = 0.0
        for project in (args.ml, args.dl):
            for backend in sorted({b for _, b, _ in variants}):  # environments built before anything is timed
                proc = mlops("build", str(project), "--backend", backend, env=base)
                if proc.returncode != 0:
                    raise SystemExit(f"mlops build --backend {backend} failed: {proc.stderr[-1500:]}")
            for name, backend, extra in variants:
                rows.setdefault(project.name, {})[name] = measure(project, backend, args.trials, {**base, **extra})
            zygotes = max(zygotes, zygote_rss_mb(cache))
    print(f"{args.trials} trials per run (random strategy, same seed); medians over trials 2..{args.trials}\n")
    print(f"{'project':<20} {'variant':<11} {'fixed cost s':>12} {'1st trial':>10} {'own s':>7} {'peak RSS MB':>12}")
    for project, variants_done in rows.items():
        for name, r in variants_done.items():
            print(f"{project:<20} {name:<11} {r['fixed']:>12.2f} {r['first_fixed']:>10.2f} {r['own']:>7.2f} "
                  f"{r['rss']:>12.0f}")
    print()
    for project, r in rows.items():
        cold, warm = r["local cold"]["fixed"], r["local warm"]["fixed"]
        print(f"{project}: warm fixed cost {warm:.2f}s (goal <= 1 s: {'met' if warm <= 1 else 'MISSED'}), "
              f"cold {cold:.2f}s, warm/cold {warm / cold:.2f}")
        if "docker" in r:
            ratio = r["docker"]["own"] / r["local cold"]["own"]
            print(f"{project}: container/virtualenv time of the script itself {ratio:.3f} "
                  f"(goal <= 1.05: {'met' if ratio <= 1.05 else 'MISSED'})")
    print(f"\nzygotes resident after the runs: {zygotes:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
