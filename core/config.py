"""``mlops.yaml``: one per training project, validated with pydantic; ``MLOPS_*`` variables override.

Precedence, lowest to highest: defaults, ``mlops.yaml``, environment, command-line flags.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from core.errors import ConfigError
from core.settings import environment

CONFIG_FILE = "mlops.yaml"

#: Metrics the tool knows, with the direction in which they improve.
METRICS: dict[str, Literal["maximize", "minimize"]] = {
    "accuracy": "maximize", "f1": "maximize", "precision": "maximize", "recall": "maximize",
    "roc_auc": "maximize", "r2": "maximize", "rmse": "minimize", "mae": "minimize", "mse": "minimize",
    "cost": "minimize",
}
#: Metrics whose values live in [0, 1] (r2 may fall below 0, but a target for it must be in (0, 1] too).
BOUNDED = frozenset({"accuracy", "f1", "precision", "recall", "roc_auc", "r2"})
#: Metrics a regressor cannot have (``cost`` counts false positives and false negatives).
CLASSIFICATION_ONLY = frozenset({"cost"})
#: The metric a run is judged on when ``mlops.yaml`` names none, by the task detected in the code.
DEFAULT_METRIC = {"classification": "accuracy", "regression": "r2"}
DEFAULT_TARGET = 0.8
#: A target of a bounded metric in this range reads as a percentage ("target: 93" -> 0.93?); under it (1.7) a
#: percentage would be a target nobody sets (0.017), so no value is suggested.
PERCENT_TARGETS = (10.0, 100.0)


def default_metric(task: str | None) -> str:
    """``accuracy`` for classifiers (and when the task is unknown), ``r2`` for regressors."""
    return DEFAULT_METRIC.get(task or "classification", "accuracy")


def direction_problem(metric: str, direction: str, default: bool = False) -> str | None:
    """Why ``direction`` contradicts the way ``metric`` improves, or ``None`` when it agrees."""
    if METRICS.get(metric, direction) == direction:
        return None
    which = f"the task's default metric {metric}" if default else f"metric {metric}"
    better = "higher" if METRICS[metric] == "maximize" else "lower"
    return (f"{which} is {METRICS[metric]}d ({better} is better), not {direction}d; remove 'direction:' (it "
            "follows the metric)" + (" or name the metric" if default else ""))


def target_problem(metric: str, target: float) -> str | None:
    """Why ``target`` cannot be reached or means nothing for ``metric``, or ``None`` when it is fine."""
    if metric in BOUNDED and not 0 < target <= 1:
        if PERCENT_TARGETS[0] <= target <= PERCENT_TARGETS[1]:
            return f"target {target:g} is out of range for {metric} (0..1]; did you mean {target / 100:g}?"
        share = ": give a share, e.g. 0.9 for 90%" if target > 1 else ""
        return f"target {target:g} is out of range for {metric} (0..1]{share}"
    if metric not in BOUNDED and target <= 0:
        return f"target {target:g} is out of range for {metric} (an error: it must be above 0)"
    return None


def setting(default: Any = PydanticUndefined, *, env: str, flag: str | None = None, **field: Any) -> Any:
    """A field of ``mlops.yaml`` that an environment variable overrides, and a command-line flag too when ``flag``
    is given: the one place each is named (``project_settings`` finds them; the CLI's options, ``RunOptions`` and
    ``ENV_OVERRIDES`` follow). ``field``: what ``pydantic.Field`` takes (``description`` becomes the flag's help).
    """
    return Field(default, json_schema_extra={"env": env, **({"flag": flag} if flag else {})}, **field)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Monitoring(_Strict):
    """``monitoring:``: when live accuracy (users' labels against the production model's predictions) starts a
    retrain."""

    threshold: float = Field(0.8, gt=0, le=1, description="live accuracy under this starts a retrain")
    min_labels: int = Field(30, ge=1, description="labelled predictions needed before any decision")
    window: int = Field(200, ge=1, description="the live accuracy is over the last this many labelled predictions")
    window_minutes: float | None = Field(None, gt=0, description="and only over labels given in the last minutes")
    cooldown_minutes: float = Field(60, ge=0, description="at least this long between two retrains")
    drift_rows: int = Field(1000, ge=20, description="served rows tested for drift against the training data")
    retrain: bool = Field(True, description="false: alert only, never start a retrain")

    @model_validator(mode="after")
    def _window_holds_the_minimum(self) -> Monitoring:
        if self.min_labels > self.window:
            raise ValueError(f"min_labels ({self.min_labels}) cannot exceed window ({self.window})")
        return self


class Budget(_Strict):
    """How much the tuning loop may spend."""

    max_trials: int = setting(10, env="MLOPS_MAX_TRIALS", flag="--max-trials", ge=1, le=1000,
                              description="the trial budget")
    max_minutes: float = setting(60.0, env="MLOPS_MAX_MINUTES", flag="--max-minutes", gt=0, allow_inf_nan=False,
                                 description="the time budget in minutes")


_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([kmgKMG]?)$")
#: The least memory a trial may be given: Docker's own minimum for a container.
MIN_TRIAL_MEMORY = 6 * 1024**2


def memory_bytes(text: str) -> int:
    """``4g`` in bytes, in Docker's units (``k``, ``m``, ``g`` are powers of 1024; no unit: bytes)."""
    match = _MEMORY.match(text)
    if match is None:
        raise ValueError("not an amount of memory; write e.g. 512m or 4g (k, m, g: KiB, MiB, GiB)")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " kmg".index(unit.lower() or " "))


