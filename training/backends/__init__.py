"""Where trials run: local virtualenvs, or containers on a Docker engine."""

from __future__ import annotations

from training.backends._base import Backend, TrialResult, TrialSpec, image_kind
from training.backends._local import LocalBackend

__all__ = ["Backend", "LocalBackend", "TrialResult", "TrialSpec", "get_backend", "image_kind"]


def get_backend(name: str = "auto") -> tuple[Backend, str]:
    """Return a backend and a sentence saying why it was chosen.

    Args:
        name: ``local``, ``docker`` or ``auto`` (Docker when an engine answers, else local).
    """
    if name == "local":
        return LocalBackend(), "local virtualenvs (--backend local)"
    from training.backends._docker import DockerBackend, docker_client

    client, reason = docker_client()
    if name == "docker":
        if client is None:
            from mlops.errors import MlopsError

            raise MlopsError(f"--backend docker: no Docker engine answers ({reason}); start dockerd "
                             "or use --backend local")
        return DockerBackend(client), "Docker (--backend docker)"
    if client is not None:
        return DockerBackend(client), "Docker, because an engine answers (--backend auto)"
    return LocalBackend(), f"local virtualenvs, because no Docker engine answers ({reason})"
