"""Plain random search over the tweak space (the baseline the other strategies must beat)."""

from __future__ import annotations

import random
from typing import Any

from core.records import Trial
from training.strategies._base import BaseStrategy
from training.strategies._space import full_config


class RandomStrategy(BaseStrategy):
    """The baseline first, then uniformly random configurations not tried before."""

    name = "random"

    def suggest(self, history: list[Trial]) -> dict[str, Any] | None:
        tried = self.tried(history)
        baseline = full_config(self.space, {})
        if baseline not in tried:
            return baseline
        rng = random.Random(self.seed * 1000 + len(history))
        for _ in range(200):
            config = {name: rng.choice(values) for name, values in self.space.choices.items()}
            if config not in tried:
                return config
        return None
