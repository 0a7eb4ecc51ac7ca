"""The ``mlops`` command line: one command per pipeline stage, plus ``run`` for all of them.

Heavy modules (training, the backends, the store) are imported inside the commands so
that ``mlops --help`` is instant.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from mlops import __version__
from mlops.console import Out
from mlops.errors import MlopsError

app = typer.Typer(
    name="mlops",
    help="Train, tune, report and serve ML models from a git push (or from your shell).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

F = TypeVar("F", bound=Callable[..., Any])


class BackendName(StrEnum):
    """Where trials run."""

    auto = "auto"
    local = "local"
    docker = "docker"


def handles_errors(fn: F) -> F:
    """Turn an ``MlopsError`` into one ``error:`` line on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MlopsError as e:
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            print("error: interrupted; stored runs and trials are kept", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def emit_json(data: Any) -> None:
    """Print machine-readable output on stdout."""
    print(json.dumps(data, indent=2, default=str))


JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout (progress goes to stderr).")]
ProjectArg = Annotated[Path, typer.Argument(help="The training project: a folder, a script or a notebook.")]


def _version(value: bool) -> None:
    if value:
        print(f"mlops {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Train, tune, report and serve ML models from a git push (or from your shell)."""


@app.command()
@handles_errors
def detect(project: ProjectArg, as_json: JsonOpt = False) -> None:
    """Decide scikit-learn vs Keras (dense or convolutional) by reading the code, and the image to use."""
    from mlops.config import load_config
    from mlops.runner import resolve_project
    from training.detect import detect as run_detect

    path = resolve_project(project)
    cfg = load_config(path)
    det = run_detect(path, cfg.entry, cfg.image)
    if as_json:
        emit_json(det.to_dict())
        return
    print(f"{det.entry}: {det.framework} ({det.kind}) -> image {det.image}")
    for ev in det.evidence[:12]:
        print(f"  {ev.file}:{ev.line}  {ev.what}")
    if len(det.evidence) > 12:
        print(f"  ... {len(det.evidence) - 12} more (--json shows all)")


RUN_HELP = """Run every stage locally: detect, build, train and tune to the target, record, report, push, mail.

Exit code 0 only when the target was reached; 1 when it was not; 2 for bad input."""
TRAIN_HELP = """Jenkins stage "Train and tune": detect, train and tune to the target, record, report (no mail).

Exit code 0 when the run completed, whatever its metric ('mlops evaluate' judges it); 2 for bad input."""


def _run_command(stage: bool) -> Callable[..., None]:
    """``mlops run`` (every stage) or ``mlops train`` (the training stage of a pipeline)."""

    def command(
        project: ProjectArg,
        backend: Annotated[BackendName, typer.Option(help="Where trials run; auto = Docker if an engine answers.")
                           ] = BackendName.auto,
        target: Annotated[float | None, typer.Option(help="Metric value to reach [mlops.yaml: target, 0.8].")
                          ] = None,
        metric: Annotated[str | None, typer.Option(help="Metric to judge on [mlops.yaml: metric, accuracy].")
                          ] = None,
        max_trials: Annotated[int | None, typer.Option(min=1, help="Trial budget [mlops.yaml: budget.max_trials].")
                              ] = None,
        max_minutes: Annotated[float | None, typer.Option(help="Time budget [mlops.yaml: budget.max_minutes].")
                               ] = None,
        strategy: Annotated[str | None, typer.Option(help="Tuning strategy: optuna, ladder or random "
                                                           "[mlops.yaml: strategy, optuna].")] = None,
        notify: Annotated[bool, typer.Option(help="Mail the report at the end (or write it to the outbox).")
                          ] = not stage,
        out_dir: Annotated[Path | None, typer.Option("--out", help="Also copy summary, report, best script, diff "
                                                                   "and model here (for CI artifacts).")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Hide the trials' own output.")] = False,
        fresh: Annotated[bool, typer.Option("--fresh", help="Start a new run even if an interrupted one can "
                                                             "continue.")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        from mlops.runner import RunOptions, export_run, push_model, run_project

        out = Out(json_mode=as_json, quiet=quiet)
        opts = RunOptions(backend=backend.value, target=target, metric=metric, max_trials=max_trials,
                          max_minutes=max_minutes, strategy=strategy, notify=notify, fresh=fresh)
        summary = run_project(project, opts, out)
        if not stage and summary["status"] == "passed":
            summary["pushed"] = push_model(summary["run_id"], out)
        if out_dir:
            export_run(summary, out_dir, out)
        if as_json:
            emit_json(summary)
        raise typer.Exit(0 if stage or summary["status"] == "passed" else 1)

    return command


app.command("run", help=RUN_HELP)(handles_errors(_run_command(stage=False)))
app.command("train", help=TRAIN_HELP)(handles_errors(_run_command(stage=True)))

RunArg = Annotated[str, typer.Argument(help="A run id, a summary.json written by 'mlops train --out', or 'latest'.")]


@app.command()
@handles_errors
def build(
    project: ProjectArg,
    backend: Annotated[BackendName, typer.Option(help="Where trials will run.")] = BackendName.auto,
    as_json: JsonOpt = False,
) -> None:
    """Jenkins stage "Build image": build (or reuse) the image or virtualenv the project's code needs."""
    from mlops.config import load_config
    from mlops.runner import resolve_project
    from training.backends import get_backend, image_kind
    from training.detect import detect as run_detect

    out = Out(json_mode=as_json)
    path = resolve_project(project)
    cfg = load_config(path)
    det = run_detect(path, cfg.entry, cfg.image)
    chosen, why = get_backend(backend.value)
    out.step(f"build for {det.framework} ({det.kind}): {why}")
    built = chosen.prepare(image_kind(det.kind), out.info)
    out.info(built)
    if as_json:
        emit_json({"backend": chosen.name, "kind": image_kind(det.kind), "environment": built})


@app.command()
@handles_errors
def evaluate(run_ref: RunArg, as_json: JsonOpt = False) -> None:
    """Jenkins stage "Evaluate": exit 0 if the run reached its target, else 1 with the reason in one line."""
    from mlops.runner import resolve_run, verdict
    from mlops.store import get_run_store

    run_doc = resolve_run(get_run_store(), run_ref)
    line = verdict(run_doc)
    if as_json:
        emit_json({"run_id": run_doc["_id"], "status": run_doc["status"], "verdict": line})
    else:
        print(line)
    raise typer.Exit(0 if run_doc["status"] == "passed" else 1)


@app.command()
@handles_errors
def push(
    run_ref: RunArg,
    force: Annotated[bool, typer.Option("--force", help="Push the best model even if it missed the target.")
                     ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Jenkins stage "Push model": copy the run's model to the registry ($MLOPS_REGISTRY) as a new version."""
    from mlops.errors import UsageError
    from mlops.runner import push_model, resolve_run
    from mlops.store import get_run_store

    run_doc = resolve_run(get_run_store(), run_ref)
    if run_doc["status"] != "passed" and not force:
        raise UsageError(f"run {run_doc['_id']} missed its target; nothing pushed (--force pushes it anyway)")
    result = push_model(run_doc["_id"], Out(json_mode=as_json))
    if as_json:
        emit_json(result)


@app.command()
@handles_errors
def runs(
    project: Annotated[str | None, typer.Option(help="Only runs of this project (folder name).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List recorded runs, newest first."""
    from mlops.store import get_run_store

    store = get_run_store()
    rows = store.find_runs({"project": project} if project else None, limit=limit)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        print(f"no runs recorded in {store.description}")
    for r in rows:
        value = f"{r['value']:.4f}" if r.get("value") is not None else "-"
        print(f"{r['_id']}  {r['status']:<8} {r.get('project', '?'):<20} {r.get('metric')} {value} "
              f"(target {r.get('target')})")


@app.command()
@handles_errors
def show(
    run_ref: RunArg,
    oneline: Annotated[bool, typer.Option("--oneline", help="Only the verdict (for a Jenkins build description).")
                       ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one run and its trials."""
    from mlops.report import render_text
    from mlops.runner import resolve_run, verdict
    from mlops.store import get_run_store

    store = get_run_store()
    run_doc = resolve_run(store, run_ref)
    if oneline:
        print(verdict(run_doc))
        return
    trials = store.trials(run_doc["_id"])
    if as_json:
        emit_json({"run": run_doc, "trials": trials})
        return
    print(render_text(run_doc, trials))


@app.command()
@handles_errors
def notify(
    run_ref: Annotated[str | None, typer.Argument(help="The run whose report to mail: an id, a summary.json "
                                                       "or 'latest'.")] = None,
    retry_outbox: Annotated[bool, typer.Option("--retry-outbox", help="Send the mail waiting in the outbox.")
                            ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 3 when the mail was not sent (kept in the outbox): "
                                                          "Jenkins marks the build unstable.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Mail a run's report (SMTP from the environment; the outbox folder when none is set)."""
    from mlops.errors import UsageError

    out = Out(json_mode=as_json)
    if retry_outbox:
        from mlops.notify import retry_outbox as retry

        result: dict[str, Any] = retry(out)
        if as_json:
            emit_json(result)
        raise typer.Exit(0 if result["left"] == 0 else 1)
    if not run_ref:
        raise UsageError("give a RUN (an id from 'mlops runs', a summary.json or 'latest') or --retry-outbox")
    from mlops.notify import send_run_report
    from mlops.runner import resolve_run
    from mlops.store import get_run_store

    store = get_run_store()
    result = send_run_report(store, resolve_run(store, run_ref)["_id"], out)
    if as_json:
        emit_json(result)
    if strict and not result["sent"]:
        raise typer.Exit(3)


@app.command()
@handles_errors
def deploy(run_ref: RunArg, as_json: JsonOpt = False) -> None:
    """Jenkins stage "Deploy": serve the run's pushed model; the new container (a local process without
    Docker) must be healthy before the old one is retired."""
    from mlops.runner import resolve_run
    from mlops.store import get_run_store
    from monitor.deploy import deploy as run_deploy

    store = get_run_store()
    result = run_deploy(store, resolve_run(store, run_ref), Out(json_mode=as_json))
    if as_json:
        emit_json(result)


@app.command()
@handles_errors
def watch(
    once: Annotated[bool, typer.Option("--once", help="Check once and exit (what the Jenkins monitor job runs).")
                    ] = False,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between checks of the daemon.")] = 5.0,
    max_restarts: Annotated[int, typer.Option(min=1, help="Restarts within the window before giving up.")] = 3,
    window_minutes: Annotated[float, typer.Option(help="The crash-loop window.")] = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Keep serving containers (or local serving processes) alive: restart failed ones with back-off, roll back
    crash-looping new models, mail one alert per incident."""
    from mlops.store import get_run_store
    from monitor.watchdog import Policy, check_once
    from monitor.watchdog import watch as run_watch
    from training.backends._docker import docker_client

    out = Out(json_mode=as_json)
    policy = Policy(max_restarts=max_restarts, window_s=window_minutes * 60)
    client, reason = docker_client()
    if client is None:
        out.info(f"watch: no Docker engine answers ({reason}); watching local serving processes")
    store = get_run_store()
    if once:
        actions = check_once(client, store, out, policy)
        if as_json:
            emit_json(actions)
        elif not actions:
            out.info("watch: every serving unit is healthy")
        return
    run_watch(client, store, out, interval=interval, policy=policy)


hook_app = typer.Typer(help="Git hooks that train on push, for repositories without Jenkins.", no_args_is_help=True)
app.add_typer(hook_app, name="hook")


@hook_app.command("install")
@handles_errors
def hook_install(
    repo: Annotated[Path, typer.Argument(help="A bare repository you push to, or a working repository.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a hook that mlops did not write.")] = False,
) -> None:
    """Install a hook that runs 'mlops run' on every push (bare) or commit (working repository)."""
    from mlops.hook import install

    path = install(repo, force=force)
    print(f"installed {path}; pushes now train (set JENKINS_URL to trigger Jenkins instead)")


@hook_app.command("run")
@handles_errors
def hook_run(
    git_dir: Annotated[Path, typer.Option(help="The repository's git folder.")],
    stdin: Annotated[bool, typer.Option("--stdin", help="Read post-receive lines (old new ref) from stdin.")
                     ] = False,
    rev: Annotated[str | None, typer.Option(help="Train this revision (post-commit).")] = None,
) -> None:
    """What the installed hook calls: trigger Jenkins (JENKINS_URL set) or train the revision locally."""
    import os

    from mlops.hook import pushed_revisions, run_revision, trigger_jenkins

    out = Out()
    updates = pushed_revisions(sys.stdin.read().splitlines()) if stdin else [(rev or "HEAD", "HEAD")]
    code = 0
    for revision, branch in updates:
        if os.environ.get("JENKINS_URL"):
            trigger_jenkins(branch, revision, out)
        else:
            code = max(code, run_revision(git_dir, revision, out))
    raise typer.Exit(code)
