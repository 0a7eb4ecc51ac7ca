"""The stage runner behind ``mlops run``: detect -> prepare -> train -> record -> report -> notify."""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops import paths
from mlops.config import ProjectConfig, load_config
from mlops.console import Out
from mlops.errors import UsageError
from mlops.store import FAILED, PASSED, RunStore, get_run_store


@dataclass
class RunOptions:
    """Command-line choices of ``mlops run`` (``None`` means: take it from mlops.yaml / env)."""

    backend: str = "auto"
    target: float | None = None
    metric: str | None = None
    max_trials: int | None = None
    max_minutes: float | None = None
    strategy: str | None = None
    notify: bool = True
    fresh: bool = False

    def overrides(self) -> dict[str, Any]:
        """Dotted config fields set on the command line."""
        return {"target": self.target, "metric": self.metric, "budget.max_trials": self.max_trials,
                "budget.max_minutes": self.max_minutes, "strategy": self.strategy}


def resolve_project(path: Path) -> Path:
    """The absolute project path.

    Raises:
        UsageError: It does not exist.
    """
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder; give the training project's folder or script")
    return path.resolve()


def project_config(project: Path, opts: RunOptions) -> ProjectConfig:
    """Load the config of a project folder or of the folder around a single script."""
    return load_config(project, opts.overrides())


def trial_summary(trial: dict[str, Any]) -> dict[str, Any]:
    """The part of a stored trial that summaries and reports show."""
    keys = ("number", "status", "value", "label", "tweaks", "duration_s", "error", "error_kind", "metrics")
    return {k: trial.get(k) for k in keys}


def best_trial(trials: list[dict[str, Any]], cfg: ProjectConfig) -> dict[str, Any] | None:
    """The trial with the best metric (by the config's direction), or ``None`` when none produced one."""
    scored = [t for t in trials if t.get("status") == "ok" and t.get("value") is not None]
    if not scored:
        return None
    sign = 1 if cfg.goal == "maximize" else -1
    return max(scored, key=lambda t: (sign * t["value"], -t["number"]))


def _alive(pid: int | None, host: str | None) -> bool:
    if not pid or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_resumable(store: RunStore, project: Path, fingerprint: str) -> dict[str, Any] | None:
    """A run of the same project, script and config left ``running`` by a process that is gone."""
    for run in store.find_runs({"path": str(project), "status": "running"}, limit=50):
        if run.get("fingerprint") == fingerprint and not _alive(run.get("pid"), run.get("host")):
            return run
    return None


