"""A run's study: ask the strategy for the next configuration, create its trial in the store before it runs,
and tell the strategy how it ended. All state is in the run store, so a restarted loop (or another worker)
continues from what is recorded there."""

from __future__ import annotations

import hashlib
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from core.records import BrokenTweak, Trial, TrialStatus
from core.store import RunStore, this_worker
from training.diagnosis import remedies
from training.strategies import BaseStrategy, TweakSpace, full_config
from training.tweaks import TweakOutcome, apply_config

#: How many suggestions in a row may repeat an already-tried script before the study gives up.
MAX_REPEATS = 25
#: Ways a trial can fail that mean the script raised (not a time-out, a kill or a pruning).
SCRIPT_FAILURES = ("script_error", "crashed")


def source_hash(text: str) -> str:
    """Identity of a script's content."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Suggestion:
    """A configuration, the script it rewrites to and that script's identity."""

    config: dict[str, Any]
    outcome: TweakOutcome
    digest: str
    #: The reaped trial (its worker died) whose configuration this runs again.
    rerun_of: Trial | None = None
    #: Why the diagnosis chose it: ``{trial, kind, evidence, remedy}`` (empty: the strategy chose it).
    because: dict[str, Any] = field(default_factory=dict)

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
    #: Tweaks that broke this script (from the run record): left out of every later suggestion.
    broken: list[BrokenTweak] = field(default_factory=list)
    #: Whether the diagnosis's remedies come before the strategy's suggestions.
    diagnosis: bool = True

    def __post_init__(self) -> None:
        run = self.store.get_run(self.run_id)
        self.broken = list(run.broken_tweaks) if run else []

    @property
    def maximize(self) -> bool:
        """Whether higher values of the metric are better."""
        return self.strategy.goal == "maximize"

    @property
    def baseline(self) -> dict[str, Any]:
        """The configuration that changes nothing."""
        return full_config(self.space, {})

    def changed(self, config: dict[str, Any]) -> set[str]:
        """The tweaks a configuration turns on (those not at their "unchanged" choice)."""
        base = self.baseline
        return {k for k, v in config.items() if v != base.get(k)}

    def without_broken(self, config: dict[str, Any]) -> dict[str, Any]:
        """The configuration with every tweak known to break this script set back to "unchanged"."""
        bad = {b.tweak for b in self.broken}
        base = self.baseline
        return {k: (base[k] if k in bad else v) for k, v in config.items()}

    def learn_breakage(self, trial: Trial, history: list[Trial]) -> list[BrokenTweak]:
        """After a failed trial: the tweaks to blame when the script raised with them but ran without them.

        A tweak is blamed when no trial that ran to the end used it; when every tweak of the failed trial has
        run fine elsewhere, it is their combination that failed, and that configuration is not suggested again
        anyway (it has been tried).
        """
        if trial.status is not TrialStatus.FAILED or trial.error_kind not in SCRIPT_FAILURES:
            return []
        ran = [t for t in history if t.status is TrialStatus.OK]
        if not ran:
            return []  # the script does not run as pushed either: nothing to blame on a tweak
        fine = set().union(*(self.changed(t.config) for t in ran))
        known = {b.tweak for b in self.broken}
        blamed = [BrokenTweak(tweak=k, trial=trial.number, error=trial.error or "")
                  for k in sorted(self.changed(trial.config) - fine - known)]
        if blamed:
            self.broken += blamed
            self.store.update_run(self.run_id, broken_tweaks=[b.to_doc() for b in self.broken])
        return blamed

    def history(self) -> list[Trial]:
        """The run's trials as stored (running ones included), without the winner's re-runs (``confirm:``)."""
        return [t for t in self.store.trials(self.run_id) if t.confirms is None]

    def ask(self, history: list[Trial]) -> Suggestion | str:
        """The next configuration to run, or why there is none.

        A configuration whose trial was reaped (its worker died) runs again before anything new.
        """
        ended = {t.source_hash for t in history if t.status is not TrialStatus.REAPED}
        for t in history:
            if t.status is TrialStatus.REAPED and t.source_hash not in ended:
                return Suggestion(t.config, apply_config(self.source, t.config), t.source_hash, rerun_of=t)
        by_source = {t.source_hash: t for t in history if t.source_hash and t.status is not TrialStatus.REAPED}
        baseline = self.baseline
        for config, because in remedies(history, self.space.choices, self.maximize) if self.diagnosis else ():
            config = self.without_broken(config)
            outcome = apply_config(self.source, config)
            digest = source_hash(outcome.source)
            if outcome.applied and digest not in by_source:
                return Suggestion(config, outcome, digest, because=because)
        while True:
            suggested = self.strategy.suggest(history + self.virtual)
            if suggested is None:
                return "no untried tweak left"
            config = self.without_broken(suggested)
            outcome = apply_config(self.source, config)
            digest = source_hash(outcome.source)
            earlier = by_source.get(digest)
            if earlier is None or (config == baseline and suggested == config):
                if config != suggested:  # the strategy learns that its suggestion was run without the broken tweak
                    self.strategy.after_trial(-1, suggested, Trial(config=suggested, status=TrialStatus.FAILED))
                return Suggestion(config, outcome, digest)
            repeat = earlier.model_copy(update={"config": suggested})
            self.virtual.append(repeat)
            self.strategy.after_trial(-1, suggested, repeat)
            if len(self.virtual) > MAX_REPEATS:
                return "no tweak changes the script any more"

    def start(self, suggestion: Suggestion, script: str | None = None) -> Trial:
        """Create the suggestion's trial, ``running``, with its atomically allocated number."""
        outcome = suggestion.outcome
        trial = self.store.create_trial(self.run_id, Trial(
            config=suggestion.config, label=suggestion.label, tweaks=outcome.applied,
            skipped=[list(s) for s in outcome.skipped], diff=outcome.diff(self.source, self.entry),
            script=script, source_hash=suggestion.digest, worker=this_worker(), host=socket.gethostname(),
            started_at=time.time(), because=suggestion.because))
        self.strategy.before_trial(trial.number, suggestion.config)
        return trial

    def tell(self, trial: Trial) -> Trial | None:
        """Store how a trial ended and let the strategy learn from it.

        Returns:
            The stored trial, or ``None`` when it had been reaped meanwhile (then nothing is recorded: its
            configuration runs again elsewhere).
        """
        if trial.status is TrialStatus.RUNNING:
            raise ValueError(f"trial {trial.number} has not ended (status running)")
        trial = trial.model_copy(update={"finished_at": time.time()})
        if not self.store.finish_trial(trial):
            self.strategy.forget(trial)
            return None
        self.strategy.after_trial(trial.number, trial.config, trial)
        return trial

    def reload_broken(self) -> None:
        """Take the tweaks other workers found broken (from the run record)."""
        run = self.store.get_run(self.run_id)
        known = {b.tweak for b in self.broken}
        self.broken += [b for b in (run.broken_tweaks if run else []) if b.tweak not in known]
