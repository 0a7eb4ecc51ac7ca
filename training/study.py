"""A run's study: ask the strategy for the next configuration, create its trial in the store before it runs,
and tell the strategy how it ended. All state is in the run store, so a restarted loop (or another worker)
continues from what is recorded there."""

from __future__ import annotations

import hashlib
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from mlops.records import Trial, TrialStatus
from mlops.store import RunStore, this_worker
from training.strategies import BaseStrategy, TweakSpace, full_config
from training.tweaks import TweakOutcome, apply_config

#: How many suggestions in a row may repeat an already-tried script before the study gives up.
MAX_REPEATS = 25


def source_hash(text: str) -> str:
    """Identity of a script's content."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Suggestion:
    """A configuration, the script it rewrites to and that script's identity."""

    config: dict[str, Any]
    outcome: TweakOutcome
    digest: str

    @property
    def label(self) -> str:
        """What the trial changes, for people."""
        return " + ".join(self.outcome.applied) or "baseline (as pushed)"


@dataclass
class Study:
    """Ask/tell over the run store for one run.

    Args:
        store: The run store.
        run_id: The run.
        source: The entry script as pushed.
        entry: Its name in the project (for diffs).
        space: The tweak space of the script.
        strategy: Suggests configurations.
    """

    store: RunStore
    run_id: str
    source: str
    entry: str
    space: TweakSpace
    strategy: BaseStrategy
    #: Configurations that rewrote to an already-tried script (not run; the strategy learns their result).
    virtual: list[Trial] = field(default_factory=list)

    def history(self) -> list[Trial]:
        """The run's trials as stored (running ones included)."""
        return self.store.trials(self.run_id)

    def ask(self, history: list[Trial]) -> Suggestion | str:
        """The next configuration to run, or why there is none.

        A configuration whose trial was reaped (its worker died) runs again before anything new.
        """
        ended = {t.source_hash for t in history if t.status is not TrialStatus.REAPED}
        for t in history:
            if t.status is TrialStatus.REAPED and t.source_hash not in ended:
                return Suggestion(t.config, apply_config(self.source, t.config), t.source_hash)
        by_source = {t.source_hash: t for t in history if t.source_hash and t.status is not TrialStatus.REAPED}
        baseline = full_config(self.space, {})
        while True:
            config = self.strategy.suggest(history + self.virtual)
            if config is None:
                return "no untried tweak left"
            outcome = apply_config(self.source, config)
            digest = source_hash(outcome.source)
            earlier = by_source.get(digest)
            if earlier is None or config == baseline:
                return Suggestion(config, outcome, digest)
            repeat = earlier.model_copy(update={"config": config})
            self.virtual.append(repeat)
            self.strategy.after_trial(-1, config, repeat)
            if len(self.virtual) > MAX_REPEATS:
                return "no tweak changes the script any more"

    def start(self, suggestion: Suggestion, script: str | None = None) -> Trial:
        """Create the suggestion's trial, ``running``, with its atomically allocated number."""
        outcome = suggestion.outcome
        trial = self.store.create_trial(self.run_id, Trial(
            config=suggestion.config, label=suggestion.label, tweaks=outcome.applied,
            skipped=[list(s) for s in outcome.skipped], diff=outcome.diff(self.source, self.entry),
            script=script, source_hash=suggestion.digest, worker=this_worker(), host=socket.gethostname(),
            started_at=time.time()))
        self.strategy.before_trial(trial.number, suggestion.config)
        return trial

    def tell(self, trial: Trial) -> Trial:
        """Store how a trial ended and let the strategy learn from it."""
        if trial.status is TrialStatus.RUNNING:
            raise ValueError(f"trial {trial.number} has not ended (status running)")
        trial = trial.model_copy(update={"finished_at": time.time()})
        self.store.finish_trial(trial)
        self.strategy.after_trial(trial.number, trial.config, trial)
        return trial
