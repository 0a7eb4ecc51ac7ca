"""Run a project through the stages (``mlops run``), or one stage at a time (the Jenkins stage commands).

Validate data -> detect -> build -> train and tune -> evaluate (the gate) -> push, then the report mail. A run of
the same project, script (or snapshot, for a data project) and configuration that was killed half way is
continued (its trials are kept) unless ``fresh``.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import paths
from core.config import ProjectConfig, load_config
from core.console import Out
from core.errors import Aborted, AliasMoved, ConfigError, PushRefused, UsageError
from core.infra.requirements import NO_PACKAGES, Packages, project_packages
from core.records import Decision, Evaluation, ModelVersion, Run, RunStatus, Trial, TrialStatus, env_of
from core.registry import CANDIDATE, PRODUCTION, Registry
from core.store import ANY_VERSION, RunStore, get_run_store, this_worker
from mlops.pipeline.options import RunOptions
from mlops.pipeline.resume import abort_run, end_failed, find_resumable, not_continued
from mlops.pipeline.stages import STAGES

#: Seconds between two heartbeats of a running run.
RUN_HEARTBEAT_S = 10.0


@dataclass
class Pipeline:
    """What the stages of one project's run share, filled in as they go."""

    project: Path
    opts: RunOptions
    out: Out
    store: RunStore
    cfg: ProjectConfig | None = None
    detection: Any = None
    source: str = ""
    backend: Any = None
    packages: Packages = NO_PACKAGES
    run: Run | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    #: What the "Validate data" stage found (``mlops.pipeline.data.DataCheck``) and the run's snapshot.
    data_check: Any = None
    snapshot: Any = None
    #: The generated project of a data project (``training.dataproject.DataProject``).
    data_project: Any = None
    decision: Decision | None = None
    #: What the trials see beyond the project folder (``training.resolve.Reach``): mapped paths, the repository.
    reach: Any = None
    #: What mlops decided on its own for the script (paths mapped, repository, packages): console and report.
    resolved: list[str] = field(default_factory=list)
    #: The line naming the sandbox the trials get (``sandbox: bubblewrap (...)``).
    sandbox: str = ""

    @property
    def is_data_project(self) -> bool:
        """``data:`` and no script: mlops writes the training script."""
        from training.dataproject import is_data_project

        assert self.cfg is not None
        return is_data_project(self.project_dir, self.cfg.data is not None, self.cfg.entry)

    @property
    def project_dir(self) -> Path:
        """The project folder (the folder around a single script)."""
        return self.project if self.project.is_dir() else self.project.parent

    @property
    def env(self) -> str:
        """The trial environment: ``ml`` or ``dl``."""
        return env_of(self.detection.kind)


def check_paths(p: Pipeline) -> None:
    """``paths:`` folders and the datasets cache must exist.

    Raises:
        ConfigError: One does not, with what to do.
    """
    assert p.cfg is not None
    for prefix, folder in p.cfg.paths.items():
        if not (p.project_dir / folder).is_dir():
            raise ConfigError("mlops.yaml", f"paths.{prefix}", f"'{folder}' is not a folder of the project "
                                                              f"{p.project_dir}")
    cache = p.cfg.datasets_cache
    if cache and not Path(cache).expanduser().is_dir():
        raise ConfigError("datasets_cache (or MLOPS_DATASETS_CACHE)", "", f"{cache} is not a folder; create it and "
                          "put the files Keras downloads there (e.g. mnist.npz)")


def project_name(p: Pipeline) -> str:
    """``name:`` from mlops.yaml, else the name given by the caller (the git hook: the repository's), else the
    project folder's name, made a valid name (``my repo`` -> ``my-repo``).

    Raises:
        UsageError: The folder's name makes no valid name.
    """
    from core.names import check_name, default_name

    assert p.cfg is not None
    return check_name(p.cfg.name) if p.cfg.name else default_name(p.opts.project_name or p.project_dir.name)


def resolve_project(path: Path) -> Path:
    """The absolute project path.

    Raises:
        UsageError: It does not exist.
    """
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder; give the training project's folder or script")
    return path.resolve()


# -- the stages ----------------------------------------------------------------------------------

