"""The report's plots (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

from mlops.records import Run, Trial

#: Plot name -> file in the run folder.
PLOTS = {"metric": "metric.png", "curves": "curves.png"}


def report_plots(run: Run, trials: list[Trial], run_dir: Path) -> dict[str, Path]:
    """The plots of a run's report: the ones ``report.html`` was written with, else drawn now."""
    if (run_dir / "report.html").is_file():
        return {name: run_dir / f for name, f in PLOTS.items() if (run_dir / f).is_file()}
    return write_plots(run, trials, run_dir)


def write_plots(run: Run, trials: list[Trial], run_dir: Path) -> dict[str, Path]:
    """Write ``metric.png`` (metric per trial vs the target) and ``curves.png`` (best trial's history).

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
    return out
