"""What a stage is: a name (the Jenkins stage's), its one ``mlops`` call, and ``run(ctx)``."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from mlops.pipeline.context import RunContext


@runtime_checkable
class Stage(Protocol):
    """One stage of the pipeline: ``mlops run`` runs those ``in_run`` in the list's order, each is also its own
    ``mlops`` command, and the Jenkinsfile has one stage per entry calling exactly that command.

    Attributes:
        name: The Jenkins stage name (written only in the stage list).
        command: The one ``mlops`` call of the Jenkins stage (shell syntax, Jenkins variables).
        in_run: Whether ``mlops run`` runs it.
        workers: The call each agent makes in parallel with ``command``, or ``None`` for the controller alone.
    """

    @property
    def name(self) -> str: ...

    @property
    def command(self) -> str: ...

    @property
    def in_run(self) -> bool: ...

    @property
    def workers(self) -> str | None: ...

    @property
    def calls(self) -> list[str]:
        """Every ``mlops`` call of the stage, in the Jenkinsfile's order."""
        ...

    @property
    def cli(self) -> tuple[str, ...]:
        """The words of its ``mlops`` command (``("data", "validate")``); empty for an option (``--version``)."""
        ...

    def run(self, ctx: RunContext) -> None:
        """Do the stage's work on the run's context (and record what it found there)."""
        ...


@dataclass(frozen=True)
class BaseStage:
    """What every stage has; a stage module subclasses it and writes ``run``."""

    name: str
    command: str
    workers: str | None = None
    in_run: ClassVar[bool] = True

    @property
    def calls(self) -> list[str]:
        """Every ``mlops`` call of the stage, in the Jenkinsfile's order."""
        return [self.command, *([self.workers] if self.workers else [])]

    @property
    def cli(self) -> tuple[str, ...]:
        """The words of its ``mlops`` command: those before the first argument (a Jenkins variable) or option."""
        words = shlex.split(self.command)[1:]
        return tuple(words[:next((i for i, w in enumerate(words) if w[:1] in "$-"), len(words))])

    def run(self, ctx: RunContext) -> None:
        """Do the stage's work (each stage module writes it)."""
        raise NotImplementedError(f"stage {self.name!r} has no run()")


@dataclass(frozen=True)
class OutsideRun(BaseStage):
    """A Jenkins stage that ``mlops run`` does not run: Checkout is Jenkins's, Approve a person's, Deploy its own
    step (``mlops deploy``)."""

    in_run: ClassVar[bool] = False

    def run(self, ctx: RunContext) -> None:
        """Nothing: ``mlops run`` skips it."""
