"""``mlops run`` and the stage commands: detect, build, train, evaluate, push."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from core.console import Out
from mlops.cli._app import BackendName, JsonOpt, ProjectArg, RunArg, app, emit_json, handles_errors
from mlops.cli._settings import setting_options
from mlops.pipeline.stages import STAGES

RUN_HELP = (f"Run every stage locally: {', '.join(s.name.lower() for s in STAGES if s.in_run)}; then the report "
            "mail.\n\nExit code 0 only when the target was reached and the gate blessed the model; 1 when not; 2 for "
            "bad input.")
TRAIN_HELP = """Detect, train and tune to the target, record, report (no mail).

Exit code 0 when the run completed, whatever its metric ('mlops evaluate' judges it); 2 for bad input."""


@app.command()
@handles_errors
def detect(project: ProjectArg, as_json: JsonOpt = False) -> None:
    """Decide scikit-learn vs Keras (dense or convolutional) by reading the code, and the image to use."""
    from core.config import load_config
    from mlops.pipeline.context import resolve_project
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
        from core.records import RunStatus
        from mlops.pipeline.options import RunOptions
        from mlops.pipeline.run import run_project
        from mlops.pipeline.stages import stage_called
        from mlops.pipeline.summary import export_run

        out = Out(json_mode=as_json, quiet=quiet)
        opts = RunOptions(backend=backend.value, notify=notify, fresh=fresh, run_id=run_id, quiet=quiet,
                          config=overrides)
        summary = run_project(project, opts, out, until=stage_called("train") if stage else None)
        if out_dir:
            export_run(summary, out_dir, out)
        if as_json:
            emit_json(summary.to_doc())
        passed = summary.status is RunStatus.PASSED and summary.blessed is True and not summary.push_refused
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
    """Build (or reuse) the image or virtualenv the project's code needs."""
    from core.store import get_run_store
    from mlops.pipeline.context import RunContext
    from mlops.pipeline.options import RunOptions
    from mlops.pipeline.stages import stage_called

    ctx = RunContext.open(project, RunOptions(backend=backend.value), Out(json_mode=as_json), get_run_store())
    for command in ("detect", "build"):
        stage_called(command).run(ctx)
    if as_json:
        emit_json({"backend": ctx.backend.name, "env": ctx.env, "environment": ctx.built})


@app.command()
@handles_errors
def evaluate(run_ref: RunArg, as_json: JsonOpt = False) -> None:
    """The gate: the candidate against production (target, tolerances, served like in training), decided once and
    recorded. Exit 0 when blessed, else 1 with the reason."""
    from core.store import get_run_store
    from mlops.pipeline.finish import rewrite_report
    from mlops.pipeline.gate import gate_run
    from mlops.pipeline.summary import Summary, resolve_run

    store = get_run_store()
    run = resolve_run(store, run_ref)
    decision = gate_run(store, run, Out(json_mode=as_json))
    summary = Path(run_ref) if run_ref.endswith(".json") else None
    rewrite_report(store, run, summary.parent if summary else None)
    if summary is not None:
        gated = Summary.read(summary)
        gated.gated(decision)
        gated.write(summary)
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
    """A blessed version moves to 'production' (approval: auto) or to 'candidate' for a person to promote
    (approval: manual). Exit 1 when the gate did not bless it."""
    from core.config import ProjectConfig
    from core.errors import UsageError
    from core.registry import PRODUCTION
    from core.store import get_run_store
    from mlops.pipeline.gate import decision_file
    from mlops.pipeline.push import push_blessed, push_model
    from mlops.pipeline.summary import Pushed, Summary, resolve_run

    out = Out(json_mode=as_json)
    store = get_run_store()
    run = resolve_run(store, run_ref)
    decision = store.decision(run.id)
    if force:
        why = f"forced: {decision.line() if decision else 'not evaluated'}"
        result: Pushed | None = push_model(store, run, out, PRODUCTION, why=why)
    elif decision is None:
        raise UsageError(f"run {run.id} has not been evaluated; run 'mlops evaluate {run_ref}' first (the gate)")
    else:
        result = push_blessed(store, run, decision, ProjectConfig.model_validate(run.config).approval, out)
    summary = Path(run_ref) if run_ref.endswith(".json") else None
    if summary is not None:
        pushed = Summary.read(summary)
        pushed.pushed = result
        pushed.write(summary)
        waiting = decision_file(summary)
        if result and result.awaiting_approval:
            waiting.write_text(result.model_dump_json(indent=2), encoding="utf-8")
        else:
            waiting.unlink(missing_ok=True)
    if as_json:
        emit_json(result.model_dump() if result else None)
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
