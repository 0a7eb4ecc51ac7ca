"""Workers of a run: the processes ``mlops run --workers N`` starts on this machine, and ``mlops worker RUN``,
which joins a run from any machine that reaches the run store (what a Jenkins agent runs).

A worker is the same loop everywhere (``training.worker.work``); this module only starts and joins them:
the configuration of a joining worker is the run's own (as stored by the process that drives it), and its
copy of the project must be the one the run trains.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from core import paths, settings
from core.config import ProjectConfig, load_config
from core.console import Out
from core.errors import UsageError
from core.infra.requirements import project_packages
from core.records import Run, RunStatus
from core.store import RunStore

#: How long ``mlops worker`` waits for its run to be created (the controller may start after the agents).
JOIN_WAIT_S = 600.0


def clean_run_id(raw: str) -> str:
    """A run id from any string (e.g. Jenkins's ``BUILD_TAG``): characters other than letters, digits, ``.``,
    ``_`` and ``-`` become ``-``, so that every process that gets the same string gets the same id.

    Raises:
        UsageError: Nothing usable is left.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.")[:120]
    if not cleaned:
        raise UsageError(f"--run-id {raw!r} has no letter or digit; give e.g. \"$BUILD_TAG\"")
    return cleaned


def fingerprint(source: str, settings: dict, backend: str, packages: str) -> str:
    """Identity of what a run trains: the script, the settings that decide the result, the backend and the
    project's packages. A run is continued, or joined, only with the same fingerprint."""
    from training.study import source_hash

    settings = ProjectConfig.model_validate(settings).run_settings()  # as validated: 60 and 60.0 are one value
    return source_hash(source + json.dumps(settings, sort_keys=True) + backend + packages)


@dataclass
class LocalWorkers:
    """Worker processes of this machine (``mlops worker``), their output relayed with a prefix."""

    out: Out
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    relays: list[threading.Thread] = field(default_factory=list)

    def start(self, count: int, run_id: str, project: Path, backend: str, quiet: bool) -> None:
        """Start ``count`` workers of the run (numbered from 2: this process is worker 1); they die with this
        process (and their trials with them), as a single worker's trial does."""
        from training.backends import die_with_parent

        for n in range(2, count + 2):
            cmd = [sys.executable, "-m", "mlops", "worker", run_id, "--project", str(project), "--backend", backend,
                   "--wait", "60", *(["--quiet"] if quiet else [])]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    env={**settings.environment(), "NO_COLOR": "1"}, preexec_fn=die_with_parent())
            relay = threading.Thread(target=self._relay, args=(proc, f"[worker {n}] "), daemon=True)
            relay.start()
            self.procs.append(proc)
            self.relays.append(relay)

    def _relay(self, proc: subprocess.Popen[str], prefix: str) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.out.console.print(prefix + line.rstrip("\n"), markup=False, highlight=False)
        code = proc.wait()
        if code != 0:
            self.out.fail(f"{prefix}exited with code {code}; a trial it was running is reaped and runs again")

    def wait(self) -> None:
        """Wait for every worker to end."""
        for proc in self.procs:
            proc.wait()
        for relay in self.relays:
            relay.join(timeout=5)

    def stop(self) -> None:
        """End the workers (this process is interrupted); their running trials end with them."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_for_run(store: RunStore, run_id: str, wait_s: float, out: Out) -> Run:
    """The run, once the process that drives it has created it.

    Raises:
        UsageError: It did not appear within ``wait_s`` seconds.
    """
    end = time.time() + wait_s
    said = False
    while (run := store.get_run(run_id)) is None:
        if time.time() > end:
            raise UsageError(f"no run {run_id} in {store.description} after {wait_s:g}s; start it with "
                             f"'mlops train PROJECT --run-id {run_id}' (same MONGODB_URI)")
        if not said:
            out.info(f"waiting for run {run_id} to be created (up to {wait_s:g}s)")
            said = True
        time.sleep(1)
    return run


def join_run(store: RunStore, run_id: str, project: Path | None, backend_name: str, wait_s: float,
             out: Out) -> str:
    """Join a run as one more worker: run its trials until it is over; return why this worker stopped.

    Raises:
        UsageError: The run does not appear, or this copy of the project is not the one it trains.
    """
    from training.backends import get_backend, refuse_unsandboxed
    from training.detect import detect, load_source
    from training.resolve import reach_of
    from training.tuner import TuneContext
    from training.worker import open_strategy_storage, work

    run = wait_for_run(store, clean_run_id(run_id), wait_s, out)
    if run.status is not RunStatus.RUNNING:
        out.info(f"run {run.id} has finished ({run.status}); nothing to do")
        return "the run has finished"
    run_dir = paths.runs_dir() / run.id
    generated = run_dir / "project"  # a data project's script, written by mlops in the run folder
    if run.data_project and not (generated / run.entry).is_file():
        out.info(f"run {run.id} trains a data project, whose script mlops writes on the machine that drives the "
                 "run: its workers run there (workers: N); nothing to do here")
        return "a data project's workers run on the machine that drives it"
    project_dir = (project or Path(run.path)).resolve()
    if not project_dir.exists():
        raise UsageError(f"{project_dir}: no such folder; give this machine's copy of the project with --project")
    if project_dir.is_file():
        project_dir = project_dir.parent
    here = load_config(project_dir)  # only where and how this machine runs trials: the run decides the rest
    cfg = ProjectConfig.model_validate({**run.config, "docker": here.docker.model_dump(),
                                        "optuna_storage": here.optuna_storage})
    cfg._metric_is_default = run.metric_is_default
    packages = project_packages(project_dir, cfg.packages, run.env).with_auto(run.auto_packages)
    if run.data_project:
        project_dir = generated
    entry = project_dir / run.entry
    if not entry.is_file():
        raise UsageError(f"{entry}: missing; --project must be a copy of the project run {run.id} trains")
    source = load_source(entry)
    what = f"data project, snapshot {run.snapshot}" if run.data_project else source
    if fingerprint(what, cfg.run_settings(), run.backend, packages.text()) != run.fingerprint:
        raise UsageError(f"{project_dir} is not the project run {run.id} trains (its {run.entry}, requirements or "
                         "mlops.yaml differ); check out the same commit")
    backend, why = get_backend(run.backend if backend_name == "auto" else backend_name, cfg.docker.hosts)
    if backend.name != run.backend:
        raise UsageError(f"run {run.id} trains with the {run.backend} backend, but this machine would use "
                         f"{why}; give it the same (--backend {run.backend})")
    if backend_name == "auto":  # the run's backend, chosen for this machine: the same refusal as the run's
        refuse_unsandboxed(backend)
    out.step(f"joining run {run.id} of {run.project} ({store.description}); trials run on {why}")
    out.info(backend.sandbox_line(cfg.trial.memory, cfg.trial.cpus, cfg.trial.network))
    out.info(backend.prepare(run.env, out.info, packages))
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg.strategy == "optuna" and not cfg.optuna_storage and run.owner.rpartition(":")[0] != socket.gethostname():
        out.info("note: no optuna_storage (MLOPS_OPTUNA_STORAGE) here: this worker's Optuna study is its own; "
                 "the run's trials still never repeat a configuration")
    detection = detect(project_dir, run.entry, cfg.image)
    reach = None if run.data_project else reach_of(project_dir, detection, cfg.paths)
    ctx = TuneContext(store=store, run_id=run.id, cfg=cfg, backend=backend, project_dir=project_dir,
                      entry=run.entry, env=run.env, source=source, run_dir=run_dir, out=out, packages=packages,
                      keras_api=detection.keras_api, shared=True,
                      strategy_storage=open_strategy_storage(cfg, run_dir, shared=True),
                      paths=reach.paths if reach else None, tree=reach.tree if reach else None)
    try:
        return work(ctx)
    finally:
        backend.close()
