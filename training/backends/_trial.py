"""A trial as backends see it: what to run (``TrialSpec``), the running process (``TrialProcess``) and what it
produced (``TrialResult``)."""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.infra.requirements import Packages
from core.settings import TRIAL_CPUS

#: Receives each line the trial prints, as it comes.
OutputSink = Callable[[str], None]


def trial_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment variables every trial process gets (quiet TensorFlow, no display, unbuffered)."""
    env = {
        "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra or {})
    return env


def thread_environment(cpus: float) -> dict[str, str]:
    """Thread pools sized to the CPUs a trial may use (a container's limit): OpenMP/BLAS read these variables,
    the harness sizes TensorFlow's pools from ``MLOPS_CPUS``. Without them they size themselves to the host's
    cores and fight over the quota."""
    n = str(max(1, round(cpus)))
    return {TRIAL_CPUS.env: n, "OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n,
            "NUMEXPR_NUM_THREADS": n, "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": "1"}


@dataclass
class TrialSpec:
    """One trial: run ``entry`` of ``project`` (or a rewritten ``script``) with the harness."""

    project: Path
    entry: str
    run_dir: Path
    env: str  # "ml" | "dl"
    metric: str = "accuracy"
    #: The metric is the task's default (no ``metric:`` in mlops.yaml): a lone printed number may count for it.
    metric_is_default: bool = False
    seed: int = 42
    script: Path | None = None
    time_limit_s: int = 1800
    cpus: float = 2.0
    memory: str = "4g"
    network: bool = False
    image: str | None = None
    #: How often a killed trial (process or container) is started again; it resumes from its checkpoint.
    restarts: int = 2
    #: Called with (epoch, logs) as the harness streams them; returning False stops the trial (pruning).
    on_epoch: Callable[[int, dict[str, float]], bool] | None = None
    #: Called every few seconds while the trial runs (the worker's heartbeat); a returned sentence stops the trial
    #: (status ``stopped``, with that sentence as its error): the run ended meanwhile.
    on_alive: Callable[[], str | None] | None = None
    #: Labels of the trial's container (its run and number), so that another worker can stop an orphan.
    labels: dict[str, str] = field(default_factory=dict)
    #: The project's own packages (its environment is the image's plus these).
    packages: Packages = field(default_factory=Packages)
    #: The script's command-line arguments.
    args: list[str] = field(default_factory=list)
    #: Absolute path prefix the script uses -> folder of the project it stands for (``/mycode`` -> ``.``).
    paths: dict[str, str] = field(default_factory=dict)
    #: A folder of datasets Keras would download (``keras.datasets.*.load_data()``), offered read-only.
    datasets_cache: Path | None = None
    #: The Keras the script was written for (2: it runs on tf-keras with shims); ``None``: not Keras.
    keras_api: int | None = None
    #: The repository the project is a folder of (a git checkout; ``project`` is inside it), or ``None``.
    #: When set, the trial sees this whole folder read-only instead of the project folder alone, its working
    #: directory at the project's place in it (``project.relative_to(tree)``), so that ``../Dataset/iris.csv``
    #: resolves as in the repository; writes still go to the trial's work folder. A sandbox must expose
    #: ``tree`` (read-only) where it would expose ``project``. Never ``/`` or the home folder
    #: (``training.resolve.repository_tree`` refuses those).
    tree: Path | None = None

    def harness_args(self, project: str, run_dir: str, script: str | None, tree: str | None = None) -> list[str]:
        """Arguments of ``python -m training.harness`` with paths as the trial process sees them (``tree``: where
        it sees ``self.tree``; ``project`` is then inside it)."""
        args = ["-m", "training.harness", "--project", project, "--entry", self.entry,
                "--run-dir", run_dir, "--metric", self.metric, "--seed", str(self.seed)]
        if tree:
            args += ["--tree", tree]
        if script:
            args += ["--script", script]
        if self.metric_is_default:
            args.append("--metric-is-default")
        args += [f"--arg={a}" for a in self.args]
        if self.keras_api:
            args.append(f"--keras-api={self.keras_api}")
        return args

    def project_in_tree(self) -> str:
        """The project's path relative to ``tree`` (``Chap4``), ``.`` without a tree."""
        return self.project.relative_to(self.tree).as_posix() if self.tree else "."


@dataclass
class TrialResult:
    """What a trial produced: its metrics, or a clear error."""

    status: str  # "ok" | "failed" | "pruned" | "stopped"
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    #: Metric -> how its value was read when not as printed (``read 93.5 as 93.5% = 0.935``).
    notes: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None
    exit_code: int | None = None
    log_tail: str = ""
    duration_s: float = 0.0
    model: dict[str, Any] | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    shims: list[str] = field(default_factory=list)
    where: str = ""
    #: The machine or Docker engine it ran on (``tcp://gpu-box:2376``).
    host: str = ""
    restarts: int = 0
    resumed_from_epoch: list[int] = field(default_factory=list)
    #: What the harness saw of the data and the model (``training.harness.facts``).
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def timed_out(cls, spec: TrialSpec, log_tail: str, duration_s: float, where: str, restarts: int = 0,
                  exit_code: int | None = None) -> TrialResult:
        """A trial stopped at its time limit."""
        return cls(status="failed", error_kind="timeout", exit_code=exit_code, where=where, restarts=restarts,
                   error=f"the trial ran past its time limit of {spec.time_limit_s}s and was stopped "
                         "(raise trial.time_limit_s in mlops.yaml)",
                   log_tail=log_tail, duration_s=duration_s)

    @classmethod
    def from_run_dir(cls, run_dir: Path, exit_code: int, log_tail: str, duration_s: float,
                     where: str) -> TrialResult:
        """Read the harness's ``metrics.json``; a missing one becomes an error naming the exit code. The exit
        code kept is the script's own when it called ``sys.exit(n)`` (also when its metric was kept)."""
        path = run_dir / "metrics.json"
        if not path.is_file():
            return cls(status="failed", exit_code=exit_code, log_tail=log_tail, duration_s=duration_s,
                       error_kind="crashed", where=where,
                       error=f"the trial process exited with code {exit_code} before writing metrics.json")
        data = json.loads(path.read_text(encoding="utf-8"))
        err = data.get("error") or {}
        ok = data.get("status") == "ok" and exit_code == 0
        return cls(
            status="ok" if ok else "failed", value=data.get("value"), metrics=data.get("metrics", {}),
            sources=data.get("sources", {}), notes=data.get("notes", {}),
            error=None if ok else err.get("message") or f"exit code {exit_code}",
            error_kind=None if ok else err.get("kind", "crashed"), exit_code=data.get("exit_code", exit_code),
            log_tail=log_tail, duration_s=duration_s, model=data.get("model"),
            history=data.get("history", {}), warnings=data.get("warnings", []), where=where,
            shims=(data.get("keras") or {}).get("shims", []),
            resumed_from_epoch=data.get("resumed_from_epoch", []), facts=data.get("facts") or {},
        )


class TrialProcess(abc.ABC):
    """One running trial (a process or a container), as the supervision loop drives it."""

    #: Where it runs, for messages (``local dl-...``, ``docker mlops-ml:... (abc123)``).
    where: str = ""
    #: The machine or Docker engine it runs on.
    host: str = ""

    @abc.abstractmethod
    def start(self) -> None:
        """Start it (again, after a kill: the harness resumes from the trial's checkpoint)."""

    @abc.abstractmethod
    def lines(self) -> Any:
        """Iterate over the lines it prints in the current attempt, until it ends."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> int | None:
        """Its exit code, or ``None`` when ``timeout`` seconds passed first."""

    @abc.abstractmethod
    def kill(self) -> None:
        """Stop it now (time-out, pruning, interruption)."""

    def killed_from_outside(self, exit_code: int) -> bool:
        """Whether it was killed by something else than itself (worth a restart)."""
        return False

    def failure(self, exit_code: int, spec: TrialSpec) -> tuple[str, str] | None:
        """``(error_kind, error)`` when the way it ended explains the failure (e.g. out of memory)."""
        return None

    def remove(self) -> None:  # noqa: B027 - nothing to clean up by default
        """Release what it used."""
