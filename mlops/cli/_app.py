"""The typer root and what every command shares: one error line and an exit code, ``--json`` output."""

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
RunArg = Annotated[str, typer.Argument(help="A run id, a summary.json written by 'mlops train --out', or 'latest'.")]


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
