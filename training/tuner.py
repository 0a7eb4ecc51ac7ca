"""One trial of the tuning loop, from a started record to its told result (the loop is ``training.worker``):
its folder, its rewritten script, the backend run with pruning and heartbeats, and its line.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import ProjectConfig
from core.console import Out
from core.infra.requirements import NO_PACKAGES, Packages
from core.records import RunStatus, Trial, TrialModel, TrialStatus
from core.store import RunStore
from training.backends import Backend, TrialResult, TrialSpec
from training.carry import carry_checkpoint, put_checkpoint, put_model
from training.diagnosis import Goal, diagnose_trial
from training.harness.capture import canonical
from training.harness.source import write_source
from training.study import Study, Suggestion


@dataclass
class TuneContext:
    """Everything one tuning loop needs."""

    store: RunStore
    run_id: str
    cfg: ProjectConfig
    backend: Backend
    project_dir: Path
    entry: str
    env: str  # trial environment: "ml" | "dl"
    source: str  # the entry script as pushed (notebooks as Python)
    run_dir: Path
    out: Out
    packages: Packages = NO_PACKAGES
    #: Workers of other machines may join: models and checkpoints also go to the store.
    shared: bool = False
    #: Optuna's storage shared by the run's workers (``None``: in memory, one worker).
    strategy_storage: Any = None
    #: Whether this loop starts trials (``workers: 0``: it only waits for the workers that join).
    trains: bool = True
    keras_api: int | None = None
    #: Absolute path prefix -> project folder for every trial (``paths:`` and the ones the code asks for);
    #: ``None``: ``paths:`` of mlops.yaml alone.
    paths: dict[str, str] | None = None
    #: The repository the project is a folder of, exposed read-only to the trials (``TrialSpec.tree``).
    tree: Path | None = None


def validation_value(logs: dict[str, float], metric: str) -> float | None:
    """The epoch's validation value of the run's metric (``val_acc`` counts as accuracy)."""
    for key, value in logs.items():
        if key.startswith("val_") and canonical(key[4:]) == metric:
            return value
    return None


#: Failures of the script as pushed that a tweak may fix: a time-out, when the epochs can change.
FIXABLE = {"timeout": "epochs"}


def baseline_failure(study: Study, history: list[Trial]) -> str | None:
    """Why tuning cannot help, when the script as pushed fails in a way no tweak can fix, else ``None``."""
    base = next((t for t in history if t.config == study.baseline and t.status.finished
                 and t.status is not TrialStatus.REAPED), None)
    if base is None or base.status is not TrialStatus.FAILED:
        return None
    if FIXABLE.get(base.error_kind or "") in study.space.choices:
        return None
    return f"the script as pushed failed, and no tweak can fix that: {base.error}"


def run_trial(ctx: TuneContext, study: Study, trial: Trial, suggestion: Suggestion, deadline: float) -> Trial:
    """Run a started trial (``Study.start``) to its end on the backend, and return its record (not yet told)."""
    cfg, out, store = ctx.cfg, ctx.out, ctx.store
    number = trial.number
    trial_dir = ctx.run_dir / f"trial-{number:03d}"
    if trial_dir.exists():  # left by a run killed during this trial: its checkpoints belong to another script
        shutil.rmtree(trial_dir)
    trial_dir.mkdir(parents=True)
    store.update_trial(ctx.run_id, number, run_dir=str(trial_dir))
    script = None
    if suggestion.outcome.applied:
        script = trial_dir / f"tweaked_{Path(ctx.entry).stem}.py"
        write_source(script, suggestion.outcome.source)
    again = f" (again: trial {suggestion.rerun_of.number}'s worker died)" if suggestion.rerun_of else ""
    out.step(f"trial {number}/{cfg.budget.max_trials}: {trial.label}{again}")
    if trial.because:
        out.info(f"    because trial {trial.because['trial']} showed: {trial.because['evidence']}")
    for key, why in suggestion.outcome.skipped:
        out.info(f"    skipped {key}: {why}")
    if suggestion.rerun_of:
        source = carry_checkpoint(store, ctx.run_dir, ctx.run_id, suggestion.rerun_of, trial_dir)
        if source:
            out.info(f"    training resumes from trial {suggestion.rerun_of.number}'s last checkpoint ({source})")
    curve: list[float] = []
    epochs_shared = [0]

    def on_epoch(epoch: int, logs: dict[str, float]) -> bool:
        if ctx.shared and epoch >= epochs_shared[0]:  # the checkpoint so far, for a rerun on another machine
            epochs_shared[0] = epoch + 1
            put_checkpoint(store, ctx.run_id, number, trial_dir)
        value = validation_value(logs, cfg.metric)
        if value is None:
            return True
        curve.append(value)
        return not study.strategy.should_prune(number, epoch, value)

    spec = trial_spec(ctx, number, trial_dir, script, deadline, on_epoch)
    result = ctx.backend.run_trial(spec, out.trial_line)
    return with_findings(ended_trial(trial, result, script, trial_dir, curve, cfg), cfg)


def trial_labels(run_id: str, number: int) -> dict[str, str]:
    """The labels of a trial's container: how another worker finds it when this one dies."""
    return {"mlops.run_id": run_id, "mlops.trial": str(number)}


def still_wanted(ctx: TuneContext, number: int) -> str | None:
    """The heartbeat of a running trial; returns why it must stop when the run ended meanwhile (another
    trial reached the target, or the run was finished)."""
    ctx.store.heartbeat_trial(ctx.run_id, number)
    run = ctx.store.get_run(ctx.run_id)
    if run is None or run.status is not RunStatus.RUNNING:
        return "the run was finished while this trial ran"
    if run.stopped:
        return f"the run stopped while this trial ran ({run.stopped})"
    return None


