"""Serving: ``mlops deploy`` and the watchdog ``mlops watch``."""

from __future__ import annotations

from typing import Annotated

import typer

from core.console import Out
from mlops.cli._app import JsonOpt, RunArg, app, emit_json, handles_errors


@app.command()
@handles_errors
def deploy(run_ref: RunArg, as_json: JsonOpt = False) -> None:
    """Serve the version that 'production' points to in the run's project; the new container (a local process
    without Docker) must be healthy before the old one is retired."""
    from core.infra.docker_engine import serving_client
    from core.registry import Registry
    from core.store import get_run_store
    from mlops.pipeline.summary import resolve_run
    from monitor.deploy import deploy as run_deploy

    out = Out(json_mode=as_json)
    store = get_run_store()
    run = resolve_run(store, run_ref)
    client, reason = serving_client(run.backend)
    if client is None:
        out.info(f"deploy: serving as a local process ({reason})")
    result = run_deploy(Registry(store), run.project, None, out, client=client, run_id=run.id)
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
    from core.infra.docker_engine import docker_client
    from core.registry import Registry
    from core.store import get_run_store
    from monitor.watchdog import Policy, Watchdog

    out = Out(json_mode=as_json)
    client, reason = docker_client()
    if client is None:
        out.info(f"watch: no Docker engine answers ({reason}); watching local serving processes")
    dog = Watchdog(Registry(get_run_store()), out, client,
                   Policy(max_restarts=max_restarts, window_s=window_minutes * 60))
    if once:
        actions = dog.check_once()
        if as_json:
            emit_json(actions)
        elif not actions:
            out.info("watch: every serving unit is healthy")
        return
    dog.watch(interval=interval)
