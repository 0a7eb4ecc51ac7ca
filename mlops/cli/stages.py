"""The stage commands, derived from the stage list (``mlops.pipeline.stages.STAGES``): each stage's command says
in its help which Jenkins stage it is, and a stage whose command no module writes gets one that runs the stages
of ``mlops run`` up to and including it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated

import typer
from typer.models import CommandInfo

from core.console import Out
from mlops.cli._app import BackendName, ProjectArg, handles_errors
from mlops.pipeline.stages import STAGES, Stage


def derive_stage_commands(app: typer.Typer) -> None:
    """Name each stage in its command's help (``Jenkins stage "Detect": ...``) and add the commands no module
    writes. Runs once, after every command module registered its commands."""
    for stage in STAGES:
        if not stage.cli:  # an option of the root command (``mlops --version``)
            continue
        *groups, name = stage.cli
        owner = group(app, groups)
        info = next((c for c in owner.registered_commands if command_name(c) == name), None)
        if info is None:
            owner.command(name, help=stage_help(stage, f"run the stages of 'mlops run' up to and including "
                                                       f"\"{stage.name}\""))(handles_errors(run_up_to(stage)))
        else:
            info.help = stage_help(stage, info.help or inspect.getdoc(info.callback) or "")


def group(app: typer.Typer, names: list[str]) -> typer.Typer:
    """The command group ``names`` of ``app`` (``["data"]`` -> ``mlops data``), created when missing."""
    for name in names:
        found = next((g.typer_instance for g in app.registered_groups if g.name == name), None)
        if not isinstance(found, typer.Typer):
            found = typer.Typer(no_args_is_help=True)
            app.add_typer(found, name=name)
        app = found
    return app


def command_name(info: CommandInfo) -> str:
    """The name typer gives a registered command."""
    if info.name:
        return info.name
    return info.callback.__name__.lower().replace("_", "-") if info.callback else ""


def stage_help(stage: Stage, text: str) -> str:
    """``text`` after the Jenkins stage's name: ``Jenkins stage "Detect": decide ...`` (once)."""
    prefix = f'Jenkins stage "{stage.name}": '
    return text if text.startswith(prefix) else f"{prefix}{text[:1].lower()}{text[1:]}"


def run_up_to(stage: Stage) -> Callable[..., None]:
    """The command of a stage no module writes: the stages of ``mlops run`` up to and including it."""

    def command(
        project: ProjectArg,
        backend: Annotated[BackendName, typer.Option(help="Where trials run; auto = Docker if an engine answers.")
                           ] = BackendName.auto,
    ) -> None:
        from core.store import get_run_store
        from mlops.pipeline.context import RunContext
        from mlops.pipeline.options import RunOptions
        from mlops.pipeline.run import run_stages

        opts = RunOptions(backend=backend.value, notify=False)
        run_stages(RunContext.open(project, opts, Out(), get_run_store()), until=stage)

    return command
