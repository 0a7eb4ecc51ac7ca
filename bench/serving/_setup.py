"""What the serving benchmark's parts share: a served model, how long and how often to load it, a clean
environment for the servers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Served:
    """A model folder as the server loads it, the serving virtualenv's Python, and the requests to send."""

    name: str  # "wine random forest"
    label: str  # the name and what the model is
    python: Path
    folder: Path
    body: dict[str, Any]  # ours: {"rows": [...]}, one row
    rows: list[Any]
    mlflow_body: dict[str, Any]  # the same row as MLflow's /invocations takes it


@dataclass(frozen=True)
class Load:
    """Seconds of each measurement, interleaved rounds (the median round is shown), the scratch folder."""

    seconds: float
    rounds: int
    tmp: Path


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a server or a program in a virtualenv: nothing of ours but what it is given."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", **extra}


def server_env(model: Served, **extra: str) -> dict[str, str]:
    """The environment of ``python -m serving`` (``monitor/`` and the source root on the path) serving ``model``."""
    from monitor.units import serving_path

    return clean_env(PYTHONPATH=serving_path(), MLOPS_MODEL_DIR=str(model.folder), **extra)
