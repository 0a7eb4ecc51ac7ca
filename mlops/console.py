"""Console output that reads well in a terminal and in a Jenkins log (no colour when not a TTY)."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.markup import escape


class Out:
    """Human-readable progress on stderr when ``--json`` owns stdout, else on stdout.

    Args:
        json_mode: Send human output to stderr so stdout carries only JSON.
        quiet: Hide trial output lines (the log file still has them).
    """

    def __init__(self, json_mode: bool = False, quiet: bool = False) -> None:
        stream = sys.stderr if json_mode else sys.stdout
        no_color = bool(os.environ.get("NO_COLOR")) or not stream.isatty()
        self.console = Console(file=stream, highlight=False, no_color=no_color, soft_wrap=True,
                               emoji=False)
        self.quiet = quiet

    @property
    def is_tty(self) -> bool:
        """Whether progress bars make sense."""
        return self.console.is_terminal

    def step(self, message: str) -> None:
        """A pipeline step: ``==> message``."""
        self.console.print(f"[bold]==>[/bold] {escape(message)}")

    def info(self, message: str) -> None:
        """A plain line."""
        self.console.print(escape(message))

    def trial_line(self, line: str) -> None:
        """One line of a trial's own output, indented."""
        if not self.quiet:
            self.console.print(f"    | {escape(line)}")

    def ok(self, message: str) -> None:
        """A success line."""
        self.console.print(f"[green]{escape(message)}[/green]")

    def fail(self, message: str) -> None:
        """A failure line."""
        self.console.print(f"[red]{escape(message)}[/red]")
