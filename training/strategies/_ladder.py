"""The classic order: scale features, more Dense layers and neurons, more epochs, Conv blocks."""

from __future__ import annotations

from typing import Any

from core.records import Trial
from training.strategies._base import BaseStrategy
from training.strategies._space import full_config


class LadderStrategy(BaseStrategy):
    """Walks the ladder one rung per trial; stops when it runs out."""

    name = "ladder"

    def suggest(self, history: list[Trial]) -> dict[str, Any] | None:
        tried = self.tried(history)
        for rung in self.space.ladder:
            config = full_config(self.space, rung)
            if config not in tried:
                return config
        return None
