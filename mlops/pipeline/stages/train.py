"""Train and tune: trials until the target or the budget (on this machine's workers and any that join), then the
best model registered and reported."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core import paths
from core.errors import Aborted
from mlops.pipeline.stages._base import BaseStage

if TYPE_CHECKING:
    from mlops.pipeline.context import RunContext
    from mlops.pipeline.workers import LocalWorkers
    from training.tuner import TuneContext


@dataclass(frozen=True)
class TrainAndTune(BaseStage):
    """Open the run (or continue it), tune until it is over, then close it: the best trial registered."""

    def run(self, ctx: RunContext) -> None:
        """Record the finished run and its summary.

        Raises:
            Aborted: SIGTERM or SIGINT; the run is recorded as aborted, its trials kept.
        """
        from mlops.pipeline.heartbeat import keep_alive
        from mlops.pipeline.resume import abort_run, end_failed, open_run
        from mlops.pipeline.workers import LocalWorkers, fingerprint

        cfg = ctx.cfg
        what = f"data project, snapshot {ctx.snapshot.summary.id}" if ctx.snapshot and ctx.is_data_project else \
            ctx.source
        ctx.found_run = run = open_run(ctx, fingerprint(what, cfg.run_settings(), ctx.backend.name,
                                                        ctx.packages.text()))
        tune = tune_context(ctx, paths.runs_dir() / run.id)
        local = LocalWorkers(ctx.out)
        try:
            with keep_alive(lambda: ctx.store.heartbeat_run(run.id)):  # until the run is finished
                if cfg.workers > 1:
                    ctx.out.prefix = "[worker 1] "
                    local.start(cfg.workers - 1, run.id, ctx.project_dir, ctx.backend.name, ctx.opts.quiet)
                train(ctx, tune, local)
            ctx.found_run = ctx.store.get_run(run.id)
        except KeyboardInterrupt as e:  # SIGTERM (a Jenkins abort) or SIGINT: the run is recorded as aborted
            local.stop()
            aborted = Aborted.of(e)
            aborted.detail = abort_run(ctx.store, run.id, aborted.signal_name)
            raise aborted from None
        except BaseException as e:
            local.stop()
            end_failed(ctx.store, run.id, e)
            raise
        finally:
            ctx.backend.close()


def tune_context(ctx: RunContext, run_dir: Path) -> TuneContext:
    """What the tuning loop of this run needs: its strategy's storage, its deadline, the script (a data project's
    written into the run folder)."""
    from core.records import RunStatus  # pydantic, and training/ imports optuna: not for `mlops --help`
    from training.tuner import TuneContext
    from training.worker import open_strategy_storage

    cfg, run = ctx.cfg, ctx.run
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        storage = open_strategy_storage(cfg, run_dir, shared=run.shared or cfg.workers > 1)
    except BaseException as e:
        ctx.store.finish_run(run.id, RunStatus.FAILED, error=str(e))
        raise
    spent = sum(t.duration_s for t in ctx.store.trials(run.id))
    ctx.store.update_run(run.id, deadline=time.time() + cfg.budget.max_minutes * 60 - spent)
    ctx.out.info(f"run {run.id} in {run_dir} (store: {ctx.store.description})")
    if run.shared or cfg.workers != 1:
        joining = f"; workers of other machines join with 'mlops worker {run.id}'" if run.shared else ""
        ctx.out.info(f"{cfg.workers} worker(s) on this machine{joining}")
    project_dir, entry = generate(ctx, run_dir) if ctx.is_data_project else (ctx.project_dir, ctx.detection.entry)
    return TuneContext(store=ctx.store, run_id=run.id, cfg=cfg, backend=ctx.backend, project_dir=project_dir,
                       entry=entry, env=ctx.env, source=ctx.source, run_dir=run_dir, out=ctx.out,
                       packages=ctx.packages, keras_api=ctx.detection.keras_api, shared=run.shared,
                       trains=cfg.workers > 0, strategy_storage=storage,
                       paths=ctx.reach.paths if ctx.reach else None, tree=ctx.reach.tree if ctx.reach else None)


def train(ctx: RunContext, tune: TuneContext, local: LocalWorkers) -> None:
    """Tune, wait for the other workers, confirm the winner, close the run: its summary."""
    from mlops.pipeline.finish import best_trial, finish
    from training.worker import work

    run_id, cfg = tune.run_id, ctx.cfg
    stop_reason = work(tune)
    local.wait()
    ctx.out.prefix = ""
    stop_reason = settle_all(tune, stop_reason)
    if cfg.confirm and not ctx.is_data_project:
        from training.confirm import confirm_winner

        confirm_winner(tune, best_trial(ctx.store.trials(run_id), cfg), cfg.confirm)
    ctx.found_summary = finish(ctx.store, run_id, cfg, ctx.out, stop_reason=stop_reason, snapshot=ctx.snapshot)


def settle_all(tune: TuneContext, stop_reason: str) -> str:
    """Wait until no trial of any worker runs (none can start after that) and record why the run stopped;
    return that."""
    from core.records import TrialStatus
    from training.worker import TARGET_REACHED, ask_lock, settle

    store, run_id = tune.store, tune.run_id
    while True:
        settle(tune)
        with store.lock(ask_lock(run_id)):
            if not any(t.status is TrialStatus.RUNNING for t in store.trials(run_id)):
                run = store.get_run(run_id)
                stop_reason = run.stopped if run and run.stopped else stop_reason
                if stop_reason != TARGET_REACHED:
                    store.update_run(run_id, stopped=stop_reason)
                return stop_reason


def generate(ctx: RunContext, run_dir: Path) -> tuple[Path, str]:
    """Write a data project's training script and data files into the run folder; return (project, entry)."""
    from mlops.pipeline.context import found
    from training.dataproject import write_data_project

    data = found(ctx.cfg.data, "data: of mlops.yaml")
    cfg = ctx.cfg
    dp = write_data_project(found(ctx.snapshot, "the snapshot of data:"), run_dir / "project", name=ctx.name,
                            framework=cfg.framework or "sklearn", positive=cfg.positive,
                            cost=(cfg.cost.fp, cfg.cost.fn), max_missing_ratio=data.max_missing_ratio,
                            seed=cfg.trial.seed)
    ctx.source = dp.source
    ctx.out.info(f"data project: mlops wrote {dp.folder / dp.entry} ({dp.detection.evidence[0].what})")
    return dp.folder, dp.entry
