"""Closing a run: the best trial picked, a data project's winner scored once on the test split, its model
registered, the best script and its diff written, the report and the summary."""

from __future__ import annotations

import json
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import paths
from core.config import ProjectConfig
from core.console import Out
from core.data import read_snapshot
from core.errors import StoreError, UsageError
from core.evaluation import evaluate_predictions
from core.notify.report import STYLESHEET, write_report
from core.records import Evaluation, ModelVersion, Run, RunStatus, Trial, TrialStatus
from core.registry import Registry
from core.store import RunStore
from mlops.pipeline.summary import Summary
from training.carry import model_file as trial_model_file
from training.dataproject import PREDICTIONS, TRANSFORM, held_out_labels
from training.detect import load_source
from training.harness.source import read_source, write_source
from training.tweaks import apply_config

if TYPE_CHECKING:
    from core.data import Snapshot


def finish(store: RunStore, run_id: str, cfg: ProjectConfig, out: Out, stop_reason: str = "",
           snapshot: Snapshot | None = None) -> Summary:
    """Close a run: pick the best trial, score a data project's winner on the test split (once), register its
    model, write the best script, report and summary.

    Raises:
        StoreError: The run is not in the store.
    """
    run = stored_run(store, run_id)
    every = store.trials(run_id)
    trials = [t for t in every if t.confirms is None]
    run_dir = paths.runs_dir() / run_id
    best = best_trial(trials, cfg)
    figure = winner_figure(run, best, every, cfg, out, snapshot)
    passed = best is not None and cfg.reached(figure.value)
    version = register_best(store, run, best, passed, figure.value, figure.evaluation, figure.snapshot) if best \
        else None
    ended = [t for t in trials if t.status is not TrialStatus.RUNNING]
    store.finish_run(run_id, RunStatus.PASSED if passed else RunStatus.FAILED,
                     value=figure.value, best_trial=best.number if best else None,
                     model=version.path if version else None, model_version=version.version if version else None,
                     error=None if best else (ended[-1].error if ended else None) or "no trial produced a metric",
                     stopped=stop_reason, best_script=str(write_best_script(run, best, run_dir)) if best else None,
                     evaluation=figure.evaluation, confirm=figure.confirm, measured_on=figure.measured_on(run),
                     selected_from=sum(t.status is TrialStatus.OK and t.value is not None for t in trials))
    run = stored_run(store, run_id)
    write_report(run, every, run_dir, **report_extras(store, run))
    summary = Summary.of(run, every)
    summary.write(run_dir / "summary.json")
    if version:
        out.info(f"model v{version.version}: {version.path}")
    out.info(f"report: {summary.report}")
    return summary


@dataclass
class Figure:
    """The run's figure: the winner's value, and how it was measured."""

    value: float | None
    evaluation: Evaluation | None = None
    confirm: dict[str, Any] | None = None
    snapshot: Snapshot | None = None

    def measured_on(self, run: Run) -> str:
        """``test`` (a data project), ``confirmed`` (``confirm: K``) or ``reported`` (the script's own)."""
        return "test" if run.data_project else ("confirmed" if self.confirm else "reported")


def winner_figure(run: Run, best: Trial | None, every: list[Trial], cfg: ProjectConfig, out: Out,
                  snapshot: Snapshot | None) -> Figure:
    """The winner's figure: a data project's on the test split (selected on validation); a script's as it
    reported it, or with ``confirm: K`` the mean over K other seeds."""
    if best is not None and run.data_project:
        snapshot = snapshot or read_snapshot(paths.snapshots_dir() / str(run.snapshot))
        evaluation = final_evaluation(run, best, snapshot, cfg)
        value = evaluation.metrics.get(cfg.metric)
        out.info(f"trial {best.number} selected on the validation split ({cfg.metric} {best.value:.4g}); "
                 f"on the test split, scored once: {cfg.metric} {_show(value)}")
        return Figure(value, evaluation=evaluation, snapshot=snapshot)
    if best is not None and cfg.confirm:
        confirm = confirmation(best, [t for t in every if t.confirms == best.number], cfg)
        out.info(f"trial {best.number} confirmed with {len(confirm['values'])} other seed(s): {cfg.metric} mean "
                 f"{_show(confirm['mean'])}, spread {_show(confirm['std'])} (selected value {_show(best.value)})")
        return Figure(confirm["mean"], confirm=confirm, snapshot=snapshot)
    return Figure(best.value if best else None, snapshot=snapshot)


