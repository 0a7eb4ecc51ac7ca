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


@app.command()
@handles_errors
def run(
    project: ProjectArg,
    backend: Annotated[BackendName, typer.Option(help="Where trials run; auto = Docker if an engine answers.")
                       ] = BackendName.auto,
    target: Annotated[float | None, typer.Option(help="Metric value to reach [mlops.yaml: target, 0.8].")] = None,
    metric: Annotated[str | None, typer.Option(help="Metric to judge on [mlops.yaml: metric, accuracy].")] = None,
    max_trials: Annotated[int | None, typer.Option(min=1, help="Trial budget [mlops.yaml: budget.max_trials].")
                          ] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Time budget [mlops.yaml: budget.max_minutes].")
                           ] = None,
    strategy: Annotated[str | None, typer.Option(help="Tuning strategy: optuna, ladder or random.")] = None,
    notify: Annotated[bool, typer.Option(help="Mail the report at the end (or write it to the outbox).")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Hide the trials' own output.")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start a new run even if an interrupted one can continue.")
                     ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run every stage locally: detect, train and tune to the target, record, report, mail.

    Exit code 0 only when the target was reached; 1 when it was not; 2 for bad input.
    """
    from mlops.runner import RunOptions, run_project

    out = Out(json_mode=as_json, quiet=quiet)
    opts = RunOptions(backend=backend.value, target=target, metric=metric, max_trials=max_trials,
                      max_minutes=max_minutes, strategy=strategy, notify=notify, fresh=fresh)
    summary = run_project(project, opts, out)
    if as_json:
        emit_json(summary)
    raise typer.Exit(0 if summary["status"] == "passed" else 1)


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
def show(run_id: Annotated[str, typer.Argument(help="A run id from 'mlops runs'.")], as_json: JsonOpt = False
         ) -> None:
    """Show one run and its trials."""
    from mlops.errors import UsageError
    from mlops.report import render_text
    from mlops.store import get_run_store

    store = get_run_store()
    run_doc = store.get_run(run_id)
    if run_doc is None:
        raise UsageError(f"no run {run_id} in {store.description}; see 'mlops runs'")
    trials = store.trials(run_id)
    if as_json:
        emit_json({"run": run_doc, "trials": trials})
        return
    print(render_text(run_doc, trials))


@app.command()
@handles_errors
def notify(
    run_id: Annotated[str | None, typer.Argument(help="The run whose report to mail.")] = None,
    retry_outbox: Annotated[bool, typer.Option("--retry-outbox", help="Send the mail waiting in the outbox.")
                            ] = False,
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
    if not run_id:
        raise UsageError("give a RUN_ID (see 'mlops runs') or --retry-outbox")
    from mlops.notify import send_run_report
    from mlops.store import get_run_store

    result = send_run_report(get_run_store(), run_id, out)
    if as_json:
        emit_json(result)