class TrialLimits(_Strict):
    """Resources of one trial. Values are checked here; what a backend can give bounds them later (``within``)."""

    time_limit_s: int = setting(1800, env="MLOPS_TRIAL_TIME_LIMIT", ge=5,
                                description="a trial running longer is stopped")
    cpus: float = Field(2.0, ge=0.01, allow_inf_nan=False)
    memory: str = Field("4g", description="e.g. 512m or 4g")
    network: bool = False
    seed: int = 42
    restarts: int = Field(2, ge=0, le=10, description="a killed trial is started again, resuming from its checkpoint")

    @field_validator("time_limit_s", mode="before")
    @classmethod
    def _seconds_as_a_number(cls, v: Any) -> Any:
        """``1e5`` (YAML reads it as text) is a number of seconds, as ``1.0e5`` is."""
        if isinstance(v, str):
            try:
                number = float(v)
            except ValueError:
                return v
            return int(number) if math.isfinite(number) and number == int(number) else v
        return v

    @field_validator("memory", mode="before")
    @classmethod
    def _bytes_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v

    @field_validator("memory")
    @classmethod
    def _enough_memory(cls, v: str) -> str:
        if memory_bytes(v) < MIN_TRIAL_MEMORY:
            raise ValueError(f"{v} is too little memory for a trial; give at least 6m (e.g. 512m or 4g)")
        return v

    def within(self, cpus: float, memory: int | None, seconds: float, where: str) -> tuple[TrialLimits, list[str]]:
        """These limits bounded by what a trial can get, with one line for each value that was capped.

        Args:
            cpus: The CPUs of the machine (or Docker engine) trials run on.
            memory: Its memory in bytes (``None``: unknown, not bounded).
            seconds: The run's time budget (``budget.max_minutes``), which no trial outlives.
            where: The machine or engine, for the lines (``this machine``, ``the Docker engine``).
        """
        update: dict[str, Any] = {}
        said = []
        if self.cpus > cpus:
            update["cpus"] = float(cpus)
            said.append(f"trial.cpus {self.cpus:g} is more than {where} has: a trial gets {cpus:g} CPUs")
        if memory is not None and memory_bytes(self.memory) > memory:
            update["memory"] = f"{max(memory // 1024**2, 6)}m"
            said.append(f"trial.memory {self.memory} is more than {where} has: a trial gets at most "
                        f"{update['memory']} ({memory / 1024**3:.1f} GiB)")
        if self.time_limit_s > seconds:
            update["time_limit_s"] = max(5, int(seconds))
            said.append(f"trial.time_limit_s {self.time_limit_s} is longer than the run's time budget "
                        f"(budget.max_minutes {seconds / 60:g}): a trial stops after {update['time_limit_s']} s "
                        "at the latest")
        return self.model_copy(update=update), said


