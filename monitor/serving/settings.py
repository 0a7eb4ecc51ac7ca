"""What a serving process is told through its environment, read once when the app is created."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .capture import DEFAULT_RETENTION

#: The pid of the ``python -m serving`` supervisor, set for its workers only.
SUPERVISOR_ENV = "MLOPS_SERVE_SUPERVISOR"
#: Where each worker leaves a file (its pid) once it has loaded the model, and how many workers there are.
READY_DIR_ENV = "MLOPS_SERVE_READY_DIR"
WORKERS_ENV = "MLOPS_SERVE_WORKERS"
#: prometheus-client's own switch to multi-process mode (one value file per worker, summed on scrape).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Prediction capture and feedback (see ``capture.py``): where predictions go, how many are kept, who may label.
CAPTURE_DIR_ENV = "MLOPS_CAPTURE_DIR"
CAPTURE_ENV = "MLOPS_CAPTURE"
RETENTION_ENV = "MLOPS_CAPTURE_RETENTION"
TOKEN_ENV = "MLOPS_FEEDBACK_TOKEN"
#: What one ``POST /predict`` may carry: its body in MB (413 beyond), its rows (413 beyond), and how many of its
#: rows are captured (the first ones; one client's large requests cannot push everyone else's out of retention).
MAX_BODY_ENV = "MLOPS_PREDICT_MAX_MB"
MAX_ROWS_ENV = "MLOPS_PREDICT_MAX_ROWS"
CAPTURE_ROWS_ENV = "MLOPS_CAPTURE_MAX_ROWS"
DEFAULT_MAX_BODY_MB = 10
DEFAULT_MAX_ROWS = 10_000
DEFAULT_CAPTURE_ROWS = 1000
#: What a serving unit is started with from the environment of the command that starts it (``mlops deploy``),
#: kept with the unit so that a restart or a rollback starts it the same way.
UNIT_ENVS = (TOKEN_ENV, CAPTURE_ENV, RETENTION_ENV, MAX_BODY_ENV, MAX_ROWS_ENV, CAPTURE_ROWS_ENV)


@dataclass(frozen=True)
class Settings:
    """Where the model is and how this process is supervised.

    Attributes:
        model_dir: The pushed model version (``model.json`` plus one ``model.*`` file).
        supervisor_pid: The ``python -m serving`` process that started this worker (workers only).
        multiprocess_dir: prometheus-client's value files, shared by all workers (``None``: one process).
        ready_dir: Where workers say they have loaded the model (``None``: one process).
        workers: How many workers serve.
        mongodb_uri: Capture into the run store's MongoDB (``MONGODB_URI``).
        capture_dir: Else capture into a SQLite spool in this folder (``MLOPS_CAPTURE_DIR``).
        capture: ``False`` when ``MLOPS_CAPTURE=off``: predictions are not kept even with a store.
        retention: Predictions kept per project (``MLOPS_CAPTURE_RETENTION``).
        feedback_token: The token that ``POST /feedback`` and ``/review`` ask for (``MLOPS_FEEDBACK_TOKEN``);
            ``None``: feedback is refused.
        max_body: Largest ``/predict`` body in bytes (``MLOPS_PREDICT_MAX_MB``, in MB).
        max_rows: Most rows one ``/predict`` may carry (``MLOPS_PREDICT_MAX_ROWS``).
        capture_rows: Rows of one ``/predict`` that are captured, the first ones (``MLOPS_CAPTURE_MAX_ROWS``).
    """

    model_dir: Path = Path("/model")
    supervisor_pid: int | None = None
    multiprocess_dir: Path | None = None
    ready_dir: Path | None = None
    workers: int = 1
    mongodb_uri: str | None = field(default=None, repr=False)
    capture_dir: Path | None = None
    capture: bool = True
    retention: int = DEFAULT_RETENTION
    feedback_token: str | None = field(default=None, repr=False)
    max_body: int = DEFAULT_MAX_BODY_MB * 1_000_000
    max_rows: int = DEFAULT_MAX_ROWS
    capture_rows: int = DEFAULT_CAPTURE_ROWS

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from ``MLOPS_MODEL_DIR`` and the variables ``python -m serving`` sets for its workers."""
        env = os.environ
        return cls(model_dir=Path(env.get("MLOPS_MODEL_DIR", "/model")),
                   supervisor_pid=int(env[SUPERVISOR_ENV]) if env.get(SUPERVISOR_ENV) else None,
                   multiprocess_dir=Path(env[MULTIPROC_ENV]) if env.get(MULTIPROC_ENV) else None,
                   ready_dir=Path(env[READY_DIR_ENV]) if env.get(READY_DIR_ENV) else None,
                   workers=worker_count() if env.get(READY_DIR_ENV) else 1,
                   mongodb_uri=env.get("MONGODB_URI") or None,
                   capture_dir=Path(env[CAPTURE_DIR_ENV]) if env.get(CAPTURE_DIR_ENV) else None,
                   capture=env.get(CAPTURE_ENV, "on").strip().lower() not in ("off", "0", "false", "no"),
                   retention=_positive(RETENTION_ENV, env.get(RETENTION_ENV), DEFAULT_RETENTION),
                   feedback_token=env.get(TOKEN_ENV) or None,
                   max_body=_positive(MAX_BODY_ENV, env.get(MAX_BODY_ENV), DEFAULT_MAX_BODY_MB) * 1_000_000,
                   max_rows=_positive(MAX_ROWS_ENV, env.get(MAX_ROWS_ENV), DEFAULT_MAX_ROWS),
                   capture_rows=_positive(CAPTURE_ROWS_ENV, env.get(CAPTURE_ROWS_ENV), DEFAULT_CAPTURE_ROWS))


def _positive(name: str, value: str | None, default: int) -> int:
    """A whole number of at least 1 from the environment.

    Raises:
        ValueError: It is something else.
    """
    if value is None or not value.strip():
        return default
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, but got {value!r}")
    return int(value)


def worker_count() -> int:
    """Worker processes for this machine or container: ``MLOPS_SERVE_WORKERS``, else the usable CPUs.

    Usable CPUs are the ones this process may run on, capped by a cgroup v2 CPU quota (``docker run --cpus``).

    Raises:
        ValueError: ``MLOPS_SERVE_WORKERS`` is not a positive whole number.
    """
    wanted = os.environ.get(WORKERS_ENV, "").strip()
    if wanted:
        if not wanted.isdigit() or int(wanted) < 1:
            raise ValueError(f"MLOPS_SERVE_WORKERS must be a whole number of at least 1, but got {wanted!r}")
        return int(wanted)
    return usable_cpus()


#: What sizes the thread pools of OpenMP, the BLAS libraries, numexpr and TensorFlow's kernels.
THREAD_ENVS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "TF_NUM_INTRAOP_THREADS")


def thread_environment(workers: int) -> dict[str, str]:
    """Each worker's thread pools sized to its share of the usable CPUs (at least 1), and one TensorFlow
    inter-op thread, for the variables that are not set already.

    Without them every worker sizes its pools to all the cores: with a worker per CPU the pools of the
    workers outnumber the CPUs and wake each other on every request.
    """
    share = str(max(1, usable_cpus() // workers))
    wanted = {**dict.fromkeys(THREAD_ENVS, share), "TF_NUM_INTEROP_THREADS": "1"}
    return {name: value for name, value in wanted.items() if not os.environ.get(name)}


def usable_cpus() -> int:
    """The CPUs this process may run on, capped by a cgroup v2 CPU quota (``docker run --cpus``)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cpus)
