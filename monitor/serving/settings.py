"""What a serving process is told through its environment, read once when the app is created.

The variables are declared in ``core/settings.py`` (standard library only), the one module of the core this
package imports: the serving image is built with it beside the package.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import (
    CAPTURE,
    CAPTURE_DIR,
    CAPTURE_MAX_ROWS,
    CAPTURE_RETENTION,
    MODEL_DIR,
    MONGODB_URI,
    MULTIPROC_DIR,
    PREDICT_MAX_MB,
    PREDICT_MAX_ROWS,
    SERVE_READY_DIR,
    SERVE_SUPERVISOR,
    SERVE_WORKERS,
    UNIT,
    environment,
)
from core.settings import FEEDBACK_TOKEN as TOKEN

#: The pid of the ``python -m serving`` supervisor, set for its workers only.
SUPERVISOR_ENV = SERVE_SUPERVISOR.env
#: Where each worker leaves a file (its pid) once it has loaded the model, and how many workers there are.
READY_DIR_ENV = SERVE_READY_DIR.env
WORKERS_ENV = SERVE_WORKERS.env
#: prometheus-client's own switch to multi-process mode (one value file per worker, summed on scrape).
MULTIPROC_ENV = MULTIPROC_DIR.env
#: Prediction capture: where predictions go (without MongoDB), and the switch that turns it off.
CAPTURE_DIR_ENV = CAPTURE_DIR.env
CAPTURE_ENV = CAPTURE.env
#: What a serving unit is started with from the environment of the command that starts it (``mlops deploy``),
#: kept with the unit so that a restart or a rollback starts it the same way.
UNIT_ENVS = tuple(s.env for s in UNIT)


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
    retention: int = CAPTURE_RETENTION.default
    feedback_token: str | None = field(default=None, repr=False)
    max_body: int = PREDICT_MAX_MB.default * 1_000_000
    max_rows: int = PREDICT_MAX_ROWS.default
    capture_rows: int = CAPTURE_MAX_ROWS.default

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from ``MLOPS_MODEL_DIR`` and the variables ``python -m serving`` sets for its workers.

        Raises:
            ValueError: A variable has a value its setting cannot read (the message names it).
        """
        ready_dir = SERVE_READY_DIR.get()
        return cls(model_dir=Path(MODEL_DIR.get()), supervisor_pid=SERVE_SUPERVISOR.get(),
                   multiprocess_dir=_path(MULTIPROC_DIR.get()), ready_dir=_path(ready_dir),
                   workers=worker_count() if ready_dir else 1, mongodb_uri=MONGODB_URI.get(),
                   capture_dir=_path(CAPTURE_DIR.get()), capture=CAPTURE.get(), retention=CAPTURE_RETENTION.get(),
                   feedback_token=TOKEN.get(), max_body=PREDICT_MAX_MB.get() * 1_000_000,
                   max_rows=PREDICT_MAX_ROWS.get(), capture_rows=CAPTURE_MAX_ROWS.get())


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def worker_count() -> int:
    """Worker processes for this machine or container: ``MLOPS_SERVE_WORKERS``, else the usable CPUs.

    Usable CPUs are the ones this process may run on, capped by a cgroup v2 CPU quota (``docker run --cpus``).

    Raises:
        ValueError: ``MLOPS_SERVE_WORKERS`` is not a positive whole number.
    """
    return SERVE_WORKERS.get() or usable_cpus()


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
    return {name: value for name, value in wanted.items() if not environment().get(name)}


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
