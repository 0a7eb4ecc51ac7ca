"""The typer root and what every command shares: one error line and an exit code, ``--json`` output."""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from core.errors import Aborted, MlopsError, disk_fault
from mlops import __version__

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
    """Turn an ``MlopsError`` (or a write the disk refused) into one ``error:`` line on stderr and its exit code;
    SIGTERM and SIGINT into ``aborted by SIGTERM: ...`` and 128 + the signal."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with signals_abort():
                return fn(*args, **kwargs)
        except MlopsError as e:
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt as e:
            aborted = Aborted.of(e)
            print(aborted.line() if aborted.detail else f"{aborted.line()}; stored runs and trials are kept",
                  file=sys.stderr)
            raise typer.Exit(aborted.exit_code) from None
        except OSError as e:
            if not disk_fault(e):
                raise
            print(f"error: {disk_fault(e)}", file=sys.stderr)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def signals_abort() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT raise ``Aborted`` in the main thread (so the command records what
    it was doing); a second signal ends the process at once. A signal the process inherited as ignored stays
    ignored (``nohup``, a background job's SIGINT)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: Any) -> None:
        signal.signal(signum, signal.SIG_DFL)  # the next one is not caught: a stuck clean-up can still be ended
        raise Aborted(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(sig) not in (signal.SIG_IGN, None):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


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
