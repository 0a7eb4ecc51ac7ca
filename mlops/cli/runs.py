"""Runs on record: ``mlops runs``, ``mlops show``, ``mlops notify``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from core.console import Out
from mlops.cli._app import JsonOpt, RunArg, app, emit_json, handles_errors


@app.command()
@handles_errors
def runs(
    project: Annotated[str | None, typer.Option(help="Only runs of this project (folder name).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List recorded runs, newest first."""
    from core.names import check_name
    from core.store import get_run_store

    if project is not None:
        check_name(project, "--project")
    store = get_run_store()
    rows = store.find_runs(project=project, limit=limit)
    if as_json:
        emit_json([r.to_doc() for r in rows])
        return
    if not rows:
        print(f"no runs of project '{project}' in {store.description}; 'mlops runs' lists every project's"
              if project else f"no runs recorded in {store.description}")
    for r in rows:
        value = f"{r.value:.4f}" if r.value is not None else "-"
        print(f"{r.id}  {r.status:<11} {r.project:<20} {r.metric} {value} (target {r.target})")


@app.command()
@handles_errors
def show(
    run_ref: RunArg,
    oneline: Annotated[bool, typer.Option("--oneline", help="Only the verdict (for a Jenkins build description).")
                       ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one run and its trials. ``--oneline`` exits 1 for a run that did not end by itself (interrupted: its
    driver is gone; aborted by a signal)."""
    from core.notify.report import render_text
    from core.records import RunStatus
    from core.store import get_run_store
    from mlops.pipeline.summary import resolve_run, verdict

    store = get_run_store()
    run = resolve_run(store, run_ref)
    if oneline:
        print(verdict(run))
        if run.status in (RunStatus.INTERRUPTED, RunStatus.ABORTED):
            raise typer.Exit(1)
        return
    trials = store.trials(run.id)
    if as_json:
        emit_json({"run": run.to_doc(), "trials": [t.to_doc() for t in trials]})
        return
    print(render_text(run, trials, decision=store.decision(run.id),
                      history=store.find_runs(project=run.project, limit=20)))


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
    from core.errors import UsageError

    out = Out(json_mode=as_json)
    if retry_outbox:
        from core.notify import retry_outbox as retry

        result: dict[str, Any] = retry(out)
        if as_json:
            emit_json(result)
        raise typer.Exit(0 if result["left"] == 0 else 1)
    if not run_ref:
        raise UsageError("give a RUN (an id from 'mlops runs', a summary.json or 'latest') or --retry-outbox")
    from core.notify import send_run_report
    from core.store import get_run_store
    from mlops.pipeline.summary import resolve_run

    store = get_run_store()
    result = send_run_report(store, resolve_run(store, run_ref).id, out)
    if as_json:
        emit_json(result)
    if strict and not result["sent"]:
        raise typer.Exit(3)