def run_project(project: Path, opts: RunOptions, out: Out, store: RunStore | None = None) -> dict[str, Any]:
    """Run every stage on one project and return the run's summary.

    A run of the same project, script and configuration that was killed half way is
    continued (its trials are kept), unless ``opts.fresh`` is set.

    Raises:
        UsageError: Bad project, config or code (exit code 2).
        MlopsError: A stage could not run at all.
    """
    from training.backends import get_backend, image_kind
    from training.detect import detect, load_source
    from training.tuner import TuneContext, source_hash, tune

    project = resolve_project(project)
    project_dir = project if project.is_dir() else project.parent
    cfg = project_config(project, opts)
    out.step(f"detect {project}")
    det = detect(project, cfg.entry, cfg.image)
    out.info(f"{det.entry}: {det.framework} ({det.kind}) -> image {det.image}")
    source = load_source(project_dir / det.entry)
    backend, why = get_backend(opts.backend)
    kind = image_kind(det.kind)
    out.step(f"prepare: {why}")
    out.info(backend.prepare(kind, out.info))
    store = store or get_run_store()
    fingerprint = source_hash(source + json.dumps(cfg.model_dump(), sort_keys=True) + backend.name)
    previous = None if opts.fresh else find_resumable(store, project, fingerprint)
    if previous:
        run_id = previous["_id"]
        store.update_run(run_id, {"pid": os.getpid(), "host": socket.gethostname()})
        out.info(f"continuing run {run_id}, which was stopped before it finished (--fresh starts a new one)")
    else:
        run_id = store.create_run({
            "project": project_dir.name, "path": str(project), "entry": det.entry, "framework": det.framework,
            "kind": det.kind, "image": det.image, "backend": backend.name, "metric": cfg.metric,
            "target": cfg.target, "goal": cfg.goal, "config": cfg.model_dump(), "strategy": cfg.strategy,
            "build_url": os.environ.get("BUILD_URL"), "fingerprint": fingerprint, "pid": os.getpid(),
            "host": socket.gethostname(),
        })
    run_dir = paths.runs_dir() / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    out.info(f"run {run_id} in {run_dir} (store: {store.description})")
    try:
        stop_reason = tune(TuneContext(store=store, run_id=run_id, cfg=cfg, backend=backend,
                                       project_dir=project_dir, entry=det.entry, kind=kind, source=source,
                                       run_dir=run_dir, out=out))
        return finish(store, run_id, cfg, out, notify=opts.notify, stop_reason=stop_reason)
    except KeyboardInterrupt:
        out.fail(f"interrupted: run {run_id} and its trials are kept; the same command continues it")
        raise
    except BaseException as e:
        run = store.get_run(run_id)
        if run and run["status"] == "running":
            store.finish_run(run_id, FAILED, {"error": f"{type(e).__name__}: {e}"})
        raise


def finish(store: RunStore, run_id: str, cfg: ProjectConfig, out: Out, notify: bool = True,
           stop_reason: str = "") -> dict[str, Any]:
    """Pick the best trial, register its model, close the run, write report and mail; return the summary."""
    from mlops.report import write_report

    run = store.get_run(run_id) or {}
    trials = store.trials(run_id)
    best = best_trial(trials, cfg)
    passed = best is not None and cfg.reached(best["value"])
    run_dir = paths.runs_dir() / run_id
    model_path = model_version = None
    if best and best.get("model"):
        src = Path(best["run_dir"]) / best["model"]["path"]
        dest_dir = run_dir / "model"
        dest_dir.mkdir(exist_ok=True)
        model_path = dest_dir / src.name
        shutil.copy2(src, model_path)
        model_version = store.register_model({
            "project": run["project"], "run_id": run_id, "trial": best["number"], "path": str(model_path),
            "format": best["model"]["format"], "framework": run["framework"], "metric": cfg.metric,
            "value": best["value"], "passed": passed,
        })
    if best:
        _write_best_script(run, best, run_dir)
    error = None
    if best is None:
        last = trials[-1] if trials else {}
        error = last.get("error") or "no trial produced a metric"
    summary = {
        "run_id": run_id, "status": PASSED if passed else FAILED, "project": run.get("project"),
        "metric": cfg.metric, "value": best["value"] if best else None, "target": cfg.target,
        "goal": cfg.goal, "framework": run.get("framework"), "kind": run.get("kind"),
        "image": run.get("image"), "backend": run.get("backend"),
        "trials": [trial_summary(t) for t in trials], "best_trial": best["number"] if best else None,
        "model": str(model_path) if model_path else None, "model_version": model_version,
        "run_dir": str(run_dir), "error": error, "stopped": stop_reason,
        "best_script": str(run_dir / _best_name(run)) if best else None,
    }
    store.finish_run(run_id, summary["status"], {k: summary[k] for k in (
        "value", "best_trial", "model", "model_version", "error", "stopped", "best_script")})
    summary["report"] = str(write_report(store.get_run(run_id) or run, trials, run_dir))
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    verdict = f"{cfg.metric} {summary['value']:.4f} vs target {cfg.target}" if best else error
    if passed:
        out.ok(f"PASSED  {verdict}  (run {run_id}, {len(trials)} trial(s))")
    else:
        out.fail(f"FAILED  {verdict}  (run {run_id}, {len(trials)} trial(s))")
    if model_path:
        out.info(f"model v{model_version}: {model_path}")
    out.info(f"report: {summary['report']}")
    if notify and cfg.mail.when != "never" and (cfg.mail.when == "always" or not passed):
        from mlops.notify import send_run_report

        summary["mail"] = send_run_report(store, run_id, out)
    return summary