def configure(p: Pipeline) -> None:
    """Resolve the project, read its configuration and claim its name (once).

    Raises:
        UsageError: The name is bound to a project from elsewhere (see ``core.identity``).
    """
    if p.cfg is None:
        from core.confine import check_pushed_paths
        from core.identity import claim, origin_of
        from core.registry import who

        p.project = resolve_project(p.project)
        p.cfg = load_config(p.project, p.opts.overrides())
        check_pushed_paths(p.project_dir, load_config(p.project, environ={}))  # what the push says, confined
        claim(p.store, project_name(p), p.opts.origin or origin_of(p.project_dir), who=who())


def data_stage(p: Pipeline) -> None:
    """Validate data: snapshot, schema and drift of ``data:`` (a project without it has nothing to validate).

    Raises:
        DataError: The data cannot be used (exit code 1); nothing is stored.
    """
    from mlops.pipeline.data import check_data

    configure(p)
    assert p.cfg is not None
    if p.cfg.data is None:
        return
    p.data_check, p.snapshot = check_data(p.cfg, p.project_dir, project_name(p), p.store, p.out)


def detect_stage(p: Pipeline) -> None:
    """Detect: configuration, framework, kind, entry script (for a data project: the model mlops will write)."""
    from training.dataproject import data_detection
    from training.detect import detect, load_source

    configure(p)
    assert p.cfg is not None
    p.out.step(f"detect {p.project}")
    if p.is_data_project:
        if p.cfg.confirm:
            raise ConfigError("mlops.yaml", "confirm", "is for script projects; a data project is scored once on "
                                                       "its test split, which no trial sees")
        task = p.snapshot.summary.task if p.snapshot is not None else None
        p.detection = data_detection(p.cfg.framework, task, p.snapshot.summary.id if p.snapshot else "")
    else:
        if p.cfg.framework:
            raise ConfigError("mlops.yaml", "framework", "is for data projects (data: and no script); your "
                                                         "script's code decides the framework")
        p.detection = detect(p.project, p.cfg.entry, p.cfg.image)
    p.cfg = p.cfg.for_task(p.detection.task)
    check_paths(p)
    d = p.detection
    why = "the task's default metric" if p.cfg.metric_is_default else "from mlops.yaml"
    p.out.info(f"{d.entry}: {d.framework} ({d.kind}) -> image {d.image}; {d.task or 'classification'}, "
               f"judged on {p.cfg.metric} ({why}), target {p.cfg.target:g}")
    p.source = "" if p.is_data_project else load_source(p.project_dir / p.detection.entry)
    if not p.is_data_project:
        from training.resolve import reach_of

        p.reach = reach_of(p.project_dir, p.detection, p.cfg.paths)
        for line in p.reach.lines:
            p.out.info(line)
        p.resolved += p.reach.lines


def build_stage(p: Pipeline) -> str:
    """Build image: the trial environment (a Docker image, or a local virtualenv)."""
    from core.errors import BuildError
    from training.backends import LocalBackend, get_backend, refuse_unsandboxed

    assert p.cfg is not None
    p.backend, why = get_backend(p.opts.backend, p.cfg.docker.hosts, from_hook=p.opts.from_hook)
    p.out.step(f"prepare: {why}")
    say_sandbox(p)
    p.packages = project_packages(p.project_dir, p.cfg.packages, p.env)
    for line, reason in p.packages.ignored:
        p.out.info(f"{p.packages.source}: '{line}' is left out: {reason}")
    if p.packages:
        p.out.info(f"the project's packages ({p.packages.source}): {', '.join(p.packages.lines)}")
    asked = p.packages
    try:
        p.packages = with_imported_packages(p, asked)
        built = p.backend.prepare(p.env, p.out.info, p.packages)
    except BuildError as e:
        if p.opts.backend != "auto" or isinstance(p.backend, LocalBackend):
            raise
        reason = str(e).splitlines()[0]
        p.out.fail(f"warning: the Docker image could not be built ({reason}); training in local virtualenvs "
                   "instead. To train in Docker here, build a base image with scripts/bootstrap-base-image and "
                   "export MLOPS_BASE_IMAGE=mlops-base:bookworm (or use --backend docker to make this an error)")
        p.backend = LocalBackend()
        refuse_unsandboxed(p.backend, p.opts.from_hook)
        say_sandbox(p)
        p.packages = with_imported_packages(p, asked)
        built = p.backend.prepare(p.env, p.out.info, p.packages)
    p.out.info(built)
    return built


