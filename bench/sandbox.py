"""What the local backend's bubblewrap sandbox costs a trial: the fixed cost of a trial cold and warm, without and
with the sandbox, side by side in one run.

Usage: ``.venv/bin/python -m bench.sandbox [--trials 6] [--env ml|dl] [--quick]``

The fixed cost is the whole trial (``LocalBackend.run_trial``) of a script that imports the framework and trains
nothing (``bench/inner/null_ml.py``, ``null_dl.py``). Four ways, one after the other: unsandboxed cold, unsandboxed
warm, bubblewrap cold, bubblewrap warm (its zygote in the sandbox too). The first trial of each way is left out (it
starts the zygote); the median of the others is printed, with the goal: a sandboxed warm trial at most 1 s, and
within 0.2 s of an unsandboxed one. ``--quick``: 1 trial after the first, the goal printed but not judged.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._common import INNER, parser, temp_project
from training.backends import LocalBackend, TrialSpec
from training.backends._sandbox import bwrap


def measure(sandbox: bool, warm: bool, env: str, trials: int, folder: Path) -> list[float]:
    """Seconds per trial of the null project, the first one left out."""
    project = temp_project(folder, f"null-{env}", {"train.py": INNER / f"null_{env}.py"})
    backend = LocalBackend(warm=warm, sandbox=sandbox)
    times = []
    try:
        for n in range(trials + 1):
            run_dir = folder / f"run-{sandbox}-{warm}" / f"trial-{n:03d}"
            start = time.perf_counter()
            result = backend.run_trial(TrialSpec(project=project, entry="train.py", run_dir=run_dir, env=env),
                                       lambda line: None)
            if result.status != "ok":
                raise SystemExit(f"sandbox={sandbox} warm={warm}: the trial failed: {result.error}")
            times.append(time.perf_counter() - start)
    finally:
        backend.close()
    return times[1:]


def main() -> int:
    """The four ways, then the goal."""
    cli = parser(__doc__)
    cli.add_argument("--trials", type=int, default=6)
    cli.add_argument("--env", choices=["ml", "dl"], default="ml")
    args = cli.parse_args()
    trials = 1 if args.quick else args.trials
    if bwrap() is None:
        print("bubblewrap cannot make namespaces here: nothing to compare")
        return 1
    os.environ.setdefault("MLOPS_HOME", tempfile.mkdtemp(prefix="mlops-bench-sandbox-"))
    with tempfile.TemporaryDirectory() as tmp:
        medians = {}
        for sandbox in (False, True):
            for warm in (False, True):
                times = measure(sandbox, warm, args.env, trials, Path(tmp))
                medians[sandbox, warm] = statistics.median(times)
                print(f"{args.env} {'bubblewrap' if sandbox else 'no sandbox':>10} {'warm' if warm else 'cold'}: "
                      f"median {medians[sandbox, warm]:.3f}s per trial (min {min(times):.3f}, max {max(times):.3f}, "
                      f"{len(times)} trials)")
    warm_cost = medians[True, True]
    extra = warm_cost - medians[False, True]
    ok = warm_cost <= 1.0 and extra <= 0.2
    verdict = "not judged (quick mode)" if args.quick else "met" if ok else "NOT met"
    print(f"goal: a sandboxed warm trial <= 1 s and within 0.2 s of an unsandboxed one: {warm_cost:.3f}s, "
          f"{extra:+.3f}s -> {verdict}")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
