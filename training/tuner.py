"""The tuning loop: while the metric is under the target and budget remains, tweak the script and retrain.

All state is in the run store: a restarted loop reads the trials already recorded and
continues with the next one.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.config import ProjectConfig
from mlops.console import Out
from mlops.store import RunStore
from training._capture import canonical
from training.backends import Backend, TrialSpec
from training.strategies import build_space, full_config, make_strategy
from training.tweaks import analyze, apply_config

#: How many suggestions in a row may repeat an already-tried script before the loop gives up.
MAX_REPEATS = 25


@dataclass
class TuneContext:
    """Everything one tuning loop needs."""

    store: RunStore
    run_id: str
    cfg: ProjectConfig
    backend: Backend
    project_dir: Path
    entry: str
    kind: str  # image kind: "ml" | "dl"
    source: str  # the entry script as pushed (notebooks as Python)
    run_dir: Path
    out: Out


def source_hash(text: str) -> str:
    """Identity of a script's content."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def validation_value(logs: dict[str, float], metric: str) -> float | None:
    """The epoch's validation value of the run's metric (``val_acc`` counts as accuracy)."""
    for key, value in logs.items():
        if key.startswith("val_") and canonical(key[4:]) == metric:
            return value
    return None


def _stop_reason(ctx: TuneContext, history: list[dict[str, Any]], deadline: float) -> str | None:
    cfg = ctx.cfg
    if any(t.get("status") == "ok" and cfg.reached(t.get("value")) for t in history):
        return "target reached"
    if len(history) >= cfg.budget.max_trials:
        return f"trial budget used ({cfg.budget.max_trials} trials)"
    if deadline - time.time() < 5:
        return f"time budget used ({cfg.budget.max_minutes:g} min)"
    return None


def tune(ctx: TuneContext) -> str:
    """Run trials until the target, the budget, or the tweaks run out. Returns why it stopped."""
    cfg, out, store = ctx.cfg, ctx.out, ctx.store
    space = build_space(analyze(ctx.source))
    strategy = make_strategy(cfg.strategy, space, cfg.goal, cfg.trial.seed)
    history = store.trials(ctx.run_id)
    strategy.restore(history)
    if history:
        out.info(f"resuming after trial {len(history)} (state from {store.description})")
    spent = sum(t.get("duration_s") or 0 for t in history)
    deadline = time.time() + cfg.budget.max_minutes * 60 - spent
    by_source = {t["source_hash"]: t for t in history if t.get("source_hash")}
    virtual: list[dict[str, Any]] = []  # configurations that repeated an earlier script (not run)
    baseline = full_config(space, {})
    with out.progress(cfg.budget.max_trials, len(history)) as advance:
        while (reason := _stop_reason(ctx, history, deadline)) is None:
            config = strategy.suggest(history + virtual)
            if config is None:
                reason = "no untried tweak left"
                break
            outcome = apply_config(ctx.source, config)
            digest = source_hash(outcome.source)
            earlier = by_source.get(digest)
            if earlier is not None and config != baseline:
                virtual.append({**earlier, "config": config})
                strategy.after_trial(-1, config, {**earlier, "config": config})
                if len(virtual) > MAX_REPEATS:
                    reason = "no tweak changes the script any more"
                    break
                continue
            record = _run_one(ctx, strategy, config, outcome, digest, deadline, len(history) + 1)
            history.append(record)
            by_source[digest] = record
            advance()
    out.info(f"tuning stopped: {reason}")
    return reason


def _run_one(ctx: TuneContext, strategy: Any, config: dict[str, Any], outcome: Any, digest: str,
             deadline: float, number: int) -> dict[str, Any]:
    cfg, out = ctx.cfg, ctx.out
    trial_dir = ctx.run_dir / f"trial-{number:03d}"
    if trial_dir.exists():  # left by a run killed during this trial: its checkpoints belong to another script
        shutil.rmtree(trial_dir)
    trial_dir.mkdir(parents=True)
    script = None
    if outcome.applied:
        script = trial_dir / f"tweaked_{Path(ctx.entry).stem}.py"
        script.write_text(outcome.source, encoding="utf-8")
    label = " + ".join(outcome.applied) or "baseline (as pushed)"
    out.step(f"trial {number}/{cfg.budget.max_trials}: {label}")
    for key, why in outcome.skipped:
        out.info(f"    skipped {key}: {why}")
    curve: list[float] = []

    def on_epoch(epoch: int, logs: dict[str, float]) -> bool:
        value = validation_value(logs, cfg.metric)
        if value is None:
            return True
        curve.append(value)
        return not strategy.should_prune(number, epoch, value)

    strategy.before_trial(number, config)
    spec = TrialSpec(
        project=ctx.project_dir, entry=ctx.entry, run_dir=trial_dir, kind=ctx.kind, metric=cfg.metric,
        seed=cfg.trial.seed, script=script, time_limit_s=max(5, min(cfg.trial.time_limit_s,
                                                                    int(deadline - time.time()))),
        cpus=cfg.trial.cpus, memory=cfg.trial.memory, network=cfg.trial.network, image=cfg.image,
        restarts=cfg.trial.restarts, on_epoch=on_epoch,
    )
    result = ctx.backend.run_trial(spec, out.trial_line)
    record = {
        "status": result.status, "value": result.value, "metrics": result.metrics, "config": config,
        "tweaks": outcome.applied, "skipped": [list(s) for s in outcome.skipped], "label": label,
        "diff": outcome.diff(ctx.source, ctx.entry), "script": str(script) if script else None,
        "source_hash": digest, "duration_s": round(result.duration_s, 2), "error": result.error,
        "error_kind": result.error_kind, "exit_code": result.exit_code, "log_tail": result.log_tail,
        "run_dir": str(trial_dir), "model": result.model, "history": result.history, "curve": curve,
        "warnings": result.warnings, "where": result.where, "restarts": result.restarts,
        "resumed_from_epoch": result.resumed_from_epoch,
        "reached": result.status == "ok" and cfg.reached(result.value),
    }
    ctx.store.add_trial(ctx.run_id, record)
    strategy.after_trial(number, config, record)
    _trial_line(out, number, label, cfg, result.value, result.duration_s, result.error, result.status)
    return record


def _trial_line(out: Out, number: int, label: str, cfg: ProjectConfig, value: float | None, duration: float,
                error: str | None, status: str = "ok") -> None:
    if status == "pruned":
        out.info(f"trial {number}  {label}  PRUNED  {duration:.1f}s  {error}")
        return
    if error:
        out.fail(f"trial {number}  {label}  FAILED  {duration:.1f}s  {error}")
        return
    mark = "reaches the target" if cfg.reached(value) else "under the target"
    out.info(f"trial {number}  {label}  {cfg.metric}={value:.4f}  {duration:.1f}s  ({mark} {cfg.target})")