def with_imported_packages(p: Pipeline, packages: Packages) -> Packages:
    """``packages`` and, unless ``auto_packages: false`` (``packages: none``), the pinned PyPI distributions of
    the script's imports that neither the environment nor ``packages`` provides; said in one line.

    Raises:
        BuildError: The environment itself cannot be built (to ask it what it lacks).
    """
    from training.autopackages import resolve_imports

    assert p.cfg is not None
    if p.is_data_project or not p.cfg.auto_packages or not p.detection.imports:
        return packages
    p.backend.prepare(p.env, p.out.info)  # the environment itself (cached): what can it import?
    imports = [(e.what, f"{e.file}:{e.line}") for e in p.detection.imports]
    missing = p.backend.missing_modules(p.env, [name for name, _ in imports])
    auto = resolve_imports(imports, missing, p.env, packages)
    for line in auto.lines(p.env):
        p.out.info(line)
        if line not in p.resolved:
            p.resolved.append(line)
    return packages.with_auto(auto.pins)


def say_sandbox(p: Pipeline) -> None:
    """Print the one line naming the sandbox the trials get (kept for the run record and the report)."""
    assert p.cfg is not None
    p.sandbox = p.backend.sandbox_line(p.cfg.trial.memory, p.cfg.trial.cpus, p.cfg.trial.network)
    p.out.info(p.sandbox)


def open_run(p: Pipeline, fingerprint: str) -> Run:
    """The run to train: the one named by ``--run-id`` (created, or continued while it runs), else an
    interrupted run of the same project and fingerprint (unless ``--fresh``), else a new one.

    Raises:
        UsageError: ``--run-id`` names a finished run, or a run of something else.
    """
    from mlops.pipeline.workers import clean_run_id

    assert p.cfg is not None
    run_id = clean_run_id(p.opts.run_id) if p.opts.run_id else ""
    previous = p.store.get_run(run_id) if run_id else None
    if previous is not None:
        if previous.status.finished:
            raise UsageError(f"run {run_id} has already finished ({previous.status}); give another --run-id")
        if previous.fingerprint != fingerprint:
            raise UsageError(f"run {run_id} trains something else (another script, configuration or backend); "
                             "give another --run-id")
        if previous.status is RunStatus.INTERRUPTED and not p.store.resume_run(previous.id):
            raise UsageError(f"run {run_id} was continued by another process meanwhile; give another --run-id")
    elif not run_id and not p.opts.fresh:
        previous = find_resumable(p.store, p.project, fingerprint)
    if previous:
        p.store.heartbeat_run(previous.id)
        why = f" ({previous.interrupted})" if previous.interrupted else ""
        p.out.info(f"continuing run {previous.id}, which was stopped before it finished{why}; its trial budget "
                   "counts the trials it ran (--fresh starts a new run)")
        return previous.model_copy(update={"status": RunStatus.RUNNING, "interrupted": ""})
    assert p.cfg is not None
    why = not_continued(p.store, p.project, p.cfg.run_settings(), p.backend.name, p.opts.fresh, run_id)
    if why:
        p.out.info(why)
    d = p.detection
    data_project = p.is_data_project
    return p.store.create_run(Run(
        id=run_id, project=project_name(p), path=str(p.project), entry=d.entry, framework=d.framework, kind=d.kind,
        env=p.env, task=d.task or "classification", image=d.image, backend=p.backend.name, sandbox=p.sandbox,
        metric=p.cfg.metric, target=p.cfg.target, metric_is_default=p.cfg.metric_is_default,
        goal=p.cfg.goal, config=p.cfg.run_settings(), strategy=p.cfg.strategy,
        build_url=os.environ.get("BUILD_URL"), fingerprint=fingerprint, owner=this_worker(),
        shared=bool(run_id) or p.cfg.workers == 0,
        data_project=data_project, measured_on="test" if data_project else "reported",
        snapshot=p.snapshot.summary.id if p.snapshot is not None else None,
        data=p.data_check.to_doc() if p.data_check is not None else None, resolved=list(p.resolved),
        auto_packages=list(p.packages.auto)))