class Mail(_Strict):
    """Who gets the report."""

    to: list[str] = setting(env="MLOPS_MAIL_TO", default_factory=list,
                            description="who gets the report (comma-separated in the variable)")
    when: Literal["always", "failure", "never"] = "always"

    @field_validator("to", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return [s.strip() for s in v.split(",") if s.strip()] if isinstance(v, str) else v

    @field_validator("to")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for address in v:
            if "@" not in address or " " in address:
                raise ValueError(f"'{address}' is not an e-mail address")
        return v


#: Docker engine URL schemes the SDK speaks: ``unix://`` (this machine) and ``tcp://``/``ssh://`` (other hosts).
DOCKER_SCHEMES = ("unix://", "tcp://", "ssh://")


class Docker(_Strict):
    """Where trial containers run."""

    hosts: list[str] = setting(env="MLOPS_DOCKER_HOSTS", default_factory=list,
                               description="Docker engines (comma-separated in the variable); empty: the local one "
                                           "(DOCKER_HOST or /var/run/docker.sock)")

    @field_validator("hosts", mode="before")
    @classmethod
    def _split_hosts(cls, v: Any) -> Any:
        return [s.strip() for s in v.split(",") if s.strip()] if isinstance(v, str) else v

    @field_validator("hosts")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(DOCKER_SCHEMES):
                raise ValueError(f"'{url}' is not a Docker engine URL; use unix:///var/run/docker.sock, "
                                 "tcp://HOST:2376 or ssh://USER@HOST")
        if len(set(v)) != len(v):
            raise ValueError("a Docker host is listed twice")
        return v

class Cost(_Strict):
    """The cost matrix of ``metric: cost`` (the APS challenge's: a missed failure costs 50 false alarms).

    The cost of a set of predictions is ``fp * false positives + fn * false negatives`` over the rows evaluated,
    with ``positive`` the class that counts as positive.
    """

    fp: float = Field(10.0, ge=0, description="cost of a false positive (a false alarm)")
    fn: float = Field(500.0, ge=0, description="cost of a false negative (a missed positive)")


class GateMetric(_Strict):
    """How much worse than production a candidate may be on one metric (MLflow's ``MetricThreshold`` turned
    into a tolerance). Every bound given must hold; none given means "not worse at all"."""

    absolute: float | None = Field(None, ge=0, description="worse by at most this much, in the metric's units")
    relative: float | None = Field(None, ge=0, description="worse by at most this share of production's value")
    threshold: float | None = Field(None, description="and the candidate's value must reach this bound")
    greater_is_better: bool | None = Field(None, description="default: the metric's direction")


def _check_keys(model: type[BaseModel], value: dict[str, Any]) -> None:
    unknown = sorted(set(value) - set(model.model_fields))
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}'; known keys here: {', '.join(model.model_fields)}")


