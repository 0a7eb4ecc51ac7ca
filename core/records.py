"""Typed records of what is stored: runs, trials, model versions, alias moves, decisions and events.

Every component exchanges these (like Optuna's ``FrozenTrial``); a new field is added here, in one place.
``to_doc``/``from_doc`` are the only mapping to and from store documents. Words used once and for all:
``kind`` is the detected model kind (``ml``, ``ann``, ``cnn``), ``env`` the trial environment it runs in
(``ml``: scikit-learn, ``dl``: Keras/TensorFlow) and an event's ``type`` says what happened.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    """A run is ``running`` until it is finished, once, as ``passed``, ``failed`` or ``aborted`` (stopped by a
    signal: a Jenkins abort, Ctrl-C). A running run whose driver is gone is ``interrupted``: not finished, the same
    command continues it (it is ``running`` again)."""

    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        """Whether the run has its final status (it never changes again)."""
        return self in (RunStatus.PASSED, RunStatus.FAILED, RunStatus.ABORTED)


class TrialStatus(StrEnum):
    """A trial exists ``running`` before it starts; it ends ``ok``, ``failed``, ``pruned``, ``stopped`` (the run
    ended while it ran: another worker's trial reached the target) or ``reaped`` (its worker stopped sending
    heartbeats; its configuration runs again)."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    PRUNED = "pruned"
    STOPPED = "stopped"
    REAPED = "reaped"

    @property
    def finished(self) -> bool:
        """Whether the trial has ended."""
        return self is not TrialStatus.RUNNING


def env_of(kind: str) -> str:
    """The trial environment of a model kind: ``ml`` for scikit-learn, ``dl`` for Keras (``ann``, ``cnn``)."""
    return "ml" if kind == "ml" else "dl"


class Record(BaseModel):
    """Base of stored records: unknown document keys are ignored, enums are stored as their values."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, protected_namespaces=(),
                              validate_assignment=False)

    def to_doc(self) -> dict[str, Any]:
        """The store document (JSON-ready)."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Self:
        """The record of a store document."""
        return cls.model_validate(doc)


class BrokenTweak(Record):
    """A tweak that broke the script: the trial that showed it and its error."""

    tweak: str
    trial: int
    error: str = ""


class Evaluation(Record):
    """A model's predictions on labelled rows, scored: the metrics, per class, and the confusion matrix.

    Attributes:
        snapshot: The snapshot whose rows were evaluated (empty for what a script reported itself).
        split: Which of its splits (``test``, ``validation``), or ``reported`` for a script's own figures.
        metrics: Metric -> value (``accuracy``, ``f1``, ``precision``, ``recall``, ``roc_auc``, ``cost``...).
        per_class: Class -> ``{precision, recall, f1, support}``.
        labels: The classes in the order of the confusion matrix's rows (true) and columns (predicted).
        confusion: The confusion matrix.
        positive: The positive class of binary metrics and of the cost.
    """

    snapshot: str = ""
    split: str = "test"
    rows: int = 0
    metrics: dict[str, float] = Field(default_factory=dict)
    per_class: dict[str, dict[str, float]] = Field(default_factory=dict)
    labels: list[str] = Field(default_factory=list)
    confusion: list[list[int]] = Field(default_factory=list)
    positive: str | None = None


class Run(Record):
    """One ``mlops run`` of a project: its configuration, where it runs and how it ended."""

    id: str = Field("", alias="_id")
    project: str = ""
    path: str = ""
    entry: str = ""
    framework: str = ""
    kind: str = ""
    env: str = ""
    task: str = "classification"
    image: str = ""
    backend: str = ""
    #: The line naming the sandbox its trials had (``sandbox: bubblewrap (...)``, ``sandbox: NONE (...)``).
    sandbox: str = ""
    metric: str = "accuracy"
    target: float = 0.8
    goal: str = "maximize"
    strategy: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    build_url: str | None = None
    fingerprint: str = ""
    status: RunStatus = RunStatus.RUNNING
    created: float = Field(default_factory=time.time)
    finished: float | None = None
    #: Who drives the run (``host:pid``) and when it last said it is alive.
    owner: str = ""
    heartbeat: float | None = None
    #: Why the run is ``interrupted`` (its driver is gone), while it is.
    interrupted: str = ""
    #: The metric follows the task (no ``metric:`` given): a lone printed number may count for it.
    metric_is_default: bool = False
    #: When the time budget ends, for every worker of the run.
    deadline: float | None = None
    #: Workers on other machines may join (``mlops worker``): models and checkpoints also go to the store.
    shared: bool = False
    value: float | None = None
    best_trial: int | None = None
    model_version: int | None = None
    model: str | None = None
    error: str | None = None
    stopped: str = ""
    best_script: str | None = None
    #: Tweaks whose trial raised where the script as pushed did not: never suggested again in this run.
    broken_tweaks: list[BrokenTweak] = Field(default_factory=list)
    #: A data project: mlops wrote the training script from ``data:`` (no script was pushed).
    data_project: bool = False
    #: The snapshot the run trained on, and what validation found (``DataCheck`` as a document).
    snapshot: str | None = None
    data: dict[str, Any] | None = None
    #: How ``value`` was measured: data projects select on ``validation`` and score once on ``test``; scripts
    #: report their own figure (``reported``), or its mean over seeds (``confirmed``).
    measured_on: str = "reported"
    #: How many scored trials the winner was selected from.
    selected_from: int = 0
    #: The winner's evaluation on the test split (data projects).
    evaluation: Evaluation | None = None
    #: ``confirm: K``: the winner re-run with K other seeds: ``{seeds, values, mean, std, selected}``.
    confirm: dict[str, Any] | None = None
    #: What mlops decided on its own for the script, one sentence each: absolute paths mapped onto the
    #: project, the repository the trials see, packages installed for its imports.
    resolved: list[str] = Field(default_factory=list)
    #: Packages installed for the script's imports (not in the image nor in requirements.txt), pinned:
    #: ``seaborn==0.13.2``. Workers that join the run install the same.
    auto_packages: list[str] = Field(default_factory=list)

    @property
    def reached_target(self) -> bool:
        """Whether ``value`` meets the target in the metric's direction."""
        if self.value is None:
            return False
        return self.value >= self.target if self.goal == "maximize" else self.value <= self.target


