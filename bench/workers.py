"""Workers benchmark: the same projects tuned with 1 and with 2 workers in one run of this script, and what 16
agents would give, projected from the measured per-trial timings.

Usage: ``.venv/bin/python -m bench.workers [--projects knn-unscaled,...] [--budget 6] [--backend local] [--repeat 2]
[--quick]``

For each project (``bench/projects``), each measurement ``--repeat`` times (the median run is kept), alternating
which worker count goes first so that machine drift hits both:

- time to target: ``mlops train`` (the stage the workers change) with the project's own target,
  ``--strategy ladder`` (the same order of trials for both counts), ``--workers 1`` and ``--workers 2``;
- trials per hour: the same with a target out of reach and ``--max-trials BUDGET``, so every run does the
  whole budget.

Then, from the trials' recorded start and end times: how much longer a trial takes when two run at once
(what limits the speed-up on this machine's cores), the coordination gap between two trials of one worker,
and, on paper, 16 agents (each its own machine, so a trial takes as long as with one worker): the script as
pushed first and alone, then up to 16 trials at once, each worker asking in turn under the run's lock.
``--quick``: the ``knn-unscaled`` project only, a budget of 2 trials, each measurement once.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench._common import ROOT, mlops, parser
from core.store import get_run_store

DEFAULT_PROJECTS = "aps-knn-f1,dense-unscaled,few-epochs"


def run(project: Path, workers: int, home: Path, extra: list[str], backend: str) -> dict:
    """One ``mlops train`` (the stage the workers change): its summary, its trials as stored, its wall time and
    its tuning time (from the first trial's start to the end of the last one, stopped ones included)."""
    env = {**os.environ, "MLOPS_HOME": str(home), "NO_COLOR": "1"}
    env.pop("MONGODB_URI", None)
    start = time.time()
    proc = mlops("train", str(project), "--workers", str(workers), "--strategy", "ladder", "--backend", backend,
                 "--fresh", "--quiet", "--json", *extra, env=env)
    wall = time.time() - start
    try:
        summary = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"{project.name} with {workers} worker(s) failed: {proc.stderr.strip()[-500:]}") from None
    store = get_run_store("", home=home)
    trials = [t for t in store.trials(summary["run_id"]) if t.started_at and t.finished_at]
    store.close()
    tuning = max(t.finished_at for t in trials) - min(t.started_at for t in trials) if trials else wall
    return {"summary": summary, "trials": trials, "wall": wall, "tuning": tuning}


def first_reaching(trials: list) -> int | None:
    """Index (in start order) of the first trial that reached the target."""
    ordered = sorted(trials, key=lambda t: t.started_at)
    return next((i for i, t in enumerate(ordered) if t.reached), None)


def gaps(trials: list) -> list[float]:
    """Seconds between the end of a worker's trial and the start of its next one (asking, preparing)."""
    out = []
    by_worker: dict[str, list] = {}
    for t in trials:
        by_worker.setdefault(t.worker, []).append(t)
    for rows in by_worker.values():
        rows.sort(key=lambda t: t.started_at)
        out += [b.started_at - a.finished_at for a, b in itertools.pairwise(rows)]
    return out


def simulate(durations: list[float], agents: int, gap: float, ask: float, until: int | None = None) -> float:
    """Wall seconds for ``agents`` workers to run trials of these durations in this order, the first alone (the
    script as pushed), each start ``gap`` after its worker's previous trial and asks serialized (``ask`` each);
    with ``until``, the time when that trial ends (the others are stopped then)."""
    free = [0.0] * agents
    lock_free = 0.0
    ends = []
    for i, duration in enumerate(durations):
        worker = min(range(agents), key=lambda w: free[w])
        ready = free[worker] + (gap if free[worker] else 0.0)
        if i > 0:
            ready = max(ready, ends[0])  # everything waits for the script as pushed
        begin = max(ready, lock_free)
        lock_free = begin + ask
        end = begin + duration
        free[worker] = end
        ends.append(end)
        if until is not None and i == until:
            return end
    return max(ends) if ends else 0.0


