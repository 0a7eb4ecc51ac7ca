"""Tuning strategies behind one interface: ``ladder``, ``optuna`` (the default) and ``random``."""

from __future__ import annotations

from training.strategies._base import BaseStrategy
from training.strategies._ladder import LadderStrategy
from training.strategies._optuna import OptunaStrategy
from training.strategies._random import RandomStrategy
from training.strategies._space import TweakSpace, build_space, full_config

__all__ = ["BaseStrategy", "LadderStrategy", "OptunaStrategy", "RandomStrategy", "TweakSpace", "build_space",
           "full_config", "make_strategy"]

STRATEGIES: dict[str, type[BaseStrategy]] = {
    "ladder": LadderStrategy, "optuna": OptunaStrategy, "random": RandomStrategy}


def make_strategy(name: str, space: TweakSpace, goal: str, seed: int) -> BaseStrategy:
    """The strategy called ``name``.

    Raises:
        ValueError: Unknown name.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, but got {name=}")
    return STRATEGIES[name](space, goal=goal, seed=seed)