class TrialModel(Record):
    """The model a trial saved, relative to the trial's folder."""

    path: str
    format: str  # "keras" | "joblib"
    source: str = ""
    class_: str = Field("", alias="class")
    #: ``tf_keras`` when a Keras 2 script trained it on tf-keras (it must be loaded with tf_keras).
    runtime: str = ""


class Trial(Record):
    """One training of a (possibly rewritten) script; created ``running`` with its number before it starts."""

    id: str = Field("", alias="_id")
    run_id: str = ""
    number: int = 0
    status: TrialStatus = TrialStatus.RUNNING
    config: dict[str, Any] = Field(default_factory=dict)
    label: str = ""
    tweaks: list[str] = Field(default_factory=list)
    skipped: list[list[str]] = Field(default_factory=list)
    diff: str = ""
    script: str | None = None
    source_hash: str = ""
    value: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    #: Metric name -> where its value came from (``keras.evaluate``, ``sklearn.score``, ``print``...).
    sources: dict[str, str] = Field(default_factory=dict)
    #: Metric -> how its value was read when not as printed: ``read 93.5 as 93.5% = 0.935``.
    notes: dict[str, str] = Field(default_factory=dict)
    duration_s: float = 0.0
    error: str | None = None
    error_kind: str | None = None
    #: How the trial process ended; the script's own code when it called ``sys.exit(n)``, also when the metric it
    #: reported before was kept (then with a warning).
    exit_code: int | None = None
    log_tail: str = ""
    run_dir: str = ""
    model: TrialModel | None = None
    history: dict[str, list[float]] = Field(default_factory=dict)
    curve: list[float] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    #: Import-level Keras 2 shims the script used (``keras -> tf_keras``, ``import keras.utils.np_utils``...).
    shims: list[str] = Field(default_factory=list)
    where: str = ""
    restarts: int = 0
    resumed_from_epoch: list[int] = Field(default_factory=list)
    reached: bool = False
    worker: str = ""
    host: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    heartbeat: float | None = None
    #: A re-run of the winning trial with another seed (``confirm: K``): the number of the trial it confirms.
    confirms: int | None = None
    #: What the harness saw of the data and the model (rows, scales, classes, optimizer...), for the diagnosis.
    facts: dict[str, Any] = Field(default_factory=dict)
    #: What the diagnosis found in this trial, strongest first (``training.diagnosis.Finding.to_doc``).
    findings: list[dict[str, Any]] = Field(default_factory=list)
    #: Why this trial runs, when the diagnosis chose it: ``{trial, kind, evidence, remedy}``.
    because: dict[str, Any] = Field(default_factory=dict)


class ModelVersion(Record):
    """A model of a project in the registry: version N, where it came from and how good it was."""

    id: str = Field("", alias="_id")
    project: str
    version: int = 0
    run_id: str = ""
    trial: int | None = None
    path: str = ""
    format: str = ""
    #: ``tf_keras`` for a Keras 2 model (loaded with tf_keras), else empty.
    runtime: str = ""
    framework: str = ""
    kind: str = ""
    metric: str = ""
    value: float | None = None
    passed: bool = False
    created: float = Field(default_factory=time.time)
    #: The snapshot it was trained on (data projects and scripts that declare ``data:``).
    snapshot: str | None = None
    #: Its figures: the test evaluation's metrics (data projects) or what its script reported.
    metrics: dict[str, float] = Field(default_factory=dict)
    #: The gate's decision on it: ``{blessed, reason, run_id, time}`` (the full record is in ``decisions``).
    decision: dict[str, Any] | None = None
    #: What it takes as input, as its serving app says once loaded: ``{shape, features}``.
    inputs: dict[str, Any] | None = None


