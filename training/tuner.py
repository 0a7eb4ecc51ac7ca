"""The tuning loop: while the metric is under the target and budget remains, tweak the script and retrain.

All state is in the run store: a restarted loop reads the trials already recorded and continues with the
next one.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops.config import ProjectConfig
from mlops.console import Out
from mlops.environments import NO_PACKAGES, Packages
from mlops.records import Trial, TrialModel, TrialStatus
from mlops.store import RunStore
from training.backends import Backend, TrialResult, TrialSpec
from training.harness.capture import canonical
from training.strategies import build_space, make_strategy
from training.study import Study, Suggestion
from training.tweaks import analyze


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


def _stop_reason(cfg: ProjectConfig, history: list[Trial], deadline: float) -> str | None:
    if any(t.status is TrialStatus.OK and cfg.reached(t.value) for t in history):
        return "target reached"
    if sum(t.status is not TrialStatus.REAPED for t in history) >= cfg.budget.max_trials:
        return f"trial budget used ({cfg.budget.max_trials} trials)"
    if deadline - time.time() < 5:
        return f"time budget used ({cfg.budget.max_minutes:g} min)"
    return None


def tune(ctx: TuneContext) -> str:
    """Run trials until the target, the budget, or the tweaks run out. Returns why it stopped."""
    cfg, out, store = ctx.cfg, ctx.out, ctx.store
    space = build_space(analyze(ctx.source))
    strategy = make_strategy(cfg.strategy, space, cfg.goal, cfg.trial.seed)
    study = Study(store, ctx.run_id, ctx.source, ctx.entry, space, strategy)
    reaped = store.reap_trials(ctx.run_id, grace_s=0)  # trials left running by a killed loop of this run
    history = study.history()
    strategy.restore(history)
    if history:
        again = f"; trial {', '.join(str(t.number) for t in reaped)} was cut off and runs again" if reaped else ""
        out.info(f"resuming after trial {history[-1].number} (state from {store.description}){again}")
    spent = sum(t.duration_s for t in history)
    deadline = time.time() + cfg.budget.max_minutes * 60 - spent
    with out.progress(cfg.budget.max_trials, len(history)) as advance:
        while (reason := _stop_reason(cfg, history, deadline) or baseline_failure(study, history)) is None:
            suggestion = study.ask(history)
            if isinstance(suggestion, str):
                reason = suggestion
                break
            history.append(_run_one(ctx, study, suggestion, deadline))
            advance()
    out.info(f"tuning stopped: {reason}")
    return reason


def _run_one(ctx: TuneContext, study: Study, suggestion: Suggestion, deadline: float) -> Trial:
    cfg, out = ctx.cfg, ctx.out
    trial = study.start(suggestion)
    number = trial.number
    trial_dir = ctx.run_dir / f"trial-{number:03d}"
    if trial_dir.exists():  # left by a run killed during this trial: its checkpoints belong to another script
        shutil.rmtree(trial_dir)
    trial_dir.mkdir(parents=True)
    script = None
    if suggestion.outcome.applied:
        script = trial_dir / f"tweaked_{Path(ctx.entry).stem}.py"
        script.write_text(suggestion.outcome.source, encoding="utf-8")
    out.step(f"trial {number}/{cfg.budget.max_trials}: {trial.label}")
    for key, why in suggestion.outcome.skipped:
        out.info(f"    skipped {key}: {why}")
    curve: list[float] = []

    def on_epoch(epoch: int, logs: dict[str, float]) -> bool:
        value = validation_value(logs, cfg.metric)
        if value is None:
            return True
        curve.append(value)
        return not study.strategy.should_prune(number, epoch, value)

    spec = trial_spec(ctx, number, trial_dir, script, deadline, on_epoch)
    result = ctx.backend.run_trial(spec, out.trial_line)
    finished = study.tell(ended_trial(trial, result, script, trial_dir, curve, cfg))
    _trial_line(out, finished, cfg)
    for broken in study.learn_breakage(finished, study.history()):
        out.fail(f"    tweak '{broken.tweak}' breaks this script (trial {broken.trial}: {broken.error}); "
                 "it is not tried again")
    return finished


def trial_spec(ctx: TuneContext, number: int, trial_dir: Path, script: Path | None, deadline: float,
               on_epoch: Callable[[int, dict[str, float]], bool] | None = None, seed: int | None = None) -> TrialSpec:
    """What the backend runs for trial ``number``: the (rewritten) script with the run's limits and seed."""
    cfg = ctx.cfg
    return TrialSpec(
        project=ctx.project_dir, entry=ctx.entry, run_dir=trial_dir, env=ctx.env, metric=cfg.metric,
        metric_is_default=cfg.metric_is_default, seed=cfg.trial.seed if seed is None else seed, script=script,
        time_limit_s=max(5, min(cfg.trial.time_limit_s, int(deadline - time.time()))),
        cpus=cfg.trial.cpus, memory=cfg.trial.memory, network=cfg.trial.network, image=cfg.image,
        restarts=cfg.trial.restarts, on_epoch=on_epoch,
        on_alive=lambda: ctx.store.heartbeat_trial(ctx.run_id, number), packages=ctx.packages,
        args=list(cfg.args), paths=dict(cfg.paths),
        datasets_cache=Path(cfg.datasets_cache).expanduser().resolve() if cfg.datasets_cache else None,
    )


def ended_trial(trial: Trial, result: TrialResult, script: Path | None, trial_dir: Path, curve: list[float],
           cfg: ProjectConfig) -> Trial:
    """The trial record once the backend has a result."""
    return trial.model_copy(update=dict(
        status=TrialStatus(result.status), value=result.value, metrics=result.metrics, sources=result.sources,
        script=str(script) if script else None, duration_s=round(result.duration_s, 2), error=result.error,
        error_kind=result.error_kind, exit_code=result.exit_code, log_tail=result.log_tail,
        run_dir=str(trial_dir), model=TrialModel.from_doc(result.model) if result.model else None,
        history=result.history, curve=curve, warnings=result.warnings, where=result.where,
        restarts=result.restarts, resumed_from_epoch=result.resumed_from_epoch,
        reached=result.status == "ok" and cfg.reached(result.value)))


def _trial_line(out: Out, t: Trial, cfg: ProjectConfig) -> None:
    if t.status is TrialStatus.PRUNED:
        out.info(f"trial {t.number}  {t.label}  PRUNED  {t.duration_s:.1f}s  {t.error}")
        return
    if t.error:
        out.fail(f"trial {t.number}  {t.label}  FAILED  {t.duration_s:.1f}s  {t.error}")
        return
    mark = "reaches the target" if cfg.reached(t.value) else "under the target"
    out.info(f"trial {t.number}  {t.label}  {cfg.metric}={t.value:.4f}  {t.duration_s:.1f}s  ({mark} {cfg.target})")
