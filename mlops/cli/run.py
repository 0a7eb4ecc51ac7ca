"""``mlops run`` and the stage commands: detect, build, train, evaluate, push."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from core.console import Out
from mlops.cli._app import BackendName, JsonOpt, ProjectArg, RunArg, app, emit_json, handles_errors
from mlops.cli._settings import setting_options

RUN_HELP = """Run every stage locally: validate data, detect, build, train and tune to the target, record, evaluate
(the gate), report, push, mail.

Exit code 0 only when the target was reached and the gate blessed the model; 1 when not; 2 for bad input."""
TRAIN_HELP = """Jenkins stage "Train and tune": detect, train and tune to the target, record, report (no mail).

Exit code 0 when the run completed, whatever its metric ('mlops evaluate' judges it); 2 for bad input."""


@app.command()
@handles_errors
def detect(project: ProjectArg, as_json: JsonOpt = False) -> None:
    """Decide scikit-learn vs Keras (dense or convolutional) by reading the code, and the image to use."""
    from core.config import load_config
    from mlops.pipeline.run import resolve_project
    from training.dataproject import data_detection, is_data_project
    from training.detect import detect as run_detect

    path = resolve_project(project)
    cfg = load_config(path)
    if is_data_project(path, cfg.data is not None, cfg.entry):
        det = data_detection(cfg.framework, None)
    else:
        det = run_detect(path, cfg.entry, cfg.image)
    if as_json:
        emit_json(det.to_dict())
        return
    facts = [f"Keras {det.keras_api} API"] if det.keras_api else []
    facts += [det.task] if det.task else []
    extra = f"; {', '.join(facts)}" if facts else ""
    print(f"{det.entry}: {det.framework} ({det.kind}) -> image {det.image}{extra}")
    for ev in det.evidence[:12]:
        print(f"  {ev.file}:{ev.line}  {ev.what}")
    if len(det.evidence) > 12:
        print(f"  ... {len(det.evidence) - 12} more (--json shows all)")


def _run_command(stage: bool) -> Callable[..., None]:
    """``mlops run`` (every stage) or ``mlops train`` (the training stage of a pipeline)."""

    def command(
        project: ProjectArg,
        backend: Annotated[BackendName, typer.Option(help="Where trials run; auto = Docker if an engine answers.")
                           ] = BackendName.auto,
        notify: Annotated[bool, typer.Option(help="Mail the report at the end (or write it to the outbox).")
                          ] = not stage,
        out_dir: Annotated[Path | None, typer.Option("--out", help="Also copy summary, report, best script, diff "
                                                                   "and model here (for CI artifacts).")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Hide the trials' own output.")] = False,
        fresh: Annotated[bool, typer.Option("--fresh", help="Start a new run even if an interrupted one can "
                                                             "continue.")] = False,
        run_id: Annotated[str | None, typer.Option("--run-id", help="The run's id, so that workers of other "
                                                                     "machines can join it with 'mlops worker ID' "
                                                                     "(e.g. \"$BUILD_TAG\"); an unfinished run "
                                                                     "with this id is continued.")] = None,
        as_json: JsonOpt = False,
        *,
        overrides: dict[str, Any],
    ) -> None:
        from mlops.pipeline.options import RunOptions
        from mlops.pipeline.run import export_run, run_project

        out = Out(json_mode=as_json, quiet=quiet)
        opts = RunOptions(backend=backend.value, notify=notify, fresh=fresh, run_id=run_id, quiet=quiet,
                          config=overrides)
        summary = run_project(project, opts, out, until="Train and tune" if stage else None)
        if out_dir:
            export_run(summary, out_dir, out)
        if as_json:
            emit_json(summary)
        passed = summary["status"] == "passed" and summary.get("blessed", False) and not summary.get("push_refused")
        raise typer.Exit(0 if stage or passed else 1)

    return setting_options(command)


app.command("run", help=RUN_HELP)(handles_errors(_run_command(stage=False)))
app.command("train", help=TRAIN_HELP)(handles_errors(_run_command(stage=True)))


@app.command()
@handles_errors
def build(
    project: ProjectArg,
    backend: Annotated[BackendName, typer.Option(help="Where trials will run.")] = BackendName.auto,
    as_json: JsonOpt = False,
) -> None:
    """Jenkins stage "Build image": build (or reuse) the image or virtualenv the project's code needs."""
    from core.store import get_run_store
    from mlops.pipeline.options import RunOptions
    from mlops.pipeline.run import Pipeline, build_stage, detect_stage

    p = Pipeline(project=project, opts=RunOptions(backend=backend.value), out=Out(json_mode=as_json),
                 store=get_run_store())
    detect_stage(p)
    built = build_stage(p)
    if as_json:
        emit_json({"backend": p.backend.name, "env": p.env, "environment": built})


