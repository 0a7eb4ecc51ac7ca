"""What happens to a run that did not end by itself: continuing one whose driver is gone (or saying why a new run
starts beside it), recording one stopped by a signal as ``aborted``, one that failed (a full disk) as ``failed``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core import settings
from core.config import ProjectConfig
from core.errors import StoreError, UsageError, disk_fault
from core.records import Run, RunStatus, TrialStatus
from core.store import HEARTBEAT_GRACE_S, RunStore, this_worker
from mlops.pipeline.context import RunContext
from mlops.pipeline.workers import clean_run_id


def open_run(ctx: RunContext, fingerprint: str) -> Run:
    """The run to train: the one named by ``--run-id`` (created, or continued while it runs), else an
    interrupted run of the same project and fingerprint (unless ``--fresh``), else a new one.

    Raises:
        UsageError: ``--run-id`` names a finished run, or a run of something else.
    """
    run_id = clean_run_id(ctx.opts.run_id) if ctx.opts.run_id else ""
    previous = ctx.store.get_run(run_id) if run_id else None
    if previous is not None:
        if previous.status.finished:
            raise UsageError(f"run {run_id} has already finished ({previous.status}); give another --run-id")
        if previous.fingerprint != fingerprint:
            raise UsageError(f"run {run_id} trains something else (another script, configuration or backend); "
                             "give another --run-id")
        if previous.status is RunStatus.INTERRUPTED and not ctx.store.resume_run(previous.id):
            raise UsageError(f"run {run_id} was continued by another process meanwhile; give another --run-id")
    elif not run_id and not ctx.opts.fresh:
        previous = find_resumable(ctx.store, ctx.project, fingerprint)
    if previous:
        ctx.store.heartbeat_run(previous.id)
        why = f" ({previous.interrupted})" if previous.interrupted else ""
        ctx.out.info(f"continuing run {previous.id}, which was stopped before it finished{why}; its trial budget "
                     "counts the trials it ran (--fresh starts a new run)")
        return previous.model_copy(update={"status": RunStatus.RUNNING, "interrupted": ""})
    why = not_continued(ctx.store, ctx.project, ctx.cfg.run_settings(), ctx.backend.name, ctx.opts.fresh, run_id)
    if why:
        ctx.out.info(why)
    return ctx.store.create_run(new_run(ctx, run_id, fingerprint))


def new_run(ctx: RunContext, run_id: str, fingerprint: str) -> Run:
    """The record of a new run of the context's project (``run_id`` empty: the store gives it one)."""
    d, cfg, data_project = ctx.detection, ctx.cfg, ctx.is_data_project
    return Run(
        id=run_id, project=ctx.name, path=str(ctx.project), entry=d.entry, framework=d.framework, kind=d.kind,
        env=ctx.env, task=d.task or "classification", image=d.image, backend=ctx.backend.name, sandbox=ctx.sandbox,
        metric=cfg.metric, target=cfg.target, metric_is_default=cfg.metric_is_default, goal=cfg.goal,
        config=cfg.run_settings(), strategy=cfg.strategy, build_url=settings.BUILD_URL.get(),
        fingerprint=fingerprint, owner=this_worker(), shared=bool(run_id) or cfg.workers == 0,
        data_project=data_project, measured_on="test" if data_project else "reported",
        snapshot=ctx.snapshot.summary.id if ctx.snapshot is not None else None,
        data=ctx.data_check.to_doc() if ctx.data_check is not None else None, resolved=list(ctx.resolved),
        auto_packages=list(ctx.packages.auto))


def find_resumable(store: RunStore, project: Path, fingerprint: str) -> Run | None:
    """A run of the same project, script and config left ``interrupted`` (its driver is gone; the store reads
    it so), now ``running`` again with this process as its driver."""
    for run in store.find_runs(path=str(project), status=RunStatus.INTERRUPTED, limit=50):
        if run.fingerprint == fingerprint and store.resume_run(run.id):
            return run  # as it was read: with why it was interrupted
    return None