def main() -> int:
    """Measure each project with 1 and 2 workers, print the table, then the projection."""
    cli = parser(__doc__)
    cli.add_argument("--projects", default=DEFAULT_PROJECTS)
    cli.add_argument("--budget", type=int, default=6)
    cli.add_argument("--backend", default="local")
    cli.add_argument("--agents", type=int, default=16)
    cli.add_argument("--repeat", type=int, default=2, help="runs of each measurement (the median is kept: other "
                                                           "work on the machine disturbs single runs)")
    args = cli.parse_args()
    if args.quick:
        args.projects, args.budget, args.repeat = "knn-unscaled", 2, 1
    projects = [ROOT / "bench" / "projects" / name for name in args.projects.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, project in enumerate(projects):
            runs: dict[tuple[str, int], list[dict]] = {}
            for r in range(args.repeat):
                for workers in (1, 2) if (i + r) % 2 == 0 else (2, 1):
                    home = Path(tmp) / f"{project.name}-{workers}-{r}"
                    runs.setdefault(("target", workers), []).append(run(project, workers, home / "target", [],
                                                                        args.backend))
                    runs.setdefault(("budget", workers), []).append(
                        run(project, workers, home / "budget", ["--target", "1.0", "--max-trials", str(args.budget)],
                            args.backend))
            got = {key: sorted(found, key=lambda x: x["tuning"])[len(found) // 2] for key, found in runs.items()}
            rows.append((project.name, got))
            for workers in (1, 2):
                t, b = got["target", workers], got["budget", workers]
                print(f"{project.name:<16} workers={workers} to target {t['tuning']:5.1f}s of tuning "
                      f"({t['wall']:.1f}s in all; {t['summary']['status']}, {len(t['trials'])} trials); "
                      f"{len(b['trials'])} trials in {b['tuning']:5.1f}s = "
                      f"{3600 * len(b['trials']) / b['tuning']:5.0f}/h", flush=True)

    print(f"\n{len(rows)} projects, backend {args.backend}, {os.cpu_count()} CPUs, budget {args.budget} trials, "
          "ladder order; times are of the tuning (first trial start to last trial end), which the workers change; "
          "the rest of 'mlops train' (detect, environment check, report) is the same either way\n")
    print(f"{'project':<16} {'to target 1w':>12} {'2w':>7} {'speed-up':>9} {'trials/h 1w':>12} {'2w':>7} "
          f"{'speed-up':>9} {'trial s 1w':>11} {'2w':>6} {'slower':>7}")
    ratios_t, ratios_h, slow = [], [], []
    projections = []
    for name, got in rows:
        t1, t2 = got["target", 1]["tuning"], got["target", 2]["tuning"]
        b1, b2 = got["budget", 1], got["budget", 2]
        h1, h2 = 3600 * len(b1["trials"]) / b1["tuning"], 3600 * len(b2["trials"]) / b2["tuning"]
        d1 = statistics.mean(t.duration_s for t in b1["trials"])
        together = [t.duration_s for t in b2["trials"][1:]]  # the first runs alone
        d2 = statistics.mean(together) if together else d1
        ratios_t.append(t1 / t2)
        ratios_h.append(h2 / h1)
        slow.append(d2 / d1)
        print(f"{name:<16} {t1:11.1f}s {t2:6.1f}s {t1 / t2:8.2f}x {h1:12.0f} {h2:7.0f} {h2 / h1:8.2f}x "
              f"{d1:10.1f}s {d2:5.1f}s {d2 / d1:6.2f}x")
        durations = [t.duration_s for t in sorted(b1["trials"], key=lambda t: t.started_at)]
        gap = statistics.median(gaps(b1["trials"]) or [0.0])
        ask = min(gap, 0.5)  # the part of the gap spent under the lock, at most: asking and creating the trial
        reach = first_reaching(got["target", 1]["trials"])
        target_durations = [t.duration_s for t in sorted(got["target", 1]["trials"], key=lambda t: t.started_at)]
        projections.append((name, durations, gap, ask, reach, target_durations, h1))

    print(f"\nmedian speed-up with 2 workers: time to target {statistics.median(ratios_t):.2f}x, "
          f"trials/hour {statistics.median(ratios_h):.2f}x; a trial takes {statistics.median(slow):.2f}x as long "
          f"when two run at once on {os.cpu_count()} CPUs")
    print("what limits it here: two trials (each a Python process training on every core it is given) share "
          f"{os.cpu_count()} cores with the two workers themselves, so each trial runs slower side by side; the "
          "script as pushed runs alone first; and each worker process pays its start (imports, environment check).")

    agents = args.agents
    print(f"\non paper, {agents} agents (one trial each at a time, each on its own machine: trials as long as with "
          "one worker; asking serialized under the run's lock):")
    print(f"{'project':<16} {'trials/h 1w':>12} {f'{agents} agents':>12} {'x':>6} {'to target 1w':>13} "
          f"{f'{agents} agents':>12} {'x':>6}")
    for name, durations, gap, ask, reach, target_durations, h1 in projections:
        many = durations * max(1, (4 * agents) // max(1, len(durations)))  # a long run: budget of ~4 rounds
        one_wall = simulate(many, 1, gap, ask)
        agents_wall = simulate(many, agents, gap, ask)
        projected = h1 * one_wall / agents_wall
        line = f"{name:<16} {h1:12.0f} {projected:12.0f} {one_wall / agents_wall:5.1f}x"
        if reach is not None:
            one_t = simulate(target_durations, 1, gap, ask, until=reach)
            many_t = simulate(target_durations, agents, gap, ask, until=reach)
            line += f" {one_t:12.1f}s {many_t:11.1f}s {one_t / many_t:5.1f}x"
        else:
            line += f" {'(target not reached)':>31}"
        print(line + f"   (gap between two trials of a worker: {gap:.1f}s)")
    print(f"\nThe projection's ceiling: after the script as pushed, time to target is at best that trial plus the "
          f"one that reaches the target (all start at once when {agents} >= the trials needed); trials/hour grows "
          "with the agents until asking (serialized, well under a second each) or the strategy's supply of "
          "configurations (the ladder has 5 to 6 rungs, Optuna as many as the budget) runs out.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
