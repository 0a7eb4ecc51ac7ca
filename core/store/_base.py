"""The run store contract: what every implementation promises (contract tests run it on each)."""

from __future__ import annotations

import abc
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

from core.errors import StoreError
from core.records import AliasMove, Decision, Event, ModelVersion, ProjectRecord, Run, RunStatus, Trial, TrialStatus

#: ``move_alias`` without a compare-and-swap.
ANY_VERSION = object()
#: A run or trial whose heartbeat is older than this is considered dead (its driver or worker is gone).
HEARTBEAT_GRACE_S = 60.0


def new_run_id() -> str:
    """A sortable, unique run id such as ``20261123-081502-3f9a1c``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


#: How long a lock holder may keep a lock before another process may break it (it died, or hangs).
LOCK_TTL_S = 120.0


def this_worker() -> str:
    """``host:pid`` of this process: who drives a run or runs a trial."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_gone(worker: str) -> bool:
    """Whether the process ``host:pid`` (a run's driver, a trial's worker) is known to be dead: it ran on this
    machine and no such process exists. On another machine only its heartbeat can tell."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


#: A driver on this machine whose process still exists is taken for alive unless its heartbeat is older than
#: this many grace periods (its pid was reused by another process, or it hangs).
SAME_HOST_GRACE_FACTOR = 10


def driver_gone(run: Run, now: float | None = None, grace_s: float = HEARTBEAT_GRACE_S) -> str:
    """Why the process that drives a running run is known to be gone (``""`` when it may be alive).

    On this machine its process is looked up (dead: gone at once); on another machine only its heartbeat can
    tell (older than ``grace_s``). This process is never gone.
    """
    if run.owner == this_worker():
        return ""
    now = time.time() if now is None else now
    silent = now - (run.heartbeat or run.created)
    if worker_gone(run.owner):
        return f"its driver {run.owner} is gone (killed, or its machine restarted)"
    local = run.owner.rpartition(":")[0] == socket.gethostname()
    if silent > grace_s * (SAME_HOST_GRACE_FACTOR if local else 1):
        return f"its driver {run.owner or '(unknown)'} sent no heartbeat for {silent:.0f}s"
    return ""


class RunStore(abc.ABC):
    """Runs, their trials, model versions, aliases and events, shared by many processes on many machines.

    Contract:
    - Every returned record is a copy: changing it never changes the store.
    - A run is created ``running``; ``finish_run`` sets its final status once. A finished run is immutable:
      updating or finishing it again, or adding a trial to it, raises ``StoreError``.
    - A running run whose driver is gone (``driver_gone``) is read as ``interrupted``, by ``get_run`` and
      ``find_runs`` alike (``reap_run``: whoever reads it first records it, with its trials that were running);
      ``resume_run`` makes it ``running`` again for one new driver; a heartbeat of its own driver revives it.
    - A trial exists before it runs: ``create_trial`` stores it ``running`` with the next number of its run,
      allocated atomically, so several workers never get the same number and none is skipped. A running trial
      carries a heartbeat; ``reap_trials`` ends the trials whose heartbeat stopped as ``reaped``.
    - Model versions are numbered per project, atomically, from 1.
    - Alias moves are appended to a history that is never rewritten. A move may be a compare-and-swap: it happens
      only if the alias still points at the version the caller expects (atomic across processes).
    - ``lock(name)`` excludes every other process holding the same lock, on any machine; a lock whose holder
      died (or kept it past its time to live) is broken by the next process that wants it.
    - Files (a trial's model, its last checkpoint) are stored whole under a name; ``put_file`` replaces one
      atomically: a reader gets the old bytes or the new ones, never a mix.
    - A project name is bound to one origin by the first run that claims it (atomically); only a rebind replaces it.
    - A run gets one gate decision, recorded once and never changed.
    - Every write is durable when the call returns, so nothing is lost if the caller dies next.
    """

    description: str

    # -- runs --------------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(self, run: Run) -> Run:
        """Store a new ``running`` run (its id is made when empty) and return it."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run | None:
        """The run with that id, or ``None``."""

    @abc.abstractmethod
    def find_runs(self, project: str | None = None, status: RunStatus | None = None, path: str | None = None,
                  limit: int = 20) -> list[Run]:
        """Runs, newest first, optionally of one project, status or project path."""

    @abc.abstractmethod
    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set fields of a running run.

        Raises:
            StoreError: The run does not exist or is finished.
        """

    @abc.abstractmethod
    def finish_run(self, run_id: str, status: RunStatus, **fields: Any) -> None:
        """Give a running (or interrupted) run its final status (``passed``, ``failed`` or ``aborted``) and make
        it immutable.

        Raises:
            StoreError: The run does not exist or is finished.
            ValueError: ``status`` is not a final status.
        """

    def heartbeat_run(self, run_id: str, owner: str | None = None) -> None:
        """Say that the run's driver (``owner``, default this process) is alive; a run taken for interrupted while
        that driver lived (its machine slept) is running again."""
        owner = owner or this_worker()
        if not self._set_run_status_if(run_id, RunStatus.INTERRUPTED, RunStatus.RUNNING, where={"owner": owner},
                                       heartbeat=time.time(), interrupted=""):
            self.update_run(run_id, owner=owner, heartbeat=time.time())

    def reap_run(self, run: Run | None) -> Run | None:
        """The run as readers must see it: a ``running`` run whose driver is gone is ``interrupted`` (recorded
        here, once, with its running trials reaped; when the store cannot take the write, only shown so).

        Every reader of runs goes through this (``get_run``, ``find_runs``).
        """
        if run is None or run.status is not RunStatus.RUNNING:
            return run
        why = driver_gone(run)
        if not why:
            return run
        interrupted = run.model_copy(update={"status": RunStatus.INTERRUPTED, "interrupted": why})
        try:
            if self._set_run_status_if(run.id, RunStatus.RUNNING, RunStatus.INTERRUPTED,  # unless it beat meanwhile
                                       where={"owner": run.owner, "heartbeat": run.heartbeat}, interrupted=why):
                self.reap_trials(run.id)
        except StoreError:  # a read-only store or a full disk: shown as it is, recorded by a later reader
            pass
        return interrupted

    def resume_run(self, run_id: str, owner: str | None = None) -> bool:
        """Make an ``interrupted`` run ``running`` again with a new driver (``owner``, default this process).

        Returns:
            False when it is not interrupted (any more): another process resumed or finished it first.
        """
        return self._set_run_status_if(run_id, RunStatus.INTERRUPTED, RunStatus.RUNNING,
                                       owner=owner or this_worker(), heartbeat=time.time(), interrupted="")

    @abc.abstractmethod
    def _set_run_status_if(self, run_id: str, expected: RunStatus, new: RunStatus,
                           where: dict[str, Any] | None = None, **fields: Any) -> bool:
        """Atomically move a run from ``expected`` (and the ``where`` field values) to ``new``, setting
        ``fields``; False when it was not so."""

    # -- trials ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_trial(self, run_id: str, trial: Trial) -> Trial:
        """Store ``trial`` as ``running`` with the next free number of the run; return it with its number.

        Raises:
            StoreError: The run does not exist or is finished.
        """

    @abc.abstractmethod
    def update_trial(self, run_id: str, number: int, **fields: Any) -> None:
        """Set fields of a trial (its heartbeat, its result...)."""

    def heartbeat_trial(self, run_id: str, number: int) -> None:
        """Say that the worker running this trial is alive."""
        self.update_trial(run_id, number, heartbeat=time.time())

    def finish_trial(self, trial: Trial) -> bool:
        """Store a trial's result (status, metrics, error...) over its running record.

        Returns:
            False, storing nothing, when the trial is not running any more: it was reaped meanwhile (its worker
            was silent for too long) and its configuration runs again elsewhere, so this result is not recorded.
        """
        doc = trial.to_doc()
        for key in ("_id", "run_id", "number", "status"):
            doc.pop(key, None)
        doc["finished_at"] = doc.get("finished_at") or time.time()
        return self._set_trial_status_if(trial.run_id, trial.number, TrialStatus.RUNNING, trial.status, **doc)

    @abc.abstractmethod
    def trials(self, run_id: str) -> list[Trial]:
        """The run's trials in number order (running ones included)."""

    def reap_trials(self, run_id: str, grace_s: float = HEARTBEAT_GRACE_S) -> list[Trial]:
        """End the run's ``running`` trials whose worker is gone as ``reaped``: their heartbeat is older than
        ``grace_s``, or their worker ran on this machine and has died.

        Returns:
            The reaped trials, so that their configurations can run again.
        """
        now = time.time()
        reaped = []
        for t in self.trials(run_id):
            last = t.heartbeat or t.started_at or 0
            if t.status is TrialStatus.RUNNING and (last < now - grace_s or worker_gone(t.worker)):
                why = (f"interrupted: its worker {t.worker} is gone" if worker_gone(t.worker) else
                       f"interrupted: its worker {t.worker or '(unknown)'} stopped sending heartbeats")
                ran = round(max(0.0, last - (t.started_at or last)), 2)  # until its last sign of life
                if self._set_trial_status_if(run_id, t.number, TrialStatus.RUNNING, TrialStatus.REAPED,
                                             error=why, error_kind="reaped", finished_at=now, duration_s=ran):
                    reaped.append(t.model_copy(update={"status": TrialStatus.REAPED, "error": why}))
        return reaped

    @abc.abstractmethod
    def _set_trial_status_if(self, run_id: str, number: int, expected: TrialStatus, new: TrialStatus,
                             **fields: Any) -> bool:
        """Atomically move a trial from ``expected`` to ``new``; False when it was not in ``expected``."""

    # -- locks -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str, ttl_s: float = LOCK_TTL_S, wait_s: float = 600.0) -> Iterator[None]:
        """Hold the lock ``name`` (excluding every other process, on any machine) while the block runs.

        Args:
            name: What is locked, e.g. ``ask/<run id>``.
            ttl_s: After this long another process may break the lock (its holder hangs or died).
            wait_s: Give up waiting after this long.

        Raises:
            StoreError: The lock stayed taken for ``wait_s`` seconds.
        """
        token = f"{this_worker()}:{secrets.token_hex(4)}"
        give_up = time.time() + wait_s
        pause = 0.02
        while not self._take_lock(name, token, time.time() + ttl_s):
            if time.time() > give_up:
                raise StoreError(f"the lock {name} in {self.description} stayed taken for {wait_s:g}s")
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
        try:
            yield
        finally:
            self._release_lock(name, token)

    @abc.abstractmethod
    def _take_lock(self, name: str, token: str, expires: float) -> bool:
        """Take the lock unless another live holder has it (break it when expired or its holder died)."""

    @abc.abstractmethod
    def _release_lock(self, name: str, token: str) -> None:
        """Release the lock if ``token`` still holds it."""

    # -- files -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def put_file(self, name: str, data: bytes) -> None:
        """Store (or replace) the file ``name``."""

    @abc.abstractmethod
    def get_file(self, name: str) -> bytes | None:
        """The stored file ``name``, or ``None``."""

    # -- model versions and aliases ----------------------------------------------------------------
    @abc.abstractmethod
    def create_model_version(self, version: ModelVersion) -> ModelVersion:
        """Store a model version with the next free version number of its project; return it."""

    @abc.abstractmethod
    def update_model_version(self, project: str, version: int, **fields: Any) -> None:
        """Set fields of a model version (its path once the files are in place...)."""

    @abc.abstractmethod
    def model_versions(self, project: str) -> list[ModelVersion]:
        """The project's versions, newest first."""

    def model_version(self, project: str, version: int) -> ModelVersion | None:
        """One version of a project, or ``None``."""
        return next((v for v in self.model_versions(project) if v.version == version), None)

    @abc.abstractmethod
    def move_alias(self, move: AliasMove, expected: int | object | None = ANY_VERSION) -> None:
        """Point ``move.alias`` of ``move.project`` at ``move.version`` and append the move to the history.

        Args:
            move: The move.
            expected: Compare-and-swap: move only if the alias points at this version now (``None``: at no
                version); the default moves it wherever it points.

        Raises:
            AliasMoved: The alias does not point at ``expected``; nothing is changed.
        """

    @abc.abstractmethod
    def aliases(self, project: str) -> dict[str, int]:
        """Alias -> version of a project."""

    @abc.abstractmethod
    def alias_history(self, project: str, alias: str | None = None) -> list[AliasMove]:
        """Every alias move of a project, oldest first."""

    # -- project identities --------------------------------------------------------------------------
    @abc.abstractmethod
    def bind_project(self, record: ProjectRecord, replace: bool = False) -> ProjectRecord:
        """Bind a project name to its origin, once: return the binding that holds (an earlier one wins, unless
        ``replace``: the operator's rebind)."""

    @abc.abstractmethod
    def projects(self, name: str | None = None) -> list[ProjectRecord]:
        """The bound project names (or the one named), by name."""

    # -- gate decisions ----------------------------------------------------------------------------
    @abc.abstractmethod
    def record_decision(self, decision: Decision) -> Decision:
        """Record the gate's decision on a run, once; return the recorded one (an earlier one wins)."""

    @abc.abstractmethod
    def decision(self, run_id: str) -> Decision | None:
        """The gate's decision on a run, or ``None`` before the run was evaluated."""

    # -- data ----------------------------------------------------------------------------------------
    @abc.abstractmethod
    def data_collection(self, name: str) -> Any:
        """A collection of the store's database that holds a project's rows (pymongo API).

        Raises:
            StoreError: The name is one of the store's own collections or not a valid name.
        """

    # -- events ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def add_event(self, event: Event) -> None:
        """Append an event."""

    @abc.abstractmethod
    def events(self, type: str | None = None, **match: Any) -> list[Event]:
        """Events of a type (and with these field values), oldest first."""

    def close(self) -> None:  # noqa: B027 - releasing a client is optional
        """Release the client."""
