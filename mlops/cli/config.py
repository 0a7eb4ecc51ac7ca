"""``mlops config``: every setting, its variable and flag, its value and where the value comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.cli._app import JsonOpt, app, emit_json, handles_errors
from mlops.cli._settings import setting_options


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else "-" if value is None else str(value)


@setting_options
def config(
    project: Annotated[Path, typer.Argument(help="The training project: a folder, a script or a notebook.")
                       ] = Path("."),
    as_json: JsonOpt = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print the docs' tables of settings (defaults, "
                                                                 "not this machine's values).")] = False,
    *,
    overrides: dict[str, Any],
) -> None:
    """List every setting: the project's (mlops.yaml, overridden by MLOPS_* variables and flags) and the
    operator's (environment only), each with its variable, flag, value and source."""
    from core.errors import UsageError
    from core.sources import markdown, operator_rows, project_rows

    if not project.exists():
        raise UsageError(f"{project}: no such file or folder; give the training project's folder or script")
    rows = {"project": project_rows(project, overrides), "operator": operator_rows()}
    if as_json:
        emit_json(rows)
        return
    if as_markdown:
        print(markdown(rows["project"], rows["operator"]), end="")
        return
    for row in rows["project"]:
        flag = f" {row['flag']}" if row["flag"] else ""
        print(f"{row['setting']} = {_shown(row['value'])}  [{row['source']}]  ({row['env']}{flag})")
    group = None
    for row in rows["operator"]:
        if row["group"] != group:
            group = row["group"]
            print(f"\n# {group}")
        print(f"{row['env']} = {_shown(row['value'])}  [{row['source']}]  {row['description']}")


app.command("config")(handles_errors(config))