def report_trial(ctx: TuneContext, study: Study, ended: Trial) -> Trial | None:
    """Tell the study how a trial ended, print its line, learn broken tweaks, share its model when workers of
    other machines may need it. Returns the stored trial (``None``: it had been reaped meanwhile)."""
    out = ctx.out
    study.reload_broken()
    finished = study.tell(ended)
    if finished is None:
        out.fail(f"trial {ended.number} was reaped meanwhile (its heartbeats stopped reaching {ctx.store.description})"
                 "; its result is dropped, its configuration runs again")
        return None
    if ctx.shared and finished.status is TrialStatus.OK:
        put_model(ctx.store, finished)
    _trial_line(out, finished, ctx.cfg)
    for broken in study.learn_breakage(finished, study.history()):
        out.fail(f"    tweak '{broken.tweak}' breaks this script (trial {broken.trial}: {broken.error}); "
                 "it is not tried again")
    return finished


def bound_limits(ctx: TuneContext) -> None:
    """Bound the trial limits of ``mlops.yaml`` (``trial.cpus``, ``trial.memory``, ``trial.time_limit_s``) by what
    the backend can give a trial and the run's time budget, saying in one line each value that was capped."""
    most = ctx.backend.capacity()
    limits, said = ctx.cfg.trial.within(most.cpus, most.memory, ctx.cfg.budget.max_minutes * 60, most.where)
    for line in said:
        ctx.out.info(line)
    if said:
        ctx.cfg = ctx.cfg.model_copy(update={"trial": limits})


def trial_spec(ctx: TuneContext, number: int, trial_dir: Path, script: Path | None, deadline: float,
               on_epoch: Callable[[int, dict[str, float]], bool] | None = None, seed: int | None = None) -> TrialSpec:
    """What the backend runs for trial ``number``: the (rewritten) script with the run's limits and seed."""
    cfg = ctx.cfg
    return TrialSpec(
        project=ctx.project_dir, entry=ctx.entry, run_dir=trial_dir, env=ctx.env, metric=cfg.metric,
        metric_is_default=cfg.metric_is_default, seed=cfg.trial.seed if seed is None else seed, script=script,
        time_limit_s=max(5, min(cfg.trial.time_limit_s, int(deadline - time.time()))),
        cpus=cfg.trial.cpus, memory=cfg.trial.memory, network=cfg.trial.network, image=cfg.image,
        restarts=cfg.trial.restarts, on_epoch=on_epoch, packages=ctx.packages,
        # A tuning trial stops when the run ends meanwhile; a re-run with another seed (``confirm:``) only
        # says it is alive: it runs after the tuning has ended.
        on_alive=(lambda: still_wanted(ctx, number)) if seed is None else
        (lambda: ctx.store.heartbeat_trial(ctx.run_id, number)),
        args=list(cfg.args), paths=dict(cfg.paths if ctx.paths is None else ctx.paths), keras_api=ctx.keras_api,
        tree=ctx.tree,
        datasets_cache=Path(cfg.datasets_cache).expanduser().resolve() if cfg.datasets_cache else None,
        labels=trial_labels(ctx.run_id, number),
    )


def ended_trial(trial: Trial, result: TrialResult, script: Path | None, trial_dir: Path, curve: list[float],
                cfg: ProjectConfig) -> Trial:
    """The trial record once the backend has a result."""
    return trial.model_copy(update=dict(
        status=TrialStatus(result.status), value=result.value, metrics=result.metrics, sources=result.sources,
        notes=result.notes,
        script=str(script) if script else None, duration_s=round(result.duration_s, 2), error=result.error,
        error_kind=result.error_kind, exit_code=result.exit_code, log_tail=result.log_tail,
        run_dir=str(trial_dir), model=TrialModel.from_doc(result.model) if result.model else None,
        history=result.history, curve=curve, warnings=result.warnings, shims=result.shims, where=result.where,
        restarts=result.restarts, resumed_from_epoch=result.resumed_from_epoch, host=result.host or trial.host,
        reached=result.status == "ok" and cfg.reached(result.value), facts=result.facts))


def with_findings(trial: Trial, cfg: ProjectConfig) -> Trial:
    """The trial with what the diagnosis finds in it (none once it reached the target)."""
    if trial.reached:
        return trial
    goal = Goal(cfg.metric, cfg.target, cfg.goal == "maximize")
    return trial.model_copy(update={"findings": [f.to_doc() for f in diagnose_trial(trial, goal)]})


def _trial_line(out: Out, t: Trial, cfg: ProjectConfig) -> None:
    if t.status in (TrialStatus.PRUNED, TrialStatus.STOPPED):
        out.info(f"trial {t.number}  {t.label}  {str(t.status).upper()}  {t.duration_s:.1f}s  {t.error}")
        return
    if t.error:
        out.fail(f"trial {t.number}  {t.label}  FAILED  {t.duration_s:.1f}s  {t.error}")
        return
    mark = "reaches the target" if cfg.reached(t.value) else "under the target"
    out.info(f"trial {t.number}  {t.label}  {value_text(t, cfg.metric)}  {t.duration_s:.1f}s  ({mark} {cfg.target})")
    for finding in t.findings[:3]:
        out.info(f"    saw: {finding['evidence']}")


def value_text(t: Trial, metric: str) -> str:
    """``accuracy=0.9350``, with how it was read when not as printed: ``(read 93.5 as 93.5% = 0.935)``."""
    note = t.notes.get(metric)
    return f"{metric}={t.value:.4f}" + (f" ({note})" if note else "")
