"""Per-epoch training checkpoints in the run folder, so that a restarted trial resumes where it stopped.

Each ``fit`` call of a script gets ``RUN_DIR/checkpoint/fit-<n>/`` with ``last.weights.h5`` (model and
optimizer state), ``prev.weights.h5`` (the one before) and ``state.json`` (epoch and history). Files are
written under a temporary name and renamed, so a kill during a write never leaves a half-written
checkpoint in place; a checkpoint that cannot be loaded anyway falls back to the previous one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LAST, PREV, STATE = "last.weights.h5", "prev.weights.h5", "state.json"


class FitCheckpoint:
    """The checkpoint folder of one ``fit`` call."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def state(self) -> dict[str, Any] | None:
        """What the last completed epoch left, or ``None`` when nothing was saved."""
        try:
            return json.loads((self.folder / STATE).read_text())
        except (OSError, ValueError):
            return None

    def save(self, model: Any, epoch: int, history: dict[str, list[float]]) -> None:
        """Save after ``epoch`` (0-based): weights first, then the state that points at them."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"tmp-{os.getpid()}.weights.h5"
        model.save_weights(tmp)
        previous = self.state()
        if (self.folder / LAST).exists():
            os.replace(self.folder / LAST, self.folder / PREV)
        os.replace(tmp, self.folder / LAST)
        state = {"epoch": epoch, "history": history,
                 "prev_epoch": previous["epoch"] if previous else None,
                 "prev_history": previous["history"] if previous else None}
        tmp_state = self.folder / f"{STATE}.tmp"
        tmp_state.write_text(json.dumps(state))
        os.replace(tmp_state, self.folder / STATE)

    def restore(self, model: Any, warn: Any) -> tuple[int, dict[str, list[float]]] | None:
        """Load the newest loadable checkpoint into ``model``; return (last completed epoch, history).

        Args:
            model: The user's model, compiled.
            warn: Called with a message when the last checkpoint is unusable and the previous one is used.
        """
        state = self.state()
        if state is None:
            return None
        if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        for name, epoch, history in ((LAST, state["epoch"], state["history"]),
                                     (PREV, state.get("prev_epoch"), state.get("prev_history"))):
            if epoch is None or not (self.folder / name).exists():
                continue
            try:
                model.load_weights(self.folder / name)
            except Exception as e:
                warn(f"checkpoint {self.folder / name} cannot be loaded ({type(e).__name__}: {e}); "
                     "falling back to the previous one")
                continue
            return epoch, history or {}
        warn(f"no loadable checkpoint in {self.folder}; training starts from epoch 1")
        return None