class GateCheck(Record):
    """One check of the gate: a metric of the candidate against production's (or against the target).

    Attributes:
        check: ``target``, ``tolerance`` (not worse than production beyond its tolerance) or ``threshold``.
        rows: Whose test rows: ``candidate`` (its snapshot's) or ``production`` (the production model's).
        limit: The value the candidate had to reach (the target, or production's value with its tolerance).
        change: Candidate minus production (positive when the value grew).
        failed: Why it failed, one line; empty when it passed.
    """

    metric: str
    check: str
    rows: str = "candidate"
    candidate: float | None = None
    baseline: float | None = None
    limit: float | None = None
    change: float | None = None
    greater_is_better: bool = True
    passed: bool = False
    failed: str = ""


class InfraCheck(Record):
    """Infra validation: the version loaded in its serving environment answers ``/predict`` like in training.

    ``status`` is ``passed``, ``failed`` or ``skipped`` (with ``reason``).
    """

    status: str = "skipped"
    reason: str = ""
    where: str = ""
    rows: int = 0
    mismatches: int = 0
    seconds: float = 0.0


class Decision(Record):
    """The gate's decision on a run's model version: blessed or not, and every check behind it.

    Always recorded, once per run (``_id`` is the run id), also when the model is not blessed.
    """

    id: str = Field("", alias="_id")
    run_id: str
    project: str
    version: int | None = None
    baseline_version: int | None = None
    blessed: bool = False
    reason: str = ""
    metric: str = ""
    target: float | None = None
    checks: list[GateCheck] = Field(default_factory=list)
    infra: InfraCheck = Field(default_factory=InfraCheck)
    #: Which rows were evaluated: ``candidate`` -> snapshot id, and ``production`` -> snapshot id when they differ.
    rows: dict[str, str] = Field(default_factory=dict)
    #: How the candidate and production were compared: on the same test rows, or on what their scripts reported.
    compared_on: str = ""
    evaluations: dict[str, Evaluation] = Field(default_factory=dict)
    #: The gate the candidate was held to (metric -> rule): what the next candidate is held to once it holds
    #: production; and the rules its push loosened, ignored (``accuracy: relative 1 (production's: ...)``).
    gate: dict[str, dict[str, Any]] = Field(default_factory=dict)
    loosened: list[str] = Field(default_factory=list)
    #: A change of inputs against production declared with ``breaking: true``: it needs a person's approval.
    breaking: str = ""
    time: float = Field(default_factory=time.time)

    def line(self) -> str:
        """One line: ``BLESSED: ...`` or ``NOT BLESSED: ...``."""
        return f"{'BLESSED' if self.blessed else 'NOT BLESSED'}: {self.reason}"


class AliasMove(Record):
    """One move of an alias (``production``, ``staging``...) to a version: append-only history."""

    project: str
    alias: str
    version: int
    previous: int | None = None
    who: str = ""
    why: str = ""
    run_id: str | None = None
    time: float = Field(default_factory=time.time)


class ProjectRecord(Record):
    """A project name bound to where the project comes from, at its first run: its git remote (normalised, with
    no credentials, ``#sub/folder`` when the project is a folder of the repository) or its folder's path. A run
    of that name from elsewhere is refused until the operator rebinds it (``mlops projects rebind``)."""

    name: str = Field(alias="_id")
    origin: str
    time: float = Field(default_factory=time.time)
    who: str = ""
    why: str = ""
    #: The operator's gate (metric -> rule) and target for the project's candidates, instead of production's
    #: (``mlops projects gate``); a candidate's ``mlops.yaml`` may tighten them, never loosen them.
    gate: dict[str, dict[str, Any]] | None = None
    target: float | None = None


class Event(Record):
    """Something that happened (a mail, a push, a deploy, a restart...); ``type`` says what."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    type: str
    time: float = Field(default_factory=time.time)
    project: str | None = None
    run_id: str | None = None


class LiveCheck(Record):
    """One look of ``mlops monitor`` at a served project: live accuracy over the window, drift, and the decision.

    ``decision`` is ``ok``, ``too_few_labels``, ``under_threshold`` (a retrain is due), ``no_production`` or
    ``no_capture``; ``reason`` says it in one line.
    """

    project: str
    model_version: int | None = None
    decision: str = "ok"
    reason: str = ""
    accuracy: float | None = None
    labels: int = 0
    corrected: int = 0
    window: int = 0
    window_minutes: float | None = None
    threshold: float = 0.0
    min_labels: int = 0
    drift_share: float | None = None
    drifted: list[str] = Field(default_factory=list)
    drift_note: str = ""
    served_rows: int = 0
    time: float = Field(default_factory=time.time)
