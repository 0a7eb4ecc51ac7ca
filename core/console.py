"""Console output that reads well in a terminal and in a Jenkins log (no colour when not a TTY)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.markup import escape

from core import settings


class Out:
    """Human-readable progress on stderr when ``--json`` owns stdout, else on stdout.

    Args:
        json_mode: Send human output to stderr so stdout carries only JSON.
        quiet: Hide trial output lines (the log file still has them).
    """

    def __init__(self, json_mode: bool = False, quiet: bool = False, prefix: str = "") -> None:
        stream = sys.stderr if json_mode else sys.stdout
        no_color = settings.NO_COLOR.is_set() or not stream.isatty()
        self.console = Console(file=stream, highlight=False, no_color=no_color, soft_wrap=True,
                               emoji=False)
        self.quiet = quiet
        #: Put before every line (``[worker 1] ``), when several workers share a console.
        self.prefix = prefix

    @property
    def is_tty(self) -> bool:
        """Whether progress bars make sense."""
        return self.console.is_terminal

    def step(self, message: str) -> None:
        """A pipeline step: ``==> message``."""
        self.console.print(f"{escape(self.prefix)}[bold]==>[/bold] {escape(message)}")

    def info(self, message: str) -> None:
        """A plain line."""
        self.console.print(escape(self.prefix + message))

    def trial_line(self, line: str) -> None:
        """One line of a trial's own output, indented."""
        if not self.quiet:
            self.console.print(f"{escape(self.prefix)}    | {escape(line)}")

    def ok(self, message: str) -> None:
        """A success line."""
        self.console.print(f"[green]{escape(self.prefix + message)}[/green]")

    def fail(self, message: str) -> None:
        """A failure line."""
        self.console.print(f"[red]{escape(self.prefix + message)}[/red]")

    @contextlib.contextmanager
    def progress(self, total: int, completed: int = 0) -> Iterator[Callable[[], None]]:
        """A trial progress bar on a terminal; yields ``advance()``. Off a terminal it shows nothing."""
        if not self.is_tty:
            yield lambda: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=self.console, transient=True) as bar:
            task = bar.add_task("trials", total=total, completed=completed)
            yield lambda: bar.advance(task)
