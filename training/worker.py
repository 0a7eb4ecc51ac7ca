"""The loop of one worker of a run: ask the study for a configuration, run it, tell the result, until the run
is over. Any number of workers run it at once against one run store: processes of one machine
(``workers: N``), Jenkins agents and other machines (``mlops worker RUN``). They share nothing but the store
(and Optuna's storage): what runs and what ended is read from there.

- Asking is done under the run's lock in the store, so no two workers start the same configuration and the
  trial budget (trials started by every worker, those cut off by a dead worker or driver included) is never
  exceeded: trial numbers never go past it.
- The script as pushed runs first and alone: while it runs, the other workers wait, so that a script that
  fails as pushed still costs one trial.
- A trial whose worker died is reaped (at once when that worker ran on this machine, else when its heartbeat
  is older than the grace period) and its configuration runs again first, in the next trial of the budget,
  from its last checkpoint when one reached the run folder or the store.
- The first trial to reach the target stops the run: its worker marks the run, and the other workers' running
  trials see it in their next heartbeat and stop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.config import ProjectConfig
from core.errors import ConfigError
from core.records import Run, RunStatus, Trial, TrialStatus
from core.store import RunStore, redact_uri
from training.strategies import BaseStrategy, build_space, make_strategy
from training.study import Study
from training.tuner import TuneContext, baseline_failure, bound_limits, report_trial, run_trial, trial_labels
from training.tweaks import analyze

#: Seconds between two looks at the store while a worker waits for other workers' trials.
POLL_S = 2.0
#: The words of the stop reason that stops the other workers' running trials.
TARGET_REACHED = "target reached"


def ask_lock(run_id: str) -> str:
    """The name of the lock that serializes asking (and closing the run) among a run's workers."""
    return f"ask/{run_id}"


def open_strategy_storage(cfg: ProjectConfig, run_dir: Path, shared: bool) -> Any:
    """Optuna's storage for a run's workers, when the strategy keeps state of its own and several workers
    share the run: ``optuna_storage`` (a database URL, e.g. PostgreSQL), else a journal file in the run folder
    (enough when every worker is on this machine). ``None`` (in memory) for one worker.

    Raises:
        ConfigError: The database cannot be used (the message names it without its password).
    """
    from training.strategies import STRATEGIES

    if not STRATEGIES[cfg.strategy].shares_state or not (shared or cfg.optuna_storage):
        return None
    import optuna

    if cfg.optuna_storage:
        try:
            return optuna.storages.RDBStorage(cfg.optuna_storage, engine_kwargs={"pool_pre_ping": True})
        except Exception as e:  # SQLAlchemy, the database driver and Optuna each have their own errors
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ConfigError("optuna_storage (or MLOPS_OPTUNA_STORAGE)", "",
                              f"cannot use {redact_uri(cfg.optuna_storage)}: {type(e).__name__}: {first}") from e
    from optuna.storages.journal import JournalFileBackend

    run_dir.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(run_dir / "optuna.journal")))


def run_over(run: Run | None, cfg: ProjectConfig, history: list[Trial], deadline: float) -> str | None:
    """Why the run takes no more trials whatever any worker could start: it ended, reached its target or its
    time budget."""
    if run is None or run.status is not RunStatus.RUNNING:
        return "the run has finished"
    if run.stopped:
        return run.stopped
    if any(t.status is TrialStatus.OK and cfg.reached(t.value) for t in history):
        return TARGET_REACHED
    if deadline - time.time() < 5:
        return f"time budget used ({cfg.budget.max_minutes:g} min)"
    return None


def budget_used(cfg: ProjectConfig, history: list[Trial]) -> str | None:
    """The trial budget is used when the trials started by every worker reach it (one cut off by a dead worker
    counts once: its rerun is a trial of the budget too), so a resumed run never goes past it."""
    if len(history) >= cfg.budget.max_trials:
        return f"trial budget used ({cfg.budget.max_trials} trials)"
    return None


def baseline_running(study: Study, history: list[Trial]) -> Trial | None:
    """The script as pushed, while it runs before any trial has ended well (the others wait for it)."""
    if any(t.status is TrialStatus.OK for t in history):
        return None
    return next((t for t in history if t.status is TrialStatus.RUNNING and t.config == study.baseline), None)


