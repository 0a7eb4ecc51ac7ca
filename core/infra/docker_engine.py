"""The Docker engine: connecting to it (local or remote), the base image, and its errors in our words."""

from __future__ import annotations

from typing import Any

from core import settings
from core.errors import BackendError

DEFAULT_BASE_IMAGE = settings.BASE_IMAGE.default


def base_image() -> str:
    """The base image passed as ``BASE_IMAGE``: ``$MLOPS_BASE_IMAGE`` or ``python:3.11-slim``."""
    return settings.BASE_IMAGE.get()


def docker_client(timeout: int = 5, base_url: str | None = None) -> tuple[Any | None, str]:
    """A connected Docker client and ``""``, or ``None`` and the reason no engine answers.

    Args:
        timeout: Seconds to wait for the engine's answer.
        base_url: The engine (``unix://...``, ``tcp://host:2376``); default from the environment
            (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``, as the Docker CLI reads them).
    """
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        return None, "the docker Python package is not installed"
    where = base_url or settings.DOCKER_HOST.get() or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient(base_url=base_url, timeout=timeout) if base_url else \
            docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as e:
        return None, f"nothing answers at {where}: {type(e).__name__}"
    client.api.timeout = 600
    return client, ""


def serving_client(trained_on: str = "") -> tuple[Any | None, str]:
    """Where a run's model is served: a Docker client, or ``None`` and why it is a local process.

    A run that trained in local virtualenvs (``trained_on == "local"``: no engine, or one that could not build its
    image) is served by a local process too; the engine that could not build the trial image cannot build the
    serving one.
    """
    if trained_on == "local":
        return None, "the run trained in local virtualenvs"
    return docker_client()


def translate_docker_error(what: str, error: BaseException, where: str = "") -> BackendError:
    """One ``BackendError`` for a Docker SDK error (raise it ``from`` the original)."""
    explanation = getattr(error, "explanation", None) or str(error)
    return BackendError(f"{what}: {explanation}", where=where)
