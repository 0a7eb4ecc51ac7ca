"""The report's plots (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlops.records import Run, RunStatus, Trial

#: Plot name -> file in the run folder.
PLOTS = {"metric": "metric.png", "curves": "curves.png", "history": "history.png"}


def report_plots(run: Run, trials: list[Trial], run_dir: Path) -> dict[str, Path]:
    """The plots of a run's report: the ones ``report.html`` was written with, else drawn now."""
    if (run_dir / "report.html").is_file():
        return {name: run_dir / f for name, f in PLOTS.items() if (run_dir / f).is_file()}
    return write_plots(run, trials, run_dir)


def write_plots(run: Run, trials: list[Trial], run_dir: Path, runs: Sequence[Run] = ()) -> dict[str, Path]:
    """Write ``metric.png`` (metric per trial vs the target), ``curves.png`` (best trial's history) and
    ``history.png`` (the project's metric over its last runs, from ``runs``: newest first).

    Returns:
        Name -> path of each plot written; a plot with no data is skipped.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, Path] = {}
    scored = [t for t in trials if t.value is not None]
    metric = run.metric
    if scored:
        fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
        ax.plot([t.number for t in scored], [t.value for t in scored], "o-", label=metric)
        ax.axhline(run.target, color="tab:red", linestyle="--", label=f"target {run.target}")
        ax.set_xlabel("trial")
        ax.set_ylabel(metric)
        ax.set_xticks([t.number for t in trials])
        ax.legend(loc="best")
        fig.tight_layout()
        out["metric"] = run_dir / PLOTS["metric"]
        fig.savefig(out["metric"])
        plt.close(fig)
    best = next((t for t in trials if t.number == run.best_trial), None)
    history = best.history if best else {}
    if history:
        fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
        for key, values in sorted(history.items()):
            ax.plot(range(1, len(values) + 1), values, label=key)
        ax.set_xlabel("epoch")
        ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        out["curves"] = run_dir / PLOTS["curves"]
        fig.savefig(out["curves"])
        plt.close(fig)
    past = [r for r in reversed(list(runs)) if r.value is not None and r.metric == metric
            and r.status is not RunStatus.RUNNING]
    if len(past) >= 2:
        fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
        xs = list(range(1, len(past) + 1))
        ax.plot(xs, [r.value for r in past], "o-", color="tab:blue", label=metric)
        for x, r in zip(xs, past, strict=True):
            if r.id == run.id:
                ax.plot([x], [r.value], "o", markersize=11, markerfacecolor="none", color="tab:orange",
                        label="this run")
        ax.axhline(run.target, color="tab:red", linestyle="--", label=f"target {run.target}")
        ax.set_xticks(xs, [r.id.split("-")[0][4:] + "-" + r.id.split("-")[1][:4] for r in past], rotation=45,
                      fontsize="x-small")
        ax.set_xlabel("run (month-day and hour-minute, UTC)")
        ax.set_ylabel(metric)
        ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        out["history"] = run_dir / PLOTS["history"]
        fig.savefig(out["history"])
        plt.close(fig)
    return out
