"""Speed of trials: the fixed cost of a trial cold and warm, containers against the virtualenv, and memory.

Usage: ``.venv/bin/python -m bench.overhead [--trials 4] [--ml examples/wine-knn-unscaled]
[--dl examples/digits-cnn] [--no-docker] [--quick]`` (Docker needs an engine; set MLOPS_BASE_IMAGE where
python:3.11-slim cannot be pulled).

For each trial environment (scikit-learn and Keras), two projects four ways, one after the other in this one
run: local virtualenv with every trial cold (``MLOPS_WARM=0``), local with warm trials (forked from a zygote that
imported the framework), Docker with a container per trial (``MLOPS_WARM=0``), and Docker warm (trials forked in
the run's long-lived container). The *fixed cost* of a trial is the whole trial of a script that imports the
framework and trains nothing (``bench/inner/null_ml.py``, ``null_dl.py``); the *work* is the real project's trial
minus that (the same tuning run: random strategy, same seed, a target out of reach so that every trial runs). The
first trial of a run is left out (it starts the zygote). Printed against the goals: warm fixed cost at most 1 s
(both backends); the work in a container within 5% of the virtualenv's. Peak resident memory: a trial's (the
harness records it), the zygotes'. ``--quick``: scikit-learn only, 2 trials per run.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._common import INNER, ROOT, mlops, parser, temp_project

#: Work (a trial minus the fixed cost) below this is noise: no container/virtualenv ratio is printed for it.
MIN_WORK_S = 2.0


def null_project(folder: Path, env: str) -> Path:
    """A project that imports the framework, builds nothing worth training, and reports a metric."""
    return temp_project(folder, f"null-{env}", {"train.py": INNER / f"null_{env}.py"})


def measure(project: Path, backend: str, trials: int, env: dict[str, str]) -> dict[str, float]:
    """One tuning run; per-trial wall time (median, first trial excluded), peak RSS."""
    start = time.time()
    proc = mlops("run", str(project), "--backend", backend, "--strategy", "random", "--max-trials", str(trials),
                 "--target", "1.0", "--no-notify", "--fresh", "--quiet", "--json", env=env)
    wall = time.time() - start
    if not proc.stdout.strip():
        raise SystemExit(f"{backend}: mlops run failed: {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    walls, rss = [], []
    for t in summary["trials"]:
        metrics = json.loads((Path(summary["run_dir"]) / f"trial-{t['number']:03d}" / "metrics.json").read_text())
        walls.append(t["duration_s"])
        rss.append(metrics.get("peak_rss_mb") or 0)
    later = walls[1:] if len(walls) > 1 else walls
    return {"trials": len(walls), "wall": statistics.median(later), "first": walls[0], "rss": max(rss),
            "run_wall": wall}


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
    """Build the environments, run every variant, print the table and the goals."""
    cli = parser(__doc__)
    cli.add_argument("--trials", type=int, default=4)
    cli.add_argument("--ml", type=Path, default=ROOT / "examples" / "wine-knn-unscaled")
    cli.add_argument("--dl", type=Path, default=ROOT / "examples" / "digits-cnn")
    cli.add_argument("--no-docker", action="store_true")
    args = cli.parse_args()
    if args.quick:
        args.trials = 2
    projects = (("ml", args.ml),) if args.quick else (("ml", args.ml), ("dl", args.dl))
    variants = [("local cold", "local", {"MLOPS_WARM": "0"}), ("local warm", "local", {"MLOPS_WARM": "1"})]
    if not args.no_docker:
        variants += [("docker cold", "docker", {"MLOPS_WARM": "0"}), ("docker warm", "docker", {"MLOPS_WARM": "1"})]
    rows: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = {**os.environ, "MLOPS_HOME": tmp, "NO_COLOR": "1"}
        cache = Path(os.environ.get("MLOPS_CACHE_DIR") or Path.home() / ".cache" / "mlops")
        zygotes = 0.0
        for env, project in projects:
            null = null_project(Path(tmp), env)
            for backend in sorted({b for _, b, _ in variants}):  # environments built before anything is timed
                proc = mlops("build", str(project), "--backend", backend, env=base)
                if proc.returncode != 0:
                    raise SystemExit(f"mlops build --backend {backend} failed: {proc.stderr[-1500:]}")
            for name, backend, extra in variants:
                rows.setdefault(env, {})[name] = {
                    "null": measure(null, backend, args.trials, {**base, **extra}),
                    "real": measure(project, backend, args.trials, {**base, **extra})}
            zygotes = max(zygotes, zygote_rss_mb(cache))
    print(f"{args.trials} trials per run (random strategy, same seed); medians over trials 2..{args.trials}; "
          + ", ".join(f"{env}: {project.name}" for env, project in projects) + "\n")
    print(f"{'env':<4} {'variant':<11} {'fixed cost s':>12} {'1st trial':>10} {'work s':>8} {'peak RSS MB':>12}")
    for env, done in rows.items():
        for name, r in done.items():
            work = r["real"]["wall"] - r["null"]["wall"]
            print(f"{env:<4} {name:<11} {r['null']['wall']:>12.2f} {r['null']['first']:>10.2f} {work:>8.2f} "
                  f"{r['real']['rss']:>12.0f}")
    print()
    for env, r in rows.items():
        for where in ("local", "docker"):
            if f"{where} warm" not in r:
                continue
            cold, warm = r[f"{where} cold"]["null"]["wall"], r[f"{where} warm"]["null"]["wall"]
            print(f"{env}: {where} warm fixed cost {warm:.2f}s (goal <= 1 s: {'met' if warm <= 1 else 'MISSED'}), "
                  f"cold {cold:.2f}s, warm/cold {warm / cold:.2f}")
        for mode in ("cold", "warm"):
            if f"docker {mode}" in r:
                work = {n: r[n]["real"]["wall"] - r[n]["null"]["wall"] for n in (f"docker {mode}", f"local {mode}")}
                if min(work.values()) < MIN_WORK_S:
                    print(f"{env}: work in a container / in the virtualenv ({mode}): not compared, the work "
                          f"({work[f'local {mode}']:.2f}s) is under {MIN_WORK_S:.0f}s, within the fixed cost's noise")
                    continue
                ratio = work[f"docker {mode}"] / work[f"local {mode}"]
                print(f"{env}: work in a container / in the virtualenv ({mode}) {ratio:.3f} "
                      f"(goal <= 1.05: {'met' if ratio <= 1.05 else 'MISSED'})")
    print(f"\nzygotes resident after the runs: {zygotes:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