def reap(ctx: TuneContext, strategy: BaseStrategy | None = None) -> list[Trial]:
    """End the trials whose worker died, stop what they left running, and tell the strategy."""
    reaped = ctx.store.reap_trials(ctx.run_id)
    for t in reaped:
        ctx.backend.stop_trial(trial_labels(ctx.run_id, t.number))
        if strategy is not None:
            strategy.forget(t)
        ctx.out.fail(f"trial {t.number} was cut off (its worker {t.worker} is gone) and runs again")
    return reaped


def run_deadline(store: RunStore, run_id: str, cfg: ProjectConfig) -> float:
    """When the run's time budget ends (set once for every worker by the process that drives the run)."""
    run = store.get_run(run_id)
    return run.deadline if run and run.deadline else time.time() + cfg.budget.max_minutes * 60


def work(ctx: TuneContext) -> str:
    """Run trials of the run until it is over for this worker; return why it stopped.

    A worker stops when the run is over (finished, target reached, time budget used), or when it cannot start
    anything (budget used, nothing left to try, a baseline no tweak can fix) and no trial of any worker runs
    (one might be reaped and need a rerun, or reach the target). ``ctx.trains`` False: it starts nothing and
    only waits for the workers that joined.
    """
    if ctx.trains:
        bound_limits(ctx)
    cfg, out, store = ctx.cfg, ctx.out, ctx.store
    space = build_space(analyze(ctx.source))
    strategy = make_strategy(cfg.strategy, space, cfg.goal, cfg.trial.seed, storage=ctx.strategy_storage,
                             study_name=f"mlops-{ctx.run_id}")
    study = Study(store, ctx.run_id, ctx.source, ctx.entry, space, strategy, diagnosis=cfg.diagnosis)
    with store.lock(ask_lock(ctx.run_id)):
        reap(ctx, strategy)
        history = study.history()
        strategy.restore(history)
        for t in history:  # reaped by whoever read the run first (its driver was gone): forgotten here too
            if t.status is TrialStatus.REAPED:
                strategy.forget(t)
    running = [str(t.number) for t in history if t.status is TrialStatus.RUNNING]
    if running:
        out.info(f"joining: trial {', '.join(running)} running (state from {store.description})")
    elif history:
        out.info(f"resuming after trial {history[-1].number} (state from {store.description})")
    deadline = run_deadline(store, ctx.run_id, cfg)
    said = ""
    while True:
        trial = suggestion = None
        with store.lock(ask_lock(ctx.run_id)):
            reap(ctx, strategy)
            history = study.history()
            reason = run_over(store.get_run(ctx.run_id), cfg, history, deadline)
            if reason:
                break
            blocked = budget_used(cfg, history) or baseline_failure(study, history)
            if blocked is None and ctx.trains:
                first = baseline_running(study, history)
                if first is not None:
                    blocked = f"waiting for trial {first.number} (the script as pushed) to end first"
                else:
                    study.reload_broken()
                    asked = study.ask(history)
                    if isinstance(asked, str):
                        blocked = asked
                    else:
                        suggestion, trial = asked, study.start(asked)
        if trial is not None and suggestion is not None:
            ended = run_trial(ctx, study, trial, suggestion, deadline)
            with store.lock(ask_lock(ctx.run_id)):
                finished = report_trial(ctx, study, ended)
                if finished is not None and finished.reached:
                    store.update_run(ctx.run_id, stopped=TARGET_REACHED)  # stops the others' running trials
            continue
        running = [t for t in history if t.status is TrialStatus.RUNNING]
        if blocked and not running:
            reason = blocked
            break
        note = blocked or "waiting for workers to join (mlops worker)"
        if running:
            note += f"; running: trial {', '.join(str(t.number) for t in running)}"
        if note != said:
            out.info(note)
            said = note
        time.sleep(POLL_S)
    out.info(f"tuning stopped: {reason}")
    return reason


def settle(ctx: TuneContext, give_up_s: float = 600.0) -> None:
    """Wait until no trial of the run runs (reaping those of dead workers): then the run can be finished."""
    said = ""
    end = time.time() + give_up_s
    while time.time() < end:
        reap(ctx)
        running = [t.number for t in ctx.store.trials(ctx.run_id) if t.status is TrialStatus.RUNNING]
        if not running:
            return
        note = f"waiting for trial {', '.join(map(str, running))} of other workers to end"
        if note != said:
            ctx.out.info(note)
            said = note
        time.sleep(POLL_S)
