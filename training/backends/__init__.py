"""Where trials run: local virtualenvs, or containers on a Docker engine, behind one interface."""

from __future__ import annotations

from mlops.errors import BackendError
from training.backends._base import Backend
from training.backends._docker import DockerBackend
from training.backends._local import LocalBackend
from training.backends._supervise import EpochWatcher
from training.backends._trial import OutputSink, TrialProcess, TrialResult, TrialSpec, trial_environment

__all__ = ["Backend", "DockerBackend", "EpochWatcher", "LocalBackend", "OutputSink", "TrialProcess", "TrialResult",
           "TrialSpec", "get_backend", "trial_environment"]


def get_backend(name: str = "auto") -> tuple[Backend, str]:
    """Return a backend and a sentence saying why it was chosen.

    Args:
        name: ``local``, ``docker`` or ``auto`` (Docker when an engine answers, else local).

    Raises:
        BackendError: ``docker`` was asked for and no engine answers.
    """
    if name == "local":
        return LocalBackend(), "local virtualenvs (--backend local)"
    from mlops.environments import docker_client

    client, reason = docker_client()
    if name == "docker":
        if client is None:
            raise BackendError(f"--backend docker: no Docker engine answers ({reason}); start dockerd "
                               "or use --backend local")
        return DockerBackend(client), "Docker (--backend docker)"
    if client is not None:
        return DockerBackend(client), "Docker, because an engine answers (--backend auto)"
    return LocalBackend(), f"local virtualenvs, because no Docker engine answers ({reason})"
