"""``mlops projects``: which origin each project name is bound to, and the operator's rebind."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from mlops.cli._app import JsonOpt, app, emit_json, handles_errors

projects_app = typer.Typer(help="Project names and the origin (git remote or folder) each is bound to.",
                           invoke_without_command=True)
app.add_typer(projects_app, name="projects")


@projects_app.callback()
@handles_errors
def projects(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the project names and where each comes from."""
    if ctx.invoked_subcommand is not None:
        return
    from core.identity import shown
    from core.store import get_run_store

    bound = get_run_store().projects()
    if as_json:
        emit_json([r.to_doc() for r in bound])
        return
    if not bound:
        print("no project names are bound yet; a project's first run binds its name")
    for r in bound:
        print(f"{r.name:<24} {shown(r.origin)}  (since {time.strftime('%Y-%m-%d %H:%M', time.gmtime(r.time))} "
              f"by {shown(r.who)})")


@projects_app.command("rebind")
@handles_errors
def rebind(
    name: Annotated[str, typer.Argument(help="The project name.")],
    origin: Annotated[str, typer.Argument(help="Its new origin: a project folder (its git remote or path is "
                                               "taken), or an origin as 'mlops projects' shows it.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the binding).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """The operator's move of a project name to another origin: the next run from there may use the name (and
    its production model, gate and history)."""
    from core.identity import origin_of, shown
    from core.identity import rebind as do_rebind
    from core.registry import who
    from core.store import get_run_store

    folder = Path(origin)
    target = origin_of(folder) if folder.is_dir() else origin
    store = get_run_store()
    before = store.projects(name)
    record = do_rebind(store, name, target, who=who(), why=reason)
    if as_json:
        emit_json(record.to_doc())
        return
    was = f" (was {shown(before[0].origin)})" if before else ""
    print(f"{name} -> {shown(record.origin)}{was}")


@projects_app.command("gate")
@handles_errors
def gate(
    name: Annotated[str, typer.Argument(help="The project name.")],
    rules: Annotated[str | None, typer.Option("--gate", help="The gate as in mlops.yaml, e.g. "
                                                             "'{accuracy: {absolute: 0.02}}'.")] = None,
    target: Annotated[float | None, typer.Option(help="The target candidates must reach.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Hold candidates to production's gate again.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The operator's gate for a project's candidates, instead of the one production was gated with (a pushed
    mlops.yaml may tighten it, never loosen it). Without options: show it."""
    import json

    import yaml

    from core.errors import UsageError
    from core.identity import set_gate
    from core.registry import who
    from core.store import get_run_store

    store = get_run_store()
    if clear or rules is not None or target is not None:
        parsed = None
        if rules is not None:
            try:
                parsed = yaml.safe_load(rules)
            except yaml.YAMLError as e:
                raise UsageError(f"--gate: not valid YAML ({getattr(e, 'problem', e)})") from e
            if not isinstance(parsed, dict):
                raise UsageError("--gate: give metric -> rule, e.g. '{accuracy: {absolute: 0.02}}'")
        record = set_gate(store, name, None if clear else parsed, None if clear else target, who())
    else:
        from core.names import check_name

        found = store.projects(check_name(name))
        if not found:
            raise UsageError(f"project '{name}' has not run yet; 'mlops projects' lists the projects")
        record = found[0]
    if as_json:
        emit_json({"project": record.name, "gate": record.gate, "target": record.target})
        return
    if record.gate is None and record.target is None:
        print(f"{record.name}: candidates are held to the gate production was gated with")
    else:
        rules_shown = json.dumps(record.gate) if record.gate else "production's gate"
        target_shown = "" if record.target is None else f", target {record.target:g}"
        print(f"{record.name}: candidates are held to the operator's setting: {rules_shown}{target_shown}")
