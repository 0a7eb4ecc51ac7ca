"""What a tuning strategy is: it suggests the next configuration; the tuner runs and records it."""

from __future__ import annotations

import abc
from typing import Any

from core.records import Trial
from training.strategies._space import TweakSpace


class BaseStrategy(abc.ABC):
    """Suggests tweak configurations; ``ask``/``tell`` bookkeeping lives on the tuner.

    Args:
        space: The tweaks and choices for this script, with its ladder.
        goal: ``maximize`` or ``minimize``.
        seed: Makes suggestions reproducible.
    """

    name = ""
    #: Whether the strategy keeps state of its own that workers of a run must share (Optuna's study).
    shares_state = False

    def __init__(self, space: TweakSpace, goal: str = "maximize", seed: int = 42) -> None:
        if goal not in ("maximize", "minimize"):
            raise ValueError(f"goal must be 'maximize' or 'minimize', but got {goal=}")
        self.space = space
        self.goal = goal
        self.seed = seed

    @abc.abstractmethod
    def suggest(self, history: list[Trial]) -> dict[str, Any] | None:
        """The next configuration to try, given the trials so far (``None``: nothing left to try)."""

    def restore(self, history: list[Trial]) -> None:
        """Learn from trials recorded before a restart (no-op by default)."""

    def before_trial(self, number: int, config: dict[str, Any]) -> None:
        """Called just before trial ``number`` runs (no-op by default)."""

    def after_trial(self, number: int, config: dict[str, Any], record: Trial) -> None:
        """Called with the stored record of a finished trial (no-op by default)."""

    def forget(self, record: Trial) -> None:
        """A trial whose worker died (reaped): drop what is kept about it (no-op by default)."""

    def should_prune(self, number: int, epoch: int, value: float) -> bool:
        """Whether a running trial looks hopeless at this epoch (never, by default)."""
        return False

    @staticmethod
    def tried(history: list[Trial]) -> list[dict[str, Any]]:
        """The configurations already tried (or running)."""
        return [t.config for t in history]
