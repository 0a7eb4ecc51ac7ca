"""``mlops page``: a project's page (models, gate decisions, alias history, runs, live accuracy, drift) as static
HTML, for Jenkins to publish or anyone to open."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli._app import JsonOpt, app, emit_json, handles_errors


@app.command()
@handles_errors
def page(
    project: Annotated[str, typer.Argument(help="The project: its name, or the folder that holds its mlops.yaml.")],
    out: Annotated[Path, typer.Option("--out", help="The folder to write index.html (and its files) into.")],
    runs: Annotated[int, typer.Option("--runs", min=1, max=500, help="How many of the last runs to show.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Write a project's page: model versions with their figures and gate decisions, what was production when
    and why, every run's figure over time with its report, live accuracy and its labels, the latest drift."""
    from core import paths
    from core.errors import UsageError
    from core.notify.page import gather, write_page
    from core.store import get_run_store
    from monitor.live import resolve_project

    store = get_run_store()
    name, _, _ = resolve_project(project, store)
    contents = gather(store, name, runs=runs)
    if not contents.runs and not contents.versions:
        raise UsageError(f"{name}: no runs and no model versions yet; 'mlops run' the project first")
    index = write_page(contents, out, paths.runs_dir())
    summary = {"project": name, "page": str(index), "versions": len(contents.versions), "runs": len(contents.runs),
               "live_checks": len(contents.live), "production": contents.aliases.get("production")}
    if as_json:
        emit_json(summary)
        return
    serving = f", production v{summary['production']}" if summary["production"] else ", no production"
    print(f"{name}: page {index} ({summary['versions']} version(s), {summary['runs']} run(s), "
          f"{summary['live_checks']} live check(s){serving})")
