"""Where trials run: local virtualenvs, or containers on a Docker engine, behind one interface."""

from __future__ import annotations

from core.errors import BackendError
from training.backends import _sandbox
from training.backends._base import Backend
from training.backends._docker import DockerBackend
from training.backends._hosts import DockerHost, connect_hosts, pick_host
from training.backends._local import LocalBackend, die_with_parent
from training.backends._supervise import EpochWatcher
from training.backends._trial import OutputSink, TrialProcess, TrialResult, TrialSpec, trial_environment

__all__ = ["Backend", "DockerBackend", "DockerHost", "EpochWatcher", "LocalBackend", "OutputSink", "TrialProcess",
           "TrialResult", "TrialSpec", "connect_hosts", "die_with_parent", "get_backend", "pick_host",
           "refuse_unsandboxed", "trial_environment"]


def get_backend(name: str = "auto", hosts: list[str] | None = None, from_hook: bool = False) -> tuple[Backend, str]:
    """Return a backend and a sentence saying why it was chosen.

    Args:
        name: ``local``, ``docker`` or ``auto`` (Docker when an engine answers, else local).
        hosts: The Docker engines of ``docker.hosts`` (default: the local one).
        from_hook: The git hook runs a push (as Jenkins does when its variables are set).

    Raises:
        BackendError: ``docker`` was asked for (or hosts were listed) and no engine answers; or ``auto`` would
            run a push from the git hook or Jenkins without any sandbox (neither Docker nor bubblewrap) and
            ``MLOPS_ALLOW_UNSANDBOXED=1`` is not set.
    """
    backend, why = _choose(name, hosts)
    if name == "auto":
        refuse_unsandboxed(backend, from_hook)
    return backend, why


def refuse_unsandboxed(backend: Backend, from_hook: bool = False) -> None:
    """Refuse a local backend without bubblewrap for a push run by the git hook or Jenkins, unless the operator's
    environment says ``MLOPS_ALLOW_UNSANDBOXED=1`` (``auto`` chose it: nobody asked for it).

    Raises:
        BackendError: It would run pushed code as this user, with the host in reach.
    """
    if not isinstance(backend, LocalBackend) or backend.sandboxed:
        return
    pusher = _sandbox.pushed(from_hook)
    if pusher and not _sandbox.allowed_unsandboxed():
        raise BackendError(
            f"--backend auto: refusing to run a push from {pusher} without a sandbox: no Docker engine answers "
            f"and {_sandbox.unavailable_reason()}; install bubblewrap or start Docker, or set "
            f"{_sandbox.ALLOW_UNSANDBOXED}=1 in the operator's environment to run pushed code as this user")


def _choose(name: str, hosts: list[str] | None) -> tuple[Backend, str]:
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
    from core.infra.docker_engine import docker_client

    client, reason = docker_client()
    if name == "docker":
        if client is None:
            raise BackendError(f"--backend docker: no Docker engine answers ({reason}); start dockerd "
                               "or use --backend local")
        return DockerBackend(client), "Docker (--backend docker)"
    if client is not None:
        return DockerBackend(client), "Docker, because an engine answers (--backend auto)"
    return LocalBackend(), f"local virtualenvs, because no Docker engine answers ({reason})"
