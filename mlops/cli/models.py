"""The registry: ``mlops models`` (versions, aliases, history) and ``mlops promote`` (approve, or roll back)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from mlops.cli._app import JsonOpt, app, emit_json, handles_errors


@app.command()
@handles_errors
def models(
    project: Annotated[str, typer.Argument(help="The project (its folder name, or 'name:' in mlops.yaml).")],
    as_json: JsonOpt = False,
) -> None:
    """A project's model versions with their metrics, snapshot and gate decision, its aliases, and who moved them
    when and why."""
    from core.names import check_name
    from core.registry import Registry
    from core.store import get_run_store

    check_name(project, "PROJECT")
    registry = Registry(get_run_store())
    versions, aliases, history = registry.versions(project), registry.aliases(project), registry.history(project)
    if as_json:
        emit_json({"project": project, "versions": [v.to_doc() for v in versions], "aliases": aliases,
                   "history": [m.to_doc() for m in history]})
        return
    if not versions:
        print(f"no model versions of {project}; 'mlops run' registers one when a trial saves a model")
        return
    held: dict[int, list[str]] = {}
    for alias, version in aliases.items():
        held.setdefault(version, []).append(alias)
    for v in versions:
        value = f"{v.value:.4f}" if v.value is not None else "-"
        mark = f"  [{', '.join(sorted(held[v.version]))}]" if v.version in held else ""
        gate = ("blessed" if v.decision["blessed"] else "not blessed") if v.decision else "not evaluated"
        data = f"  snapshot {v.snapshot}" if v.snapshot else ""
        print(f"v{v.version:<4} {v.metric} {value}  {'passed' if v.passed else 'missed target'}, {gate}"
              f"{data}  run {v.run_id}{mark}")
    for m in history:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(m.time))
        before = f" (was v{m.previous})" if m.previous else ""
        print(f"{when}  {m.alias} -> v{m.version}{before} by {m.who}: {m.why}")


@app.command()
@handles_errors
def promote(
    project: Annotated[str, typer.Argument(help="The project, or a summary.json (its run's project and version).")],
    version: Annotated[int | None, typer.Argument(min=1, help="The model version (default with a summary.json: "
                                                              "its run's).")] = None,
    to: Annotated[str, typer.Option("--to", help="The alias to move.")] = "production",
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the alias history).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Point an alias (default production) at a model version: approve a candidate, or roll back."""
    from core.errors import UsageError
    from core.names import check_name
    from core.registry import Registry
    from core.store import get_run_store
    from mlops.pipeline.summary import resolve_run

    check_name(to, "--to")
    if not project.endswith(".json"):
        check_name(project, "PROJECT")
    store = get_run_store()
    run_id = None
    if project.endswith(".json"):
        run = resolve_run(store, project)
        project, version, run_id = run.project, version or run.model_version, run.id
    if version is None:
        raise UsageError("give the model VERSION to promote (see 'mlops models PROJECT')")
    move = Registry(store).promote(project, version, to, why=reason or "promoted by hand", run_id=run_id)
    if as_json:
        emit_json(move.to_doc())
        return
    before = f" (was v{move.previous})" if move.previous else ""
    print(f"{project}: {to} -> v{move.version}{before}")