def _best_name(run: dict[str, Any]) -> str:
    return f"best_{Path(run.get('entry') or 'train.py').stem}.py"


def _write_best_script(run: dict[str, Any], best: dict[str, Any], run_dir: Path) -> None:
    """``best_<name>.py`` (the winning script) and ``best.diff`` (its diff against the pushed one)."""
    from training.detect import load_source

    path = Path(run["path"])
    pushed = path / run["entry"] if path.is_dir() else path
    text = Path(best["script"]).read_text(encoding="utf-8") if best.get("script") else load_source(pushed)
    (run_dir / _best_name(run)).write_text(text, encoding="utf-8")
    (run_dir / "best.diff").write_text(best.get("diff") or "", encoding="utf-8")


def resolve_run(store: RunStore, ref: str) -> dict[str, Any]:
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


def verdict(run: dict[str, Any]) -> str:
    """One line a person understands: passed or not, the metric against the target, and why it stopped."""
    metric, target, value = run.get("metric"), run.get("target"), run.get("value")
    n = run.get("best_trial")
    if run.get("status") == "running":
        return f"RUNNING: run {run['_id']} has not finished"
    if value is None:
        return f"FAILED: no {metric} was measured ({run.get('error') or 'no trial finished'})"
    op = ">=" if run.get("goal", "maximize") == "maximize" else "<="
    if run.get("status") == "passed":
        return f"PASSED: {metric} {value:.4f} {op} target {target} (best trial {n}, run {run['_id']})"
    side = "under" if op == ">=" else "over"
    why = f" after {run.get('stopped')}" if run.get("stopped") else ""
    return (f"FAILED: {metric} {value:.4f} is {side} the target {target}{why}; the best model "
            f"(trial {n}) is kept at {run.get('model')}")


def push_model(run_id: str, out: Out, store: RunStore | None = None) -> dict[str, Any]:
    """Copy the run's model into the registry (``$MLOPS_REGISTRY/<project>/v<version>/``) with its metadata."""
    store = store or get_run_store()
    run = store.get_run(run_id) or {}
    model = next((m for m in store.models(run.get("project", "")) if m["run_id"] == run_id), None)
    if model is None:
        raise UsageError(f"run {run_id} has no model to push")
    dest = paths.registry_dir() / model["project"] / f"v{model['version']}"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model["path"], dest / Path(model["path"]).name)
    meta = {k: model.get(k) for k in ("project", "version", "run_id", "trial", "format", "framework", "metric",
                                      "value", "passed")}
    (dest / "model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    store.add_event({"kind": "push", "run_id": run_id, "project": model["project"], "version": model["version"],
                     "path": str(dest)})
    out.info(f"pushed model v{model['version']} of {model['project']} to {dest}")
    return {"project": model["project"], "version": model["version"], "path": str(dest)}


def export_run(summary: dict[str, Any], out_dir: Path, out: Out) -> None:
    """Copy what CI archives into ``out_dir``: summary.json, report.html and plots, best script, diff, model."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(summary["run_dir"])
    for name in ("report.html", "metric.png", "curves.png", "best.diff", Path(summary.get("best_script") or "").name):
        if name and (run_dir / name).is_file():
            shutil.copy2(run_dir / name, out_dir / name)
    if summary.get("model"):
        (out_dir / "model").mkdir(exist_ok=True)
        shutil.copy2(summary["model"], out_dir / "model" / Path(summary["model"]).name)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    out.info(f"artifacts in {out_dir}")