@app.command()
@handles_errors
def evaluate(run_ref: RunArg, as_json: JsonOpt = False) -> None:
    """Jenkins stage "Evaluate", the gate: the candidate against production (target, tolerances, served like in
    training), decided once and recorded. Exit 0 when blessed, else 1 with the reason."""
    from core.store import get_run_store
    from mlops.pipeline.gate import gate_run
    from mlops.pipeline.run import decision_summary, resolve_run, rewrite_report, update_summary

    store = get_run_store()
    run = resolve_run(store, run_ref)
    decision = gate_run(store, run, Out(json_mode=as_json))
    summary = Path(run_ref) if run_ref.endswith(".json") else None
    rewrite_report(store, run, summary.parent if summary else None)
    if summary is not None:
        update_summary(summary, decision_summary(decision))
    if as_json:
        emit_json(decision.to_doc())
    else:
        print(decision.line())
    raise typer.Exit(0 if decision.blessed else 1)


@app.command()
@handles_errors
def push(
    run_ref: RunArg,
    force: Annotated[bool, typer.Option("--force", help="Move production to the model even if the gate did not "
                                                        "bless it (recorded as forced).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Jenkins stage "Push model": a blessed version moves to 'production' (approval: auto) or to 'candidate' for a
    person to promote (approval: manual). Exit 1 when the gate did not bless it."""
    import json

    from core.config import ProjectConfig
    from core.errors import UsageError
    from core.registry import PRODUCTION
    from core.store import get_run_store
    from mlops.pipeline.gate import decision_file
    from mlops.pipeline.run import push_blessed, push_model, resolve_run, update_summary

    out = Out(json_mode=as_json)
    store = get_run_store()
    run = resolve_run(store, run_ref)
    decision = store.decision(run.id)
    if force:
        why = f"forced: {decision.line() if decision else 'not evaluated'}"
        result = {**push_model(store, run, out, PRODUCTION, why=why), "awaiting_approval": False}
    elif decision is None:
        raise UsageError(f"run {run.id} has not been evaluated; run 'mlops evaluate {run_ref}' first (the gate)")
    else:
        result = push_blessed(store, run, decision, ProjectConfig.model_validate(run.config).approval, out)
    summary = Path(run_ref) if run_ref.endswith(".json") else None
    if summary is not None:
        update_summary(summary, {"pushed": result})
        waiting = decision_file(summary)
        if result and result["awaiting_approval"]:
            waiting.write_text(json.dumps(result, indent=2), encoding="utf-8")
        else:
            waiting.unlink(missing_ok=True)
    if as_json:
        emit_json(result)
    if result is None:
        raise typer.Exit(1)


WORKER_HELP = (
    "Join a run as one more worker (what a Jenkins agent runs): take trials of RUN until it is over.\n\n"
    "The run's configuration is the one it was started with; this machine needs a copy of the project "
    "(--project, default the run's own path), the same run store (MONGODB_URI) and, for Optuna, the same "
    "optuna_storage. It waits for the run to be created (the controller may start after the agents).\n\n"
    "Exit code 0 when the run is over for this worker; 2 for bad input."
)


@app.command("worker", help=WORKER_HELP)
@handles_errors
def worker(
    run_ref: Annotated[str, typer.Argument(help="The run's id (as given to 'mlops train --run-id').")],
    project: Annotated[Path | None, typer.Option(help="This machine's copy of the training project.")] = None,
    backend: Annotated[BackendName, typer.Option(help="Where trials run; auto = the run's own backend.")
                       ] = BackendName.auto,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for the run to be created.")] = 600.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Hide the trials' own output.")] = False,
) -> None:
    from core.store import get_run_store
    from mlops.pipeline.workers import join_run

    join_run(get_run_store(), run_ref, project, backend.value, wait, Out(quiet=quiet))
