"""Live accuracy and ground truth: ``mlops monitor``, ``mlops feedback`` and ``mlops retrain``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from core.console import Out
from mlops.cli._app import JsonOpt, app, emit_json, handles_errors

ProjectRef = Annotated[str, typer.Argument(help="The project: its folder (mlops.yaml is read there) or its name.")]


@app.command()
@handles_errors
def monitor(
    project: ProjectRef,
    once: Annotated[bool, typer.Option("--once", help="Check once and exit (what the Jenkins monitor job runs).")
                    ] = False,
    interval: Annotated[float, typer.Option(min=1, help="Seconds between checks of the daemon.")] = 60.0,
    wait: Annotated[bool, typer.Option("--wait", help="A retrain started here (no Jenkins) runs before the check "
                                                      "returns, instead of in the background.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Live accuracy of the production model from users' labels, drift of the served rows, and under the
    threshold (monitoring: in mlops.yaml) one alert and a retrain."""
    from core.registry import Registry
    from core.store import get_run_store
    from monitor.live import live_check, project_capture, publish, resolve_project
    from monitor.triggers import act

    out = Out(json_mode=as_json)
    registry = Registry(get_run_store())
    name, folder, cfg = resolve_project(project, registry.store)
    capture = project_capture(name)
    while True:
        check = live_check(name, cfg, registry, capture)
        publish(check, capture, registry)
        action = act(check, cfg, registry, folder, out, wait=wait)
        if as_json:
            emit_json({**check.to_doc(), "action": action})
        else:
            drift = f"; drift share {check.drift_share:.0%}" if check.drift_share is not None else \
                (f"; drift: {check.drift_note}" if check.drift_note else "")
            print(f"{check.decision.upper():<16} {check.reason}{drift}", flush=True)
        if once:
            if action.get("exit_code"):  # --wait: the retrain it ran failed
                raise typer.Exit(1)
            return
        time.sleep(interval)


@app.command()
@handles_errors
def feedback(
    project: ProjectRef,
    file: Annotated[Path, typer.Argument(help="A CSV file with the columns inference_id and label.")],
    url: Annotated[str | None, typer.Option(help="The serving unit (default: the project's running one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send users' labels in bulk to the project's serving unit (POST /feedback, token in MLOPS_FEEDBACK_TOKEN)."""
    from core.errors import UsageError
    from core.settings import FEEDBACK_TOKEN
    from monitor.ground_truth import read_labels, send_labels

    token = FEEDBACK_TOKEN.get()
    if not token:
        raise UsageError(f"{FEEDBACK_TOKEN.env} is not set: labels need the token the serving unit was deployed "
                         "with")
    rows = read_labels(file)
    if url is None:
        from core.infra.docker_engine import docker_client
        from core.store import get_run_store
        from monitor.live import resolve_project
        from monitor.units import healthy_url

        url = healthy_url(docker_client()[0], resolve_project(project, get_run_store())[0])
    result = send_labels(url, token, rows, file)
    if as_json:
        emit_json(result)
    else:
        print(f"{file}: {result['recorded']} label(s) recorded ({result['replaced']} replaced an earlier one)")


@app.command()
@handles_errors
def retrain(
    project: Annotated[Path, typer.Argument(help="The project folder.")],
    reason: Annotated[str, typer.Option(help="Why (kept with every record of the retrain).")] = "manual",
    as_json: JsonOpt = False,
) -> None:
    """Retrain with the users' labels added: the production model's script as it is and a tuned candidate on the
    new snapshot; the better one goes through the gate, approval and deploy (what the mlops-retrain job runs)."""
    from mlops.pipeline.retrain import retrain as run_retrain

    out = Out(json_mode=as_json)
    result = run_retrain(project, reason, out)
    if as_json:
        emit_json(result)
    if not result.get("deployed"):
        raise typer.Exit(1)
