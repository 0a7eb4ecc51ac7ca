"""Where trials run: local virtualenvs, or containers on a Docker engine, behind one interface."""

from __future__ import annotations

from mlops.errors import BackendError
from training.backends._base import Backend
from training.backends._docker import DockerBackend
from training.backends._hosts import DockerHost, connect_hosts, pick_host
from training.backends._local import LocalBackend, die_with_parent
from training.backends._supervise import EpochWatcher
from training.backends._trial import OutputSink, TrialProcess, TrialResult, TrialSpec, trial_environment

__all__ = ["Backend", "DockerBackend", "DockerHost", "EpochWatcher", "LocalBackend", "OutputSink", "TrialProcess",
           "TrialResult", "TrialSpec", "connect_hosts", "die_with_parent", "get_backend", "pick_host",
           "trial_environment"]


def get_backend(name: str = "auto", hosts: list[str] | None = None) -> tuple[Backend, str]:
    """Return a backend and a sentence saying why it was chosen.

    Args:
        name: ``local``, ``docker`` or ``auto`` (Docker when an engine answers, else local).
        hosts: The Docker engines of ``docker.hosts`` (default: the local one).

    Raises:
        BackendError: ``docker`` was asked for (or hosts were listed) and no engine answers.
    """
    if name == "local":
        return LocalBackend(), "local virtualenvs (--backend local)"
    if hosts:
        answering, problems = connect_hosts(hosts)
        if not answering:
            if name == "auto":
                return LocalBackend(), f"local virtualenvs, because no Docker host answers ({'; '.join(problems)})"
            raise BackendError(f"docker.hosts: no Docker host answers ({'; '.join(problems)}); start the engines "
                               "or fix the list", where="docker.hosts")
        down = f"; not answering, left out: {'; '.join(problems)}" if problems else ""
        return DockerBackend(hosts=answering), f"Docker on {', '.join(h.url for h in answering)}{down}"
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
