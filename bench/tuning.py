"""Tuning benchmark: projects that start under their target, tuned by each strategy with the same budget.

Usage: ``.venv/bin/python bench/tuning.py [--max-trials 6] [--backend local] [--strategies optuna,ladder,random]
[--warm on|off|both]``

Runs ``mlops run`` as a user would, project by project, every strategy in turn (so machine
drift hits them alike), and prints one table: success rate, median trials to reach the target
(over the successes) and median wall time per project, and how many trials failed because of a tweak
(the script raised with it where the script as pushed ran): that must be 0 (a breaking tweak is blamed and
never tried again, and tweaks keep the data's type).
Target for the default strategy (optuna): success on at least 90% of the suite, median at most
3 trials, and never a lower success rate than random search. ``--warm both`` runs each strategy with cold trials
(``MLOPS_WARM=0``) and warm ones, side by side project by project, and prints the wall time to the target
before (cold) and after (warm).
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
PROJECTS = sorted(p for p in (ROOT / "bench" / "projects").iterdir() if (p / "train.py").exists())


def run_once(project: Path, strategy: str, max_trials: int, backend: str, home: Path, warm: str = "on") -> dict:
    """One ``mlops run``; returns status, trials and wall time."""
    env = {**os.environ, "MLOPS_HOME": str(home / strategy), "MLOPS_WARM": "0" if warm == "off" else "1"}
    start = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "mlops", "run", str(project), "--strategy", strategy, "--max-trials", str(max_trials),
         "--backend", backend, "--no-notify", "--fresh", "--quiet", "--json"],
        capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.time() - start
    try:
        summary = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"status": "error", "trials": 0, "wall": wall, "error": proc.stderr.strip()[-300:]}
    trials = summary["trials"]
    baseline_ran = bool(trials) and trials[0]["status"] == "ok"
    by_tweak = [t for t in trials[1:] if baseline_ran and t["error_kind"] in ("script_error", "crashed")]
    return {"status": summary["status"], "trials": len(trials), "wall": wall, "value": summary["value"],
            "target": summary["target"], "tweak_failures": len(by_tweak),
            "broken": [b["tweak"] for b in summary.get("broken_tweaks", [])],
            "errors": [t["error"] for t in by_tweak]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-trials", type=int, default=6)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--strategies", default="optuna,ladder,random")
    parser.add_argument("--warm", choices=["on", "off", "both"], default="on",
                        help="warm trials (the default), cold ones (MLOPS_WARM=0), or both side by side")
    args = parser.parse_args()
    modes = ["off", "on"] if args.warm == "both" else [args.warm]
    names = {(s, m): s if len(modes) == 1 else f"{s}/{'warm' if m == 'on' else 'cold'}"
             for s in args.strategies.split(",") for m in modes}
    strategies = list(names.values())
    results: dict[str, list[dict]] = {s: [] for s in strategies}
    with tempfile.TemporaryDirectory() as tmp:
        for project in PROJECTS:
            for (base, mode), strategy in names.items():
                r = run_once(project, base, args.max_trials, args.backend, Path(tmp), mode)
                results[strategy].append(r)
                value = f"{r['value']:.3f}" if r.get("value") is not None else "-"
                failed = f" tweak-failures={r['tweak_failures']} {r['errors']}" if r.get("tweak_failures") else ""
                print(f"{project.name:<20} {strategy:<7} {r['status']:<7} trials={r['trials']} "
                      f"value={value} (target {r.get('target')}) {r['wall']:.0f}s{failed} {r.get('error', '')}",
                      flush=True)
    print(f"\n{len(PROJECTS)} projects, budget {args.max_trials} trials, backend {args.backend}\n")
    print(f"{'strategy':<9} {'success':>9} {'median trials':>14} {'median wall s':>14} {'failed by a tweak':>18}")
    rates = {}
    for strategy in strategies:
        rows = results[strategy]
        ok = [r for r in rows if r["status"] == "passed"]
        rates[strategy] = len(ok) / len(rows)
        med_trials = statistics.median(r["trials"] for r in ok) if ok else float("nan")
        med_wall = statistics.median(r["wall"] for r in rows)
        by_tweak = sum(r.get("tweak_failures", 0) for r in rows)
        total = sum(r["trials"] for r in rows)
        print(f"{strategy:<9} {rates[strategy]:>8.0%} {med_trials:>14.1f} {med_wall:>14.1f} "
              f"{by_tweak:>10} of {total:<5}")
    for (base, mode), strategy in names.items():
        if mode == "on" and (cold := names.get((base, "off"))):
            ratios = [w["wall"] / c["wall"] for w, c in zip(results[strategy], results[cold], strict=True)]
            walls = (statistics.median(r["wall"] for r in results[cold]),
                     statistics.median(r["wall"] for r in results[strategy]))
            print(f"{base}: median wall time per run cold {walls[0]:.1f}s -> warm {walls[1]:.1f}s; "
                  f"warm/cold per project, median {statistics.median(ratios):.2f}")
    if "optuna" in rates and "random" in rates:
        print(f"\nsuccess ratio optuna/random: {rates['optuna'] / rates['random']:.2f}" if rates["random"] else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