def train_stage(p: Pipeline) -> None:
    """Train and tune: trials until the target or the budget (on this machine's workers and any that join),
    then the best model registered and reported."""
    from mlops.pipeline.workers import LocalWorkers, fingerprint
    from training.tuner import TuneContext
    from training.worker import TARGET_REACHED, ask_lock, open_strategy_storage, settle, work

    assert p.cfg is not None
    cfg = p.cfg
    data_project = p.is_data_project
    what = f"data project, snapshot {p.snapshot.summary.id}" if data_project and p.snapshot else p.source
    p.run = open_run(p, fingerprint(what, cfg.run_settings(), p.backend.name, p.packages.text()))
    run_id = p.run.id
    run_dir = paths.runs_dir() / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        storage = open_strategy_storage(cfg, run_dir, shared=p.run.shared or cfg.workers > 1)
    except BaseException as e:
        p.store.finish_run(run_id, RunStatus.FAILED, error=str(e))
        raise
    spent = sum(t.duration_s for t in p.store.trials(run_id))
    p.store.update_run(run_id, deadline=time.time() + cfg.budget.max_minutes * 60 - spent)
    p.out.info(f"run {run_id} in {run_dir} (store: {p.store.description})")
    if p.run.shared or cfg.workers != 1:
        joining = f"; workers of other machines join with 'mlops worker {run_id}'" if p.run.shared else ""
        p.out.info(f"{cfg.workers} worker(s) on this machine{joining}")
    project_dir, entry = p.project_dir, p.detection.entry
    if data_project:
        project_dir, entry = generate(p, run_dir)
    ctx = TuneContext(store=p.store, run_id=run_id, cfg=cfg, backend=p.backend, project_dir=project_dir,
                      entry=entry, env=p.env, source=p.source, run_dir=run_dir, out=p.out,
                      packages=p.packages, keras_api=p.detection.keras_api, shared=p.run.shared,
                      trains=cfg.workers > 0, strategy_storage=storage,
                      paths=p.reach.paths if p.reach else None, tree=p.reach.tree if p.reach else None)
    local = LocalWorkers(p.out)
    try:
        with keep_alive(lambda: p.store.heartbeat_run(run_id), RUN_HEARTBEAT_S):  # until the run is finished
            if cfg.workers > 1:
                p.out.prefix = "[worker 1] "
                local.start(cfg.workers - 1, run_id, p.project_dir, p.backend.name, p.opts.quiet)
            stop_reason = work(ctx)
            local.wait()
            p.out.prefix = ""
            while True:  # close the run once no trial of any worker runs; none can start after that
                settle(ctx)
                with p.store.lock(ask_lock(run_id)):
                    if not any(t.status is TrialStatus.RUNNING for t in p.store.trials(run_id)):
                        run = p.store.get_run(run_id)
                        stop_reason = run.stopped if run and run.stopped else stop_reason
                        if stop_reason != TARGET_REACHED:
                            p.store.update_run(run_id, stopped=stop_reason)
                        break
            if cfg.confirm and not data_project:
                from training.confirm import confirm_winner

                confirm_winner(ctx, best_trial(p.store.trials(run_id), cfg), cfg.confirm)
            p.summary = finish(p.store, run_id, cfg, p.out, stop_reason=stop_reason, snapshot=p.snapshot)
        p.run = p.store.get_run(run_id)
    except KeyboardInterrupt as e:  # SIGTERM (a Jenkins abort) or SIGINT: the run is recorded as aborted
        local.stop()
        aborted = Aborted.of(e)
        aborted.detail = abort_run(p.store, run_id, aborted.signal_name)
        raise aborted from None
    except BaseException as e:
        local.stop()
        end_failed(p.store, run_id, e)
        raise
    finally:
        p.backend.close()


def generate(p: Pipeline, run_dir: Path) -> tuple[Path, str]:
    """Write a data project's training script and data files into the run folder; return (project, entry)."""
    from training.dataproject import write_data_project

    assert p.cfg is not None and p.cfg.data is not None
    dp = write_data_project(p.snapshot, run_dir / "project", name=project_name(p),
                            framework=p.cfg.framework or "sklearn", positive=p.cfg.positive,
                            cost=(p.cfg.cost.fp, p.cfg.cost.fn), max_missing_ratio=p.cfg.data.max_missing_ratio,
                            seed=p.cfg.trial.seed)
    p.data_project, p.source = dp, dp.source
    p.out.info(f"data project: mlops wrote {dp.folder / dp.entry} ({dp.detection.evidence[0].what})")
    return dp.folder, dp.entry


