"""The report's plots (matplotlib, no display needed)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.records import Run, RunStatus, Trial, TrialStatus

#: Plot name -> file in the run folder.
PLOTS = {"metric": "metric.png", "curves": "curves.png", "history": "history.png", "timeline": "timeline.png"}
#: Bar colour of a trial on the timeline, by how it ended.
TIMELINE_COLOURS = {"reached the target": "tab:green", TrialStatus.OK: "tab:blue", TrialStatus.FAILED: "tab:red",
                    TrialStatus.PRUNED: "tab:gray", TrialStatus.STOPPED: "silver", TrialStatus.REAPED: "tab:orange",
                    TrialStatus.RUNNING: "wheat"}


#: At most this many trials get a learning-curve plot of their own (the first ones: the diagnosis's story).
MAX_TRIAL_CURVES = 12


def trial_curves_name(number: int) -> str:
    """The plot name of a trial's learning curves (its file is ``curves-trial-NNN.png``)."""
    return f"curves-trial-{number}"


def report_plots(run: Run, trials: list[Trial], run_dir: Path) -> dict[str, Path]:
    """The plots of a run's report: the ones ``report.html`` was written with, else drawn now."""
    if (run_dir / "report.html").is_file():
        found = {name: run_dir / f for name, f in PLOTS.items() if (run_dir / f).is_file()}
        for t in trials:
            path = run_dir / f"{trial_curves_name(t.number)}.png"
            if path.is_file():
                found[trial_curves_name(t.number)] = path
        return found
    return write_plots(run, trials, run_dir)


def _draw_trial_curves(plt: Any, trial: Trial, metric: str, path: Path) -> None:
    """Loss (left) and the other per-epoch values (right) of one trial, training solid and validation dashed;
    an epoch whose loss was not finite is marked."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 2.6), dpi=90)
    for key, values in sorted(trial.history.items()):
        ax = left if key.endswith("loss") else right
        epochs = range(1, len(values) + 1)
        finite = [v if math.isfinite(v) else float("nan") for v in values]
        ax.plot(epochs, finite, "--" if key.startswith("val_") else "-", label=key)
        bad = [i + 1 for i, v in enumerate(values) if not math.isfinite(v)]
        if bad:
            ax.axvline(bad[0], color="tab:red", linestyle=":", label=f"{key} not finite from epoch {bad[0]}")
    for ax, what in ((left, "loss"), (right, "metrics")):
        ax.set_xlabel("epoch")
        ax.set_title(what, fontsize="small")
        if ax.lines:
            ax.legend(loc="best", fontsize="x-small")
    fig.suptitle(f"trial {trial.number}: {trial.label or 'baseline'}"[:90], fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_plots(run: Run, trials: list[Trial], run_dir: Path, runs: Sequence[Run] = ()) -> dict[str, Path]:
    """Write ``metric.png`` (metric per trial vs the target), ``curves.png`` (best trial's history),
    ``curves-trial-N.png`` (each trial's learning curves, for "what we saw -> what we changed"),
    ``history.png`` (the project's metric over its last runs, from ``runs``: newest first) and ``timeline.png``
    (the trials over time, one row per worker).

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
    for t in [t for t in trials if t.history][:MAX_TRIAL_CURVES]:
        name = trial_curves_name(t.number)
        out[name] = run_dir / f"{name}.png"
        _draw_trial_curves(plt, t, metric, out[name])
    rows = timeline_rows(trials)
    if rows:
        _draw_timeline(plt, rows, run_dir / PLOTS["timeline"])
        out["timeline"] = run_dir / PLOTS["timeline"]
    return out


def timeline_rows(trials: list[Trial], now: float | None = None) -> dict[str, list[dict[str, Any]]]:
    """Worker -> its trials as bars (``number``, ``start`` and ``end`` in seconds since the first trial started,
    ``colour``), workers in the order they started their first trial. A running trial ends ``now``."""
    timed = sorted((t for t in trials if t.started_at), key=lambda t: t.started_at or 0)
    if not timed:
        return {}
    origin = timed[0].started_at or 0
    now = now or time.time()
    rows: dict[str, list[dict[str, Any]]] = {}
    for t in timed:
        end = t.finished_at or (now if t.status is TrialStatus.RUNNING else (t.started_at or 0) + t.duration_s)
        colour = TIMELINE_COLOURS["reached the target" if t.reached else t.status]
        rows.setdefault(t.worker or "?", []).append({"number": t.number, "start": (t.started_at or 0) - origin,
                                                      "end": end - origin, "colour": colour})
    return rows


def matplotlib_patch(colour: str, label: str) -> Any:
    """A legend entry of one colour."""
    from matplotlib.patches import Patch

    return Patch(facecolor=colour, edgecolor="black", linewidth=0.5, label=label)


def _draw_timeline(plt: Any, rows: dict[str, list[dict[str, Any]]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.8), dpi=100)
    for y, bars in enumerate(rows.values()):
        for bar in bars:
            width = max(bar["end"] - bar["start"], 0.01)
            ax.barh(y, width, left=bar["start"], color=bar["colour"], edgecolor="black", linewidth=0.5)
            ax.text(bar["start"] + width / 2, y, str(bar["number"]), ha="center", va="center", fontsize="small")
    ax.set_yticks(range(len(rows)), [f"worker {i + 1}\n{w}" for i, w in enumerate(rows)], fontsize="small")
    ax.invert_yaxis()
    used = {bar["colour"] for bars in rows.values() for bar in bars}
    names = {colour: "under the target" if status == TrialStatus.OK else str(status)
             for status, colour in TIMELINE_COLOURS.items()}
    handles = [matplotlib_patch(colour, names[colour]) for colour in TIMELINE_COLOURS.values() if colour in used]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=len(handles),
              fontsize="small", frameon=False)
    ax.set_xlabel("seconds since the first trial started")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