def stored_run(store: RunStore, run_id: str) -> Run:
    """The run ``run_id`` as stored.

    Raises:
        StoreError: It is not there (removed meanwhile).
    """
    run = store.get_run(run_id)
    if run is None:
        raise StoreError(f"run {run_id} is no longer in {store.description}")
    return run


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def confirmation(best: Trial, reruns: list[Trial], cfg: ProjectConfig) -> dict[str, Any]:
    """``confirm: K``: the winner's figure over the other seeds (the selected value is left out: it is the
    maximum of many looks, the re-runs are not)."""
    values = [t.value for t in reruns if t.status is TrialStatus.OK and t.value is not None]
    mean = statistics.fmean(values) if values else None
    return {"trial": best.number, "selected": best.value, "seeds": [t.config.get("seed") for t in reruns],
            "values": values, "mean": mean, "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values, default=None), "max": max(values, default=None), "asked": cfg.confirm}


def report_extras(store: RunStore, run: Run) -> dict[str, Any]:
    """What the report shows beyond the run and its trials: the gate's decision and the project's last runs."""
    return {"decision": store.decision(run.id), "history": store.find_runs(project=run.project, limit=20)}


def rewrite_report(store: RunStore, run: Run, out_dir: Path | None = None) -> None:
    """Write the run's report again (with the gate's decision), and refresh the copy in ``out_dir``."""
    run_dir = paths.runs_dir() / run.id
    if not run_dir.is_dir():
        return
    path = write_report(run, store.trials(run.id), run_dir, **report_extras(store, run))
    if out_dir is not None and out_dir.is_dir():
        for name in (path.name, STYLESHEET, "metric.png", "curves.png", "history.png"):
            if (run_dir / name).is_file():
                shutil.copy2(run_dir / name, out_dir / name)




def best_trial(trials: list[Trial], cfg: ProjectConfig) -> Trial | None:
    """The trial with the best metric (by the config's direction), or ``None`` when none produced one."""
    scored = [t for t in trials if t.status is TrialStatus.OK and t.value is not None]
    if not scored:
        return None
    sign = 1 if cfg.goal == "maximize" else -1
    return max(scored, key=lambda t: (sign * t.value, -t.number))  # type: ignore[operator]


def register_best(store: RunStore, run: Run, best: Trial, passed: bool, value: float | None = None,
                  evaluation: Evaluation | None = None, snapshot: Snapshot | None = None) -> ModelVersion | None:
    """Register the best trial's model as the project's next version (the one copy of the model file); the
    model of a trial that ran on another machine comes from the store.

    A data project's version also gets its test predictions (``test_predictions.json``, what the gate compares
    the served model with), its feature transform (Keras) and what the serving app needs in ``model.json``.
    """
    model_file = trial_model_file(store, best, paths.runs_dir() / run.id)
    if model_file is None:
        return None
    extras: dict[str, Path] = {}
    meta: dict[str, Any] = {}
    if run.data_project and snapshot is not None:
        work = Path(best.run_dir) / "work"
        extras["test_predictions.json"] = work / PREDICTIONS
        label = snapshot.summary.label
        meta = {"allow_missing": True, "probabilities": True, "label": label, "snapshot": snapshot.summary.id,
                "features": [c for c in snapshot.summary.columns if c != label],
                "classes": sorted(snapshot.summary.classes) or None}
        meta["na_values"] = (run.config.get("data") or {}).get("na_values") or []  # served rows may use the markers
        if (work / TRANSFORM).is_file():
            extras[TRANSFORM] = work / TRANSFORM
            meta["transform"] = TRANSFORM
    metrics = evaluation.metrics if evaluation is not None else dict(best.metrics)
    return Registry(store).register(ModelVersion(
        project=run.project, run_id=run.id, trial=best.number, format=best.model.format, runtime=best.model.runtime,
        framework=run.framework, kind=run.kind, metric=run.metric, value=best.value if value is None else value,
        passed=passed, snapshot=run.snapshot, metrics=metrics), model_file, extras, meta)


def final_evaluation(run: Run, best: Trial, snapshot: Snapshot, cfg: ProjectConfig) -> Evaluation:
    """Score the winner's predictions of the test rows, once: the figure a data project reports and the gate uses.

    Raises:
        UsageError: The winning trial wrote no predictions.
    """
    path = Path(best.run_dir) / "work" / PREDICTIONS
    if not path.is_file():
        raise UsageError(f"trial {best.number} wrote no {PREDICTIONS}; the test split cannot be scored")
    predicted = json.loads(path.read_text(encoding="utf-8"))
    positive = (run.data or {}).get("positive")
    return evaluate_predictions(held_out_labels(snapshot), predicted["predictions"], task=run.task,
                                classes=predicted.get("classes"), probabilities=predicted.get("probabilities"),
                                positive=positive, cost=(cfg.cost.fp, cfg.cost.fn), snapshot=snapshot.summary.id,
                                split="test")


def best_script_name(run: Run) -> str:
    """``best_<entry stem>.py``."""
    return f"best_{Path(run.entry or 'train.py').stem}.py"


def write_best_script(run: Run, best: Trial, run_dir: Path) -> Path:
    """``best_<name>.py`` (the winning script) and ``best.diff`` (its diff against the pushed one)."""
    path = Path(run.path)
    pushed = path / run.entry if path.is_dir() else path
    if run.data_project:
        pushed = run_dir / "project" / run.entry
    text = load_source(pushed)
    if best.script and Path(best.script).is_file():
        text = read_source(Path(best.script))
    elif best.script:  # written on another machine: the same rewrite again
        text = apply_config(text, best.config).source
    target = run_dir / best_script_name(run)
    write_source(target, text)
    (run_dir / "best.diff").write_text(best.diff or "", encoding="utf-8")
    return target