def evaluate_stage(p: Pipeline) -> None:
    """Evaluate: the gate's decision, recorded (``mlops run`` goes on either way; the Jenkins stage fails on it)."""
    from mlops.pipeline.gate import gate_run

    assert p.run is not None
    p.decision = gate_run(p.store, p.run, p.out)
    p.summary.update(decision_summary(p.decision))
    p.summary["verdict"] = verdict(p.run)
    rewrite_report(p.store, p.run)


def push_stage(p: Pipeline) -> None:
    """Push model: a blessed version moves to ``production`` (``approval: auto``) or ``candidate`` (``manual``)."""
    assert p.run is not None and p.cfg is not None
    if p.opts.push and p.decision is not None:
        try:
            p.summary["pushed"] = push_blessed(p.store, p.run, p.decision, p.cfg.approval, p.out)
        except PushRefused as e:  # production moved since the gate: the run stays recorded, its push does not happen
            p.out.fail(str(e))
            p.summary["pushed"], p.summary["push_refused"] = None, str(e)


#: The action of each stage that ``mlops run`` runs (see ``stages.STAGES``).
ACTIONS: dict[str, Callable[[Pipeline], Any]] = {
    "Validate data": data_stage, "Detect": detect_stage, "Build image": build_stage, "Train and tune": train_stage,
    "Evaluate": evaluate_stage, "Push model": push_stage,
}


def run_project(project: Path, opts: RunOptions, out: Out, store: RunStore | None = None,
                until: str | None = None) -> dict[str, Any]:
    """Run the stages of ``mlops run`` in order (up to and including ``until``) and return the summary.

    Raises:
        UsageError: Bad project, config or code (exit code 2).
        MlopsError: A stage could not run at all.
    """
    p = Pipeline(project=project, opts=opts, out=out, store=store or get_run_store())
    for stage in STAGES:
        if stage.in_run:
            ACTIONS[stage.name](p)
        if stage.name == until:
            break
    if opts.notify and p.run is not None and p.cfg is not None:
        mail = p.cfg.mail
        if mail.when == "always" or (mail.when == "failure" and p.run.status is not RunStatus.PASSED):
            from core.notify import send_run_report

            p.summary["mail"] = send_run_report(p.store, p.run.id, out)
    say_verdict(out, p.summary)
    return p.summary


# -- finishing a run -----------------------------------------------------------------------------

def best_trial(trials: list[Trial], cfg: ProjectConfig) -> Trial | None:
    """The trial with the best metric (by the config's direction), or ``None`` when none produced one."""
    scored = [t for t in trials if t.status is TrialStatus.OK and t.value is not None]
    if not scored:
        return None
    sign = 1 if cfg.goal == "maximize" else -1
    return max(scored, key=lambda t: (sign * t.value, -t.number))  # type: ignore[operator]


def register_best(store: RunStore, run: Run, best: Trial, passed: bool, value: float | None = None,
                  evaluation: Evaluation | None = None, snapshot: Any = None) -> ModelVersion | None:
    """Register the best trial's model as the project's next version (the one copy of the model file); the
    model of a trial that ran on another machine comes from the store.

    A data project's version also gets its test predictions (``test_predictions.json``, what the gate compares
    the served model with), its feature transform (Keras) and what the serving app needs in ``model.json``.
    """
    from training.carry import model_file as trial_model_file
    from training.dataproject import PREDICTIONS, TRANSFORM

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


def final_evaluation(run: Run, best: Trial, snapshot: Any, cfg: ProjectConfig) -> Evaluation:
    """Score the winner's predictions of the test rows, once: the figure a data project reports and the gate uses.

    Raises:
        UsageError: The winning trial wrote no predictions.
    """
    from core.evaluation import evaluate_predictions
    from training.dataproject import PREDICTIONS, held_out_labels

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
    from training.detect import load_source
    from training.harness.source import read_source, write_source

    path = Path(run.path)
    pushed = path / run.entry if path.is_dir() else path
    if run.data_project:
        pushed = run_dir / "project" / run.entry
    text = load_source(pushed)
    if best.script and Path(best.script).is_file():
        text = read_source(Path(best.script))
    elif best.script:  # written on another machine: the same rewrite again
        from training.tweaks import apply_config

        text = apply_config(text, best.config).source
    target = run_dir / best_script_name(run)
    write_source(target, text)
    (run_dir / "best.diff").write_text(best.diff or "", encoding="utf-8")
    return target