def not_continued(store: RunStore, project: Path, settings: dict[str, Any], backend: str, fresh: bool,
                  run_id: str) -> str:
    """Why a new run starts while a run of the same project is unfinished (one line), or ``""``.

    Args:
        store: The run store.
        project: The project's path (runs are continued per path).
        settings: The new run's settings (``ProjectConfig.run_settings``) and backend name.
        backend: The new run's backend.
        fresh: ``--fresh`` was given.
        run_id: The ``--run-id`` given, or ``""``.
    """
    runs = store.find_runs(path=str(project), limit=50)
    left = next((r for r in runs if not r.status.finished), None)
    if left is None:
        last = runs[0] if runs else None
        if last is not None and last.status is RunStatus.ABORTED:
            return (f"note: the last run of this project, {last.id}, was {last.error or 'aborted'}: an aborted run is "
                    "finished and not continued; this is a new run")
        return ""
    if left.status is RunStatus.RUNNING:
        ago = time.time() - (left.heartbeat or left.created)
        return (f"note: run {left.id} of this project is still running (driven by {left.owner}, heartbeat {ago:.0f}s "
                f"ago; a driver on another machine counts as gone after {HEARTBEAT_GRACE_S:.0f}s without one); this "
                "is a new run beside it")
    if fresh:
        return f"note: run {left.id} of this project was interrupted; --fresh starts a new run instead"
    if run_id:
        return (f"note: run {left.id} of this project was interrupted; --run-id {run_id} names a new run "
                f"(--run-id {left.id} continues it)")
    return (f"note: run {left.id} of this project was interrupted but is not continued: "
            f"{what_changed(left, settings, backend)}; starting a new run")


def what_changed(run: Run, settings: dict[str, Any], backend: str) -> str:
    """What differs between a stored run and what would run now: settings (``budget.max_trials 3 -> 4``), the
    backend, else the script or its packages."""
    def flat(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in doc.items():
            out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
        return out

    try:
        before = flat(ProjectConfig.model_validate(run.config).run_settings())
    except ValueError:
        before = flat(run.config)
    now = flat(ProjectConfig.model_validate(settings).run_settings())
    changed = [f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in sorted(before.keys() | now.keys())
               if before.get(k) != now.get(k)]
    if run.backend != backend:
        changed.append(f"backend {run.backend} -> {backend}")
    if not changed:
        return "its script or packages changed"
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return f"it ran with other settings ({shown}); run it with the same ones to continue it"


def abort_run(store: RunStore, run_id: str, signal_name: str) -> str:
    """Record a run stopped by a signal: its running trials ``stopped``, the run ``aborted`` with its end time;
    returns what was kept (one line). A store that cannot take it leaves the run to be read as interrupted."""
    why = f"aborted by {signal_name}"
    try:
        done = end_running_trials(store, run_id, TrialStatus.STOPPED, why, "aborted")
        run = store.get_run(run_id)
        if run is not None and not run.status.finished:
            store.finish_run(run_id, RunStatus.ABORTED, error=why, stopped=why)
    except StoreError as e:
        return f"run {run_id} could not be recorded as aborted ({e})"
    return f"run {run_id} is recorded as aborted; its {done} finished trial(s) are kept"


def end_failed(store: RunStore, run_id: str, error: BaseException) -> None:
    """Finish a run that stopped on an error as ``failed`` (``disk full: ...`` when the disk is), with the trials
    it was running, when the store can still take it; otherwise readers see it interrupted once this process is
    gone."""
    words = failure_words(error)
    try:
        end_running_trials(store, run_id, TrialStatus.FAILED, words, "disk_full" if words.startswith("disk full")
                           else "error")
        run = store.get_run(run_id)
        if run and not run.status.finished:
            store.finish_run(run_id, RunStatus.FAILED, error=words)
    except StoreError:
        pass


def end_running_trials(store: RunStore, run_id: str, status: TrialStatus, error: str, kind: str) -> int:
    """End the run's running trials (this process stopped them) with ``status``; return how many had ended
    before."""
    trials = store.trials(run_id)
    for t in trials:
        if t.status is TrialStatus.RUNNING:
            ran = round(time.time() - t.started_at, 2) if t.started_at else 0.0
            store.finish_trial(t.model_copy(update={"status": status, "error": error, "error_kind": kind,
                                                    "duration_s": ran}))
    return sum(t.status is not TrialStatus.RUNNING for t in trials)


def failure_words(error: BaseException) -> str:
    """How a run's error is recorded: ``disk full: ...`` for a full disk, else its type and message."""
    return disk_fault(error) or f"{type(error).__name__}: {error}"
