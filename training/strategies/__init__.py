"""Tuning strategies behind one interface: ``ladder``, ``optuna`` (the default) and ``random``."""

from __future__ import annotations

from typing import Any

from training.strategies._base import BaseStrategy
from training.strategies._ladder import LadderStrategy
from training.strategies._optuna import OptunaStrategy
from training.strategies._random import RandomStrategy
from training.strategies._space import TweakSpace, build_space, full_config

__all__ = ["BaseStrategy", "LadderStrategy", "OptunaStrategy", "RandomStrategy", "TweakSpace", "build_space",
           "full_config", "make_strategy"]

STRATEGIES: dict[str, type[BaseStrategy]] = {
    "ladder": LadderStrategy, "optuna": OptunaStrategy, "random": RandomStrategy}


def make_strategy(name: str, space: TweakSpace, goal: str, seed: int, storage: Any = None,
                  study_name: str | None = None) -> BaseStrategy:
    """The strategy called ``name``.

    Args:
        name: ``ladder``, ``optuna`` or ``random``.
        space: The script's tweak space.
        goal: ``maximize`` or ``minimize``.
        seed: Makes suggestions reproducible (with one worker).
        storage: Where a strategy with state of its own (``shares_state``) keeps it for every worker of the run.
        study_name: The run's name in that storage.

    Raises:
        ValueError: Unknown name.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, but got {name=}")
    cls = STRATEGIES[name]
    if cls.shares_state and storage is not None:
        return cls(space, goal=goal, seed=seed, storage=storage, study_name=study_name)  # type: ignore[call-arg]
    return cls(space, goal=goal, seed=seed)