def trial_summary(t: Trial) -> dict[str, Any]:
    """The part of a trial that summaries show."""
    return {"number": t.number, "status": str(t.status), "value": t.value, "label": t.label, "tweaks": t.tweaks,
            "duration_s": t.duration_s, "error": t.error, "error_kind": t.error_kind, "metrics": t.metrics,
            "sources": t.sources}


def summarize(run: Run, trials: list[Trial]) -> dict[str, Any]:
    """The run as ``mlops run --json`` and ``summary.json`` show it."""
    run_dir = paths.runs_dir() / run.id
    return {
        "run_id": run.id, "status": str(run.status), "project": run.project, "metric": run.metric,
        "value": run.value, "target": run.target, "goal": run.goal, "framework": run.framework, "kind": run.kind,
        "image": run.image, "backend": run.backend, "trials": [trial_summary(t) for t in trials],
        "best_trial": run.best_trial, "model": run.model, "model_version": run.model_version,
        "run_dir": str(run_dir), "error": run.error, "stopped": run.stopped, "best_script": run.best_script,
        "report": str(run_dir / "report.html"), "task": run.task,
        "broken_tweaks": [b.to_doc() for b in run.broken_tweaks],
        "data_project": run.data_project, "snapshot": run.snapshot, "measured_on": run.measured_on,
        "selected_from": run.selected_from, "confirm": run.confirm,
        "evaluation": run.evaluation.to_doc() if run.evaluation else None,
        "data": run.data,
    }


def update_summary(path: Path, fields: dict[str, Any]) -> None:
    """Add fields to a ``summary.json`` written by ``mlops train --out`` (the Jenkins stages share it)."""
    summary = json.loads(path.read_text(encoding="utf-8"))
    summary.update(fields)
    path.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")


def decision_summary(decision: Decision) -> dict[str, Any]:
    """The gate's part of a summary: ``blessed`` and the decision."""
    return {"blessed": decision.blessed, "decision": decision.to_doc()}


def finish(store: RunStore, run_id: str, cfg: ProjectConfig, out: Out, stop_reason: str = "",
           snapshot: Any = None) -> dict[str, Any]:
    """Close a run: pick the best trial, score a data project's winner on the test split (once), register its
    model, write the best script, report and summary.

    The run's figure is the winner's: a data project's on the test split (selected on validation); a script's as
    it reported it, or with ``confirm: K`` the mean over K other seeds.
    """
    from core.data import read_snapshot
    from core.notify.report import write_report

    run = store.get_run(run_id)
    assert run is not None
    every = store.trials(run_id)
    trials = [t for t in every if t.confirms is None]
    run_dir = paths.runs_dir() / run_id
    best = best_trial(trials, cfg)
    value = best.value if best else None
    evaluation = confirm = None
    if best is not None and run.data_project:
        snapshot = snapshot or read_snapshot(paths.snapshots_dir() / str(run.snapshot))
        evaluation = final_evaluation(run, best, snapshot, cfg)
        value = evaluation.metrics.get(cfg.metric)
        out.info(f"trial {best.number} selected on the validation split ({cfg.metric} {best.value:.4g}); "
                 f"on the test split, scored once: {cfg.metric} {_show(value)}")
    elif best is not None and cfg.confirm:
        confirm = confirmation(best, [t for t in every if t.confirms == best.number], cfg)
        value = confirm["mean"]
        out.info(f"trial {best.number} confirmed with {len(confirm['values'])} other seed(s): {cfg.metric} mean "
                 f"{_show(confirm['mean'])}, spread {_show(confirm['std'])} (selected value {_show(best.value)})")
    passed = best is not None and cfg.reached(value)
    version = register_best(store, run, best, passed, value, evaluation, snapshot) if best else None
    best_script = str(write_best_script(run, best, run_dir)) if best else None
    error = None
    if best is None:
        ended = [t for t in trials if t.status is not TrialStatus.RUNNING]
        error = (ended[-1].error if ended else None) or "no trial produced a metric"
    measured_on = "test" if run.data_project else ("confirmed" if confirm else "reported")
    store.finish_run(run_id, RunStatus.PASSED if passed else RunStatus.FAILED,
                     value=value, best_trial=best.number if best else None,
                     model=version.path if version else None, model_version=version.version if version else None,
                     error=error, stopped=stop_reason, best_script=best_script, evaluation=evaluation,
                     confirm=confirm, measured_on=measured_on,
                     selected_from=sum(t.status is TrialStatus.OK and t.value is not None for t in trials))
    run = store.get_run(run_id)
    assert run is not None
    write_report(run, every, run_dir, **report_extras(store, run))
    summary = summarize(run, every)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    if version:
        out.info(f"model v{version.version}: {version.path}")
    out.info(f"report: {summary['report']}")
    return summary


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def confirmation(best: Trial, reruns: list[Trial], cfg: ProjectConfig) -> dict[str, Any]:
    """``confirm: K``: the winner's figure over the other seeds (the selected value is left out: it is the
    maximum of many looks, the re-runs are not)."""
    import statistics

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
    from core.notify.report import STYLESHEET, write_report

    run_dir = paths.runs_dir() / run.id
    if not run_dir.is_dir():
        return
    path = write_report(run, store.trials(run.id), run_dir, **report_extras(store, run))
    if out_dir is not None and out_dir.is_dir():
        for name in (path.name, STYLESHEET, "metric.png", "curves.png", "history.png"):
            if (run_dir / name).is_file():
                shutil.copy2(run_dir / name, out_dir / name)