class DataConfig(_Strict):
    """``data:``: where a project's rows come from, the column to predict and how the rows are split.

    A project with ``data:`` and no script is a *data project*: mlops writes and tunes its training script. A
    script project declares its files here to get snapshots, validation and drift; its script reads them itself.
    """

    path: list[str] = Field(default_factory=list, description="CSV/Parquet files (globs), relative to the project")
    mongodb: str | None = Field(None, description="a collection in the run store's database")
    label: str = Field(description="the column to predict")
    na_values: list[str] = Field(default_factory=list, description="strings that mean missing, e.g. [na]")
    split: dict[str, float] = Field(default_factory=dict, description="train/validation/test shares")
    seed: int = Field(42, description="seed of the stratified split")
    max_missing_ratio: float = Field(0.7, ge=0, le=1, description="features missing more often are dropped")
    schema_file: str | None = Field(None, alias="schema", description="the data schema (default: kept by mlops)")
    drift: dict[str, Any] = Field(default_factory=dict, description="drift thresholds (core.data.DriftThresholds)")
    tolerances: dict[str, Any] = Field(default_factory=dict, description="schema tolerances (core.data.Tolerances)")

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    @field_validator("path", "na_values", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("split")
    @classmethod
    def _split(cls, v: dict[str, float]) -> dict[str, float]:
        if v:
            from core.data.snapshot import SplitRatios

            _check_keys(SplitRatios, v)
            try:
                SplitRatios(**v)
            except ValidationError as e:
                raise ValueError(e.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return v

    @field_validator("drift", "tolerances")
    @classmethod
    def _thresholds(cls, v: dict[str, Any], info: Any) -> dict[str, Any]:
        if v:
            from core.data import DriftThresholds, Tolerances

            model = DriftThresholds if info.field_name == "drift" else Tolerances
            _check_keys(model, v)
            try:
                model(**v)
            except ValidationError as e:
                first = e.errors()[0]
                raise ValueError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        return v

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if bool(self.path) == bool(self.mongodb):
            raise ValueError("give exactly one source: 'path:' (files) or 'mongodb:' (a collection)")
        return self

    @property
    def source(self) -> str:
        """The source as messages name it: ``mongodb:<collection>`` or the file patterns."""
        return f"mongodb:{self.mongodb}" if self.mongodb else ", ".join(self.path)


class ProjectConfig(_Strict):
    """Everything ``mlops.yaml`` may say. Unknown keys are errors."""

    name: str | None = Field(None, description="the project's name (default: its folder or repository name)")
    entry: str | None = None
    metric: str | None = setting(None, env="MLOPS_METRIC", flag="--metric",
                                 description="the metric to judge on (default: accuracy, r2 for a regressor)")
    target: float | None = setting(None, env="MLOPS_TARGET", flag="--target", allow_inf_nan=False,
                                   description="the metric value to reach (default: 0.8 for a metric in 0..1)")
    direction: Literal["maximize", "minimize"] | None = None
    strategy: Literal["ladder", "optuna", "random"] = setting(
        "optuna", env="MLOPS_STRATEGY", flag="--strategy", description="the tuning strategy: optuna, ladder or random")
    diagnosis: bool = setting(True, env="MLOPS_DIAGNOSIS",
                              description="the next trial treats what the last ones showed (their findings) before "
                                          "the strategy suggests; false: the strategy alone")
    image: str | None = setting(None, env="MLOPS_IMAGE", description="the trial image (default: by the framework)")
    budget: Budget = Field(default_factory=Budget)
    trial: TrialLimits = Field(default_factory=TrialLimits)
    mail: Mail = Field(default_factory=Mail)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    packages: list[str] = Field(default_factory=list, description="packages the script needs beyond the image's "
                                                                  "('none': not even the ones its imports need)")
    auto_packages: bool = Field(True, description="install from PyPI wheels the packages the script imports that "
                                                  "neither the image nor requirements.txt provides")
    args: list[str] = Field(default_factory=list, description="the script's command-line arguments")
    paths: dict[str, str] = Field(default_factory=dict, description="absolute path -> project folder, '/mycode: .'")
    datasets_cache: str | None = setting(None, env="MLOPS_DATASETS_CACHE",
                                         description="a folder of Keras datasets for agents without internet")
    workers: int = setting(1, env="MLOPS_WORKERS", flag="--workers", ge=0, le=64,
                           description="trials at a time on this machine, each in a worker process; 0: only "
                                       "workers that join with 'mlops worker' train")
    docker: Docker = Field(default_factory=Docker)
    optuna_storage: str | None = setting(None, env="MLOPS_OPTUNA_STORAGE",
                                         description="Optuna's storage when workers share a study: a database URL "
                                                     "(postgresql://...)")

    data: DataConfig | None = Field(None, description="the project's data: files or a collection, and the label")
    framework: Literal["sklearn", "keras"] | None = Field(None, description="the model of a data project")
    positive: str | None = Field(None, description="the positive class (default: the rarest one)")
    cost: Cost = Field(default_factory=Cost)
    gate: dict[str, GateMetric] = Field(default_factory=dict, description="metric -> tolerance against production")
    approval: Literal["auto", "manual"] = Field("auto", description="auto: a blessed model goes to production")
    confirm: int = Field(0, ge=0, le=20, description="script projects: re-run the winner with this many seeds")
    breaking: bool = Field(False, description="this version takes other inputs than production's, on purpose: the "
                                              "gate lets it through to 'candidate' for a person's approval")

    @field_validator("name")
    @classmethod
    def _slug_name(cls, v: str | None) -> str | None:
        from core.names import name_problem

        if v is not None and name_problem(v):
            raise ValueError(name_problem(v))
        return v

    @field_validator("optuna_storage")
    @classmethod
    def _storage_url(cls, v: str | None) -> str | None:
        if v is not None and "://" not in v:
            raise ValueError(f"'{v}' is not a database URL; use e.g. postgresql://user:password@host/optuna")
        return v

    @field_validator("positive", mode="before")
    @classmethod
    def _positive_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v

    @field_validator("gate")
    @classmethod
    def _gate_metrics(cls, v: dict[str, GateMetric]) -> dict[str, GateMetric]:
        for name in v:
            if name not in METRICS:
                raise ValueError(f"unknown metric '{name}'; use one of {', '.join(METRICS)}")
        return v

    @field_validator("args", mode="before")
    @classmethod
    def _split_args(cls, v: Any) -> Any:
        import shlex

        return shlex.split(v) if isinstance(v, str) else v

    @field_validator("packages", mode="before")
    @classmethod
    def _split_packages(cls, v: Any) -> Any:
        return v.split() if isinstance(v, str) else v

    @model_validator(mode="before")
    @classmethod
    def _no_packages(cls, data: Any) -> Any:
        """``packages: none``: nothing beyond the image (no package for the script's imports either)."""
        if isinstance(data, dict) and isinstance(data.get("packages"), str) \
                and data["packages"].strip().lower() == "none":
            if data.get("auto_packages") is True:
                raise ValueError("packages: none and auto_packages: true contradict each other; keep one")
            data = {**data, "packages": [], "auto_packages": False}
        return data

    @field_validator("paths")
    @classmethod
    def _mapped_paths(cls, v: dict[str, str]) -> dict[str, str]:
        for prefix, folder in v.items():
            if not prefix.startswith("/") or prefix.rstrip("/") in ("", "/tmp", "/run", "/project", "/opt"):
                raise ValueError(f"'{prefix}' must be an absolute path the script uses, like /mycode "
                                 "(not /, /tmp, /run, /project or /opt)")
            if folder.startswith("/") or ".." in Path(folder).parts:
                raise ValueError(f"'{folder}' (for {prefix}) must be a folder inside the project, like '.' or 'data'")
        return v

    #: Whether the metric was chosen by the task (no ``metric:`` given); set by ``for_task``.
    _metric_is_default: bool = PrivateAttr(False)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str | None) -> str | None:
        if v is not None and v not in METRICS:
            raise ValueError(f"unknown metric '{v}'; use one of {', '.join(METRICS)}")
        return v

    @field_validator("direction")
    @classmethod
    def _direction_of_the_metric(cls, v: str | None, info: Any) -> str | None:
        metric = info.data.get("metric")
        problem = direction_problem(metric, v) if v is not None and metric is not None else None
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _reachable_target(self) -> ProjectConfig:
        if self.target is not None:
            problem = target_problem(self.metric or "accuracy", self.target)
            if problem:
                raise ValueError(problem)
        return self

    @property
    def goal(self) -> Literal["maximize", "minimize"]:
        """The direction in which the metric improves."""
        return self.direction or METRICS[self.metric or "accuracy"]

    @property
    def metric_is_default(self) -> bool:
        """Whether the metric follows the task because ``mlops.yaml`` named none."""
        return self._metric_is_default

    def for_task(self, task: str | None) -> ProjectConfig:
        """This configuration with the metric (and its target) settled for the task the code performs:
        accuracy for a classifier, r2 for a regressor, unless ``metric:`` says otherwise.

        Raises:
            ConfigError: The metric has no default target (an error metric) and none is given, or ``direction:``
                contradicts the task's default metric.
        """
        metric = self.metric or default_metric(task)
        problem = direction_problem(metric, self.direction, default=True) if self.direction else None
        if problem:
            raise ConfigError(CONFIG_FILE, "direction", problem)
        if task == "regression":
            wrong = sorted({metric, *self.gate} & CLASSIFICATION_ONLY)
            if wrong:
                raise ConfigError(CONFIG_FILE, "metric" if metric in wrong else "gate",
                                  f"{wrong[0]} is a classifier's metric, but this model is a regressor")
        target = self.target
        if target is None:
            if metric not in BOUNDED:
                raise ConfigError(CONFIG_FILE, "target", f"metric {metric} needs a target (an error to get under, "
                                                         "e.g. 'target: 0.5')")
            target = DEFAULT_TARGET
        resolved = self.model_copy(update={"metric": metric, "target": target})
        resolved._metric_is_default = self.metric is None
        return resolved

    def run_settings(self) -> dict[str, Any]:
        """What decides a run's result (stored with the run, part of its fingerprint): everything but where and
        how many workers run (``WHERE_KEYS``, which may hold a database password)."""
        return self.model_dump(exclude=set(WHERE_KEYS))

    def reached(self, value: float | None) -> bool:
        """Whether ``value`` meets the target."""
        if value is None or self.target is None:
            return False
        return value >= self.target if self.goal == "maximize" else value <= self.target


@dataclass(frozen=True)
class ProjectSetting:
    """A field of ``mlops.yaml`` declared with ``setting``: its variable, and its flag when it has one.

    Attributes:
        path: The dotted field (``budget.max_trials``).
        env: The variable that overrides the file (``MLOPS_MAX_TRIALS``).
        flag: The command-line flag that overrides both (``--max-trials``), or ``None``.
        field: The pydantic field: type, default, bounds, description.
    """

    path: str
    env: str
    flag: str | None
    field: FieldInfo

    @property
    def default(self) -> Any:
        """The value when neither the file, the variable nor the flag gives one."""
        return self.field.get_default(call_default_factory=True)

    @property
    def description(self) -> str:
        """What it is for."""
        return self.field.description or ""


def project_settings(model: type[BaseModel] | None = None, prefix: str = "") -> Iterator[ProjectSetting]:
    """Every field of ``mlops.yaml`` declared with ``setting``, in the order of the file's fields."""
    for name, field in (model or ProjectConfig).model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if "env" in extra:
            yield ProjectSetting(prefix + name, str(extra["env"]), extra.get("flag"), field)  # type: ignore[arg-type]
        elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from project_settings(field.annotation, f"{prefix}{name}.")


#: Environment variables that override fields (dotted path -> variable), from the declarations.
ENV_OVERRIDES = {s.path: s.env for s in project_settings()}

#: Settings of where and how many workers run, not of what a run trains: they may differ between the machines
#: that share a run, so they are left out of the run's fingerprint and of its stored configuration.
WHERE_KEYS = ("workers", "docker", "optuna_storage")


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        data = data.setdefault(p, {}) if isinstance(data.get(p, {}), dict) else data
    data[leaf] = value


def _first_error(e: ValidationError, source: str) -> ConfigError:
    err = e.errors()[0]
    field = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        known = _known_keys(err["loc"])
        return ConfigError(source, field, f"unknown key; known keys here: {', '.join(known)}")
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    bad = f" (got {got!r})" if got is not None and not isinstance(got, dict) and field else ""
    return ConfigError(source, field, f"{msg}{bad}")


def _known_keys(loc: tuple) -> list[str]:
    model: type[BaseModel] = ProjectConfig
    for part in loc[:-1]:
        annotation = model.model_fields[str(part)].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return list(model.model_fields)


def read_file(project: Path) -> tuple[dict[str, Any], str]:
    """The mapping ``mlops.yaml`` holds (empty without one, or for a single script) and its path for messages.

    Raises:
        ConfigError: The file is not YAML, or not a mapping.
    """
    path = project / CONFIG_FILE if project.is_dir() else None
    data: dict[str, Any] = {}
    source = str(path) if path else CONFIG_FILE
    if path and path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            raise ConfigError(source, "", f"{where}not valid YAML ({getattr(e, 'problem', e)})") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(source, "", "must be a mapping of keys to values, e.g. 'target: 0.9'")
        data = loaded or {}
    return data, source


def load_config(project: Path, overrides: dict[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> ProjectConfig:
    """Load ``mlops.yaml`` from a project folder (optional), apply env and CLI overrides, validate.

    Args:
        project: The project folder, or a single script (then no ``mlops.yaml`` is read).
        overrides: Dotted field -> value from the command line; ``None`` values are ignored.
        environ: The environment to read ``MLOPS_*`` from (default: this process's).

    Raises:
        ConfigError: The file is not YAML, or a key or value is invalid; the message names it.
    """
    environ = environment() if environ is None else environ
    data, source = read_file(project)
    try:
        ProjectConfig.model_validate(data)
    except ValidationError as e:
        raise _first_error(e, source) from e
    for dotted, var in ENV_OVERRIDES.items():
        if environ.get(var):
            _set_dotted(data, dotted, environ[var])
            try:
                ProjectConfig.model_validate(data)
            except ValidationError as e:
                raise _first_error(e, var) from e
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as e:
        raise _first_error(e, "command line") from e
