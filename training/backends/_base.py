"""What every backend does: run one trial of the harness somewhere and report the result."""

from __future__ import annotations

import abc
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The folder that holds the ``training`` package; put on PYTHONPATH inside a trial.
SOURCE_ROOT = Path(__file__).resolve().parents[2]

#: Image kind -> requirements file (relative to SOURCE_ROOT).
REQUIREMENTS = {"ml": "requirements-ml.txt", "dl": "requirements-dl.txt"}


def image_kind(detected_kind: str) -> str:
    """``ml`` for scikit-learn projects, ``dl`` for Keras ones (``ann`` or ``cnn``)."""
    return "ml" if detected_kind == "ml" else "dl"


def requirements_file(kind: str) -> Path:
    """The requirements file of an image kind.

    Raises:
        FileNotFoundError: The tool was installed without its requirements files.
    """
    path = SOURCE_ROOT / REQUIREMENTS[kind]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; install mlops from its source tree (pip install -e .)")
    return path


def content_hash(*paths: Path, extra: str = "") -> str:
    """A short hash of files' contents (and an extra string): the cache key of venvs and images."""
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


@dataclass
class TrialSpec:
    """One trial: run ``entry`` of ``project`` (or a rewritten ``script``) with the harness."""

    project: Path
    entry: str
    run_dir: Path
    kind: str  # "ml" | "dl"
    metric: str = "accuracy"
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

    def harness_args(self, project: str, run_dir: str, script: str | None) -> list[str]:
        """Arguments of ``python -m training.harness`` with paths as the trial process sees them."""
        args = ["-m", "training.harness", "--project", project, "--entry", self.entry,
                "--run-dir", run_dir, "--metric", self.metric, "--seed", str(self.seed)]
        if script:
            args += ["--script", script]
        return args


@dataclass
class TrialResult:
    """What a trial produced: its metrics, or a clear error."""

    status: str  # "ok" | "failed"
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None
    exit_code: int | None = None
    log_tail: str = ""
    duration_s: float = 0.0
    model: dict[str, Any] | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    where: str = ""
    restarts: int = 0
    resumed_from_epoch: list[int] = field(default_factory=list)

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
        """Read the harness's ``metrics.json``; a missing one becomes an error naming the exit code."""
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
            error=None if ok else err.get("message") or f"exit code {exit_code}",
            error_kind=None if ok else err.get("kind", "crashed"), exit_code=exit_code,
            log_tail=log_tail, duration_s=duration_s, model=data.get("model"),
            history=data.get("history", {}), warnings=data.get("warnings", []), where=where,
            resumed_from_epoch=data.get("resumed_from_epoch", []),
        )


class EpochWatcher(threading.Thread):
    """Follow a running trial's ``events.jsonl`` and stop the trial when ``on_epoch`` says so.

    Args:
        path: The harness's ``events.jsonl``.
        on_epoch: Receives (epoch, logs); returning False requests the stop.
        stop: Stops the trial (kills its process or container).
    """

    def __init__(self, path: Path, on_epoch: Callable[[int, dict[str, float]], bool],
                 stop: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.path, self.on_epoch, self.stop = path, on_epoch, stop
        self.stopped_at: int | None = None
        self._done = threading.Event()
        self._offset = 0

    def _poll(self) -> bool:
        if not self.path.exists():
            return True
        with self.path.open(encoding="utf-8") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        complete, _, _ = chunk.rpartition("\n")
        if not complete:
            return True
        self._offset += len(complete) + 1
        for line in complete.splitlines():
            event = json.loads(line)
            if not self.on_epoch(event["epoch"], event.get("logs", {})):
                self.stopped_at = event["epoch"]
                self.stop()
                return False
        return True

    def run(self) -> None:
        while not self._done.wait(0.3):
            if not self._poll():
                return

    def finish(self) -> None:
        """Stop following (the trial has ended)."""
        self._done.set()
        self.join(timeout=2)

    def pruned_result(self, log_tail: str, duration_s: float, where: str) -> TrialResult:
        """The result of a trial this watcher stopped."""
        return TrialResult(status="pruned", error_kind="pruned", where=where, log_tail=log_tail,
                           duration_s=duration_s,
                           error=f"pruned after epoch {(self.stopped_at or 0) + 1}: its validation metric was "
                                 "behind earlier trials at the same epoch")


#: Receives each line the trial prints, as it comes.
OutputSink = Callable[[str], None]


class Backend(abc.ABC):
    """Runs trials in a fresh process: a local virtualenv, or a container."""

    name: str = ""

    @abc.abstractmethod
    def prepare(self, kind: str, say: OutputSink) -> str:
        """Make the environment of an image kind ready (build or reuse); return a description of it."""

    @abc.abstractmethod
    def run_trial(self, spec: TrialSpec, output: OutputSink) -> TrialResult:
        """Run one trial to completion (or its time limit) and return its result."""