def say_verdict(out: Out, summary: dict[str, Any]) -> None:
    """The run's last console line: ``PASSED  accuracy 0.9722 vs target 0.9  (run ..., 1 trial(s))``, and the
    gate's decision before it."""
    if not summary:
        return
    decision = summary.get("decision")
    if decision:
        blessed = decision["blessed"]
        (out.ok if blessed else out.fail)(f"{'BLESSED' if blessed else 'NOT BLESSED'}: {decision['reason']}")
    passed = summary["status"] == "passed" and summary.get("blessed", True)
    value = summary.get("value")
    line = f"{summary['metric']} {value:.4f} vs target {summary['target']}" if value is not None else \
        summary.get("error") or "no trial produced a metric"
    on = {"test": " on the test split", "confirmed": " (mean over seeds)"}.get(summary.get("measured_on", ""), "")
    note = f"  (run {summary['run_id']}, {len(summary['trials'])} trial(s))"
    (out.ok if passed else out.fail)(f"{'PASSED' if passed else 'FAILED'}  {line}{on}{note}")


# -- runs on record ------------------------------------------------------------------------------

@contextmanager
def keep_alive(beat: Callable[[], None], every: float) -> Iterator[None]:
    """Call ``beat`` every ``every`` seconds in the background while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                beat()
            except Exception:  # a missed heartbeat is retried at the next tick; the run goes on
                continue

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)


def resolve_run(store: RunStore, ref: str) -> Run:
    """The run named by an id, a ``summary.json`` path, or ``latest``.

    Raises:
        UsageError: Nothing matches.
    """
    run_id = ref
    if ref == "latest":
        runs = store.find_runs(limit=1)
        if not runs:
            raise UsageError(f"no runs recorded in {store.description}")
        return runs[0]
    if ref.endswith(".json"):
        path = Path(ref)
        if not path.is_file():
            raise UsageError(f"{ref}: no such file; 'mlops train --out DIR' writes DIR/summary.json")
        try:
            run_id = json.loads(path.read_text(encoding="utf-8"))["run_id"]
        except (json.JSONDecodeError, KeyError) as e:
            raise UsageError(f"{ref}: not a summary written by mlops (no run_id)") from e
    run = store.get_run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in {store.description}; see 'mlops runs'")
    return run


def verdict(run: Run) -> str:
    """One line a person understands: passed or not, the metric against the target, and why it stopped."""
    if run.status is RunStatus.RUNNING:
        return f"RUNNING: run {run.id} has not finished"
    if run.status is RunStatus.INTERRUPTED:
        return (f"INTERRUPTED: run {run.id} did not finish ({run.interrupted}); 'mlops run {run.path}' "
                "continues it")
    if run.status is RunStatus.ABORTED:
        return f"ABORTED: run {run.id} was {run.error or 'aborted'}; its trials so far are kept"
    if run.value is None:
        return f"FAILED: no {run.metric} was measured ({run.error or 'no trial finished'})"
    op = ">=" if run.goal == "maximize" else "<="
    if run.status is RunStatus.PASSED:
        return (f"PASSED: {run.metric} {run.value:.4f} {op} target {run.target} "
                f"(best trial {run.best_trial}, run {run.id})")
    side = "under" if op == ">=" else "over"
    why = f" after {run.stopped}" if run.stopped else ""
    return (f"FAILED: {run.metric} {run.value:.4f} is {side} the target {run.target}{why}; the best model "
            f"(trial {run.best_trial}) is kept at {run.model}")


def push_model(store: RunStore, run: Run, out: Out, alias: str = PRODUCTION, why: str = "",
               expected: int | object | None = ANY_VERSION) -> dict[str, Any]:
    """Point an alias of the project (``production``) at the run's model version, recorded in the alias history.

    Args:
        expected: Compare-and-swap: the version the alias must still point at (the one the gate compared with).

    Raises:
        UsageError: The run has no model version.
        AliasMoved: ``expected`` is given and another run moved the alias meanwhile.
    """
    from core.records import Event

    if not run.model_version:
        raise UsageError(f"run {run.id} has no model to push")
    registry = Registry(store)
    move = registry.promote(run.project, run.model_version, alias, why=why or f"pushed: {verdict(run)}",
                            run_id=run.id, expected=expected)
    folder = registry.folder(run.project, run.model_version)
    store.add_event(Event(type="push", run_id=run.id, project=run.project, version=run.model_version,
                          path=str(folder), alias=alias))
    out.info(f"pushed model v{move.version} of {run.project}: {alias} -> v{move.version} ({folder})")
    return {"project": run.project, "version": move.version, "path": str(folder), "alias": alias}


def push_blessed(store: RunStore, run: Run, decision: Decision, approval: str, out: Out) -> dict[str, Any] | None:
    """Push a blessed version: to ``production`` (``approval: auto``), or to ``candidate`` for a person to promote
    (``approval: manual``). A version that is not blessed is not pushed.

    Returns:
        What was pushed (with ``awaiting_approval``), or ``None``.
    """
    if not decision.blessed:
        out.fail(f"not pushed: the gate did not bless model v{decision.version} ({decision.reason})")
        return None
    if approval == "manual" or decision.breaking:  # a declared change of inputs always waits for a person
        pushed = push_model(store, run, out, CANDIDATE, why=f"blessed, waiting for approval: {decision.reason}")
        out.info(f"approval: manual. To approve it: mlops promote {run.project} {pushed['version']} --to "
                 f"{PRODUCTION} --reason \"...\"")
        return {**pushed, "awaiting_approval": True}
    registry = Registry(store)
    if registry.aliases(run.project).get(PRODUCTION) == decision.version:  # pushed before: nothing to move
        out.info(f"model v{decision.version} of {run.project} is already {PRODUCTION}")
        return {"project": run.project, "version": decision.version, "alias": PRODUCTION, "awaiting_approval": False,
                "path": str(registry.folder(run.project, decision.version))}
    try:
        pushed = push_model(store, run, out, PRODUCTION, why=f"blessed: {decision.reason}",
                            expected=decision.baseline_version)
    except AliasMoved as e:
        raise PushRefused(production_moved(run, decision, e.actual)) from e
    return {**pushed, "awaiting_approval": False}


def production_moved(run: Run, decision: Decision, now: int | None) -> str:
    """Why a blessed candidate is not pushed: production moved after its gate (a compare-and-swap failed)."""
    against = f"v{decision.baseline_version}" if decision.baseline_version is not None else "no production version"
    return (f"not pushed: {PRODUCTION} of {run.project} moved to v{now} (another run) after the gate compared "
            f"model v{decision.version} with {against}; run the project again to gate it against v{now}, or "
            f"promote it by hand: mlops promote {run.project} {decision.version} --to {PRODUCTION}")


def export_run(summary: dict[str, Any], out_dir: Path, out: Out) -> None:
    """Copy what CI archives into ``out_dir``: summary.json, report.html and plots, best script, diff, model."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(summary["run_dir"])
    for name in ("report.html", "report.css", "metric.png", "curves.png", "timeline.png", "best.diff",
                 Path(summary.get("best_script") or "").name):
        if name and (run_dir / name).is_file():
            shutil.copy2(run_dir / name, out_dir / name)
    if summary.get("model"):
        (out_dir / "model").mkdir(exist_ok=True)
        shutil.copy2(summary["model"], out_dir / "model" / Path(summary["model"]).name)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    out.info(f"artifacts in {out_dir}")
