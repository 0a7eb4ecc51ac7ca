"""What happens to a run that did not end by itself: continuing one whose driver is gone (or saying why a new run
starts beside it), recording one stopped by a signal as ``aborted``, one that failed (a full disk) as ``failed``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.config import ProjectConfig
from core.errors import StoreError, disk_fault
from core.records import Run, RunStatus, TrialStatus
from core.store import HEARTBEAT_GRACE_S, RunStore


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
