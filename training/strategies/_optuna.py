"""TPE over the tweak space (Optuna), its first trials seeded with the ladder, hopeless trials pruned."""

from __future__ import annotations

from typing import Any

from core.records import Trial, TrialStatus
from training.strategies._base import BaseStrategy
from training.strategies._space import TweakSpace, full_config


class OptunaStrategy(BaseStrategy):
    """Optuna's TPE sampler with a median pruner on the per-epoch validation metric.

    With one worker the Optuna study lives in memory and is rebuilt from the run's trials after a restart.
    Workers that share a run share one Optuna study in ``storage`` (an ``RDBStorage`` such as PostgreSQL, or a
    ``JournalStorage`` file on one machine): the first worker creates it and enqueues the ladder, the others
    load it; an enqueued configuration is handed to exactly one worker, and the running trials of the others
    count as bad results for the sampler (``constant_liar``), so that workers spread over the space.

    Args:
        space: The tweak space.
        goal: ``maximize`` or ``minimize``.
        seed: Seed of the sampler.
        ladder_trials: How many of the first trials follow the ladder before TPE takes over (default: the
            whole ladder). They are enqueued in the study, so they are Optuna trials like the others.
        storage: Optuna's storage shared by the run's workers (default: in memory, for one worker).
        study_name: The study's name in ``storage`` (one per run).
    """

    name = "optuna"
    shares_state = True

    def __init__(self, space: TweakSpace, goal: str = "maximize", seed: int = 42, ladder_trials: int | None = None,
                 storage: Any = None, study_name: str | None = None) -> None:
        super().__init__(space, goal, seed)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        seeded = [full_config(space, rung) for rung in space.ladder[:ladder_trials]]
        settings: dict[str, Any] = dict(
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, len(seeded)), constant_liar=True),
            # Lenient: deeper or longer-trained models often start slower. 75.0 keeps the top 75% of trials
            # at each step, so only a trial in the bottom quarter after five epochs is pruned, and only
            # once three earlier trials reported that epoch (with two, "bottom quarter" is a coin toss).
            pruner=optuna.pruners.PercentilePruner(75.0, n_startup_trials=3, n_warmup_steps=5, n_min_trials=3),
        )
        #: Whether this process made the study (then it holds nothing yet: ``restore`` fills it from the store).
        self.created = True
        if storage is None:
            self.study = optuna.create_study(direction=goal, **settings)
        else:
            try:
                self.study = optuna.create_study(direction=goal, storage=storage, study_name=study_name, **settings)
            except optuna.exceptions.DuplicatedStudyError:
                self.study = optuna.load_study(study_name=study_name, storage=storage, **settings)
                self.created = False
        self.distributions = {name: optuna.distributions.CategoricalDistribution(values)
                              for name, values in space.choices.items()}
        if self.created:
            for config in seeded:
                self.study.enqueue_trial(config)
        self._pending: Any = None  # the optuna trial of the last suggestion, until it gets its number
        self._live: dict[int, Any] = {}  # trial number -> optuna trial

    def restore(self, history: list[Trial]) -> None:
        if not self.created:
            return  # a shared study already holds every worker's trials
        for record in history:
            if record.status.finished:
                self._add_finished(record)

    def forget(self, record: Trial) -> None:
        """A reaped trial (its worker died): its Optuna trial, left running, ends as failed."""
        self._live.pop(record.number, None)
        for trial in self.study.get_trials(deepcopy=False, states=(self._optuna.trial.TrialState.RUNNING,)):
            if trial.user_attrs.get("mlops_trial") == record.number:
                self.study.tell(trial.number, state=self._optuna.trial.TrialState.FAIL, skip_if_finished=True)

    def suggest(self, history: list[Trial]) -> dict[str, Any] | None:
        for _ in range(50):
            trial = self.study.ask(self.distributions)
            config = dict(trial.params)
            earlier = next((t for t in history if t.config == config), None)
            if earlier is None:
                self._pending = trial
                return config
            self._tell(trial, earlier)  # same configuration: the sampler learns its known result (or, while
            # another worker runs it, a failure: a duplicate that never runs)
        return None

    def before_trial(self, number: int, config: dict[str, Any]) -> None:
        trial, self._pending = self._pending, None
        if trial is not None and dict(trial.params) == config:
            self._live[number] = trial
            trial.set_user_attr("mlops_trial", number)

    def should_prune(self, number: int, epoch: int, value: float) -> bool:
        trial = self._live.get(number)
        if trial is None:
            return False
        trial.report(value, epoch)
        return trial.should_prune()

    def after_trial(self, number: int, config: dict[str, Any], record: Trial) -> None:
        trial = self._live.pop(number, None)
        if trial is None and self._pending is not None and dict(self._pending.params) == config:
            trial, self._pending = self._pending, None  # a suggestion that was not run (a repeat): told now
        if trial is None:
            self._add_finished(record)
        else:
            self._tell(trial, record)

    def _state(self, record: Trial) -> tuple[Any, float | None]:
        states = self._optuna.trial.TrialState
        if record.status is TrialStatus.OK and record.value is not None:
            return states.COMPLETE, float(record.value)
        if record.status is TrialStatus.PRUNED:
            return states.PRUNED, None
        return states.FAIL, None

    def _tell(self, trial: Any, record: Trial) -> None:
        state, value = self._state(record)
        self.study.tell(trial, value if state == self._optuna.trial.TrialState.COMPLETE else None, state=state)

    def _add_finished(self, record: Trial) -> None:
        config = record.config
        if set(config) != set(self.distributions):
            return
        state, value = self._state(record)
        curve = record.curve
        self.study.add_trial(self._optuna.trial.create_trial(
            params=config, distributions=self.distributions, value=value, state=state,
            intermediate_values={i: v for i, v in enumerate(curve)}, user_attrs={"mlops_trial": record.number},
        ))
