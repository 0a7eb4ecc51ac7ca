"""The command-line flags of ``mlops.yaml`` settings, generated from their declarations (``core.config.setting``).

A field declared with ``flag="--max-trials"`` becomes that option of every command decorated with
``setting_options``, with the field's type, lower bound and description; nothing else names it.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import typer

from core.config import ProjectSetting, project_settings

F = TypeVar("F", bound=Callable[..., Any])


def flagged() -> list[ProjectSetting]:
    """The settings that have a command-line flag."""
    return [s for s in project_settings() if s.flag]


def parameter_name(setting: ProjectSetting) -> str:
    """The Python name of a setting's flag: ``--max-trials`` -> ``max_trials``."""
    return str(setting.flag).removeprefix("--").replace("-", "_")


def _value_type(annotation: Any) -> type:
    """The type the flag parses: ``float | None`` -> ``float``; a ``Literal`` of words -> ``str`` (the config
    checks the word, as it checks the file's)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return str if typing.get_origin(annotation) is Literal else annotation


def option(setting: ProjectSetting) -> Any:
    """``Annotated[type | None, typer.Option(...)]`` for a setting: its flag, its lower bound and its help
    (description, field and default)."""
    default = setting.default
    shown = "" if default is None else f", {default:g}" if isinstance(default, float) else f", {default}"
    description = setting.description
    # "\\[": a bracket Typer's rich help shows, not markup it would swallow
    help_text = f"{description[:1].upper()}{description[1:]} \\[mlops.yaml: {setting.path}{shown}]."
    minimum = next((m.ge for m in setting.field.metadata if getattr(m, "ge", None) is not None), None)
    return Annotated[_value_type(setting.field.annotation) | None,  # type: ignore[operator]
                     typer.Option(str(setting.flag), help=help_text, min=minimum)]


def setting_options(fn: F) -> F:
    """Give a command one option per flagged setting; the command receives them as ``overrides`` (dotted field ->
    value, ``None`` when not given), which ``load_config`` and ``RunOptions`` take as they are."""
    declared = flagged()
    signature = inspect.signature(fn, eval_str=True)
    params = [p for p in signature.parameters.values() if p.name != "overrides"]
    at = next((i for i, p in enumerate(params) if p.default is not inspect.Parameter.empty), len(params))
    generated = [inspect.Parameter(parameter_name(s), inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                   annotation=option(s)) for s in declared]

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        overrides = {s.path: kwargs.pop(parameter_name(s)) for s in declared}
        return fn(*args, overrides=overrides, **kwargs)

    command.__signature__ = signature.replace(parameters=[*params[:at], *generated, *params[at:]])  # type: ignore[attr-defined]
    return command  # type: ignore[return-value]
