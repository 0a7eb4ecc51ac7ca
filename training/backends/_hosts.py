"""Docker hosts that trials run on, and where the next trial goes: the host with the most free CPUs.

Not a scheduler: each worker looks at the hosts when its trial starts (the CPUs each engine reports and the
mlops trial containers running there, with the CPUs they were given) and picks the freest. A host on another
machine (``tcp://``, ``ssh://``) shares no filesystem with the worker: its trials get their files as archives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import memory_bytes
from core.errors import BackendError
from core.infra.docker_engine import docker_client
from core.settings import DOCKER_HOST

#: The label every trial container carries (``mlops.role=training``) and the one with the CPUs it was given.
ROLE_LABEL = "mlops.role=training"
CPUS_LABEL = "mlops.cpus"


@dataclass
class DockerHost:
    """One Docker engine that runs trials.

    Args:
        url: The engine's URL (``unix:///var/run/docker.sock``, ``tcp://gpu-box:2376``).
        client: A connected ``docker.DockerClient``.
        ships_files: The engine is on another machine: the project and harness go into each container as an
            archive and the results come back the same way (no bind mount of a local path).
    """

    url: str
    client: Any
    ships_files: bool = False
    _cpus: int | None = None
    _memory: int | None = None

    def _info(self) -> None:
        info = self.client.info()
        self._cpus = int(info.get("NCPU") or 1)
        self._memory = int(info.get("MemTotal") or 0) or None

    @property
    def cpus(self) -> int:
        """The CPUs the engine's machine has."""
        if self._cpus is None:
            self._info()
        return self._cpus or 1

    @property
    def memory(self) -> int | None:
        """The memory of the engine's machine in bytes (``None`` when the engine does not say)."""
        if self._cpus is None:
            self._info()
        return self._memory

    def bound(self, cpus: float, memory: str) -> tuple[float, str]:
        """A trial's CPUs and memory (``4g``) within what this engine's machine has (a smaller host among
        ``docker.hosts`` than the one the run's limits were bounded by)."""
        if self.memory is not None and memory_bytes(memory) > self.memory:
            memory = f"{self.memory // 1024**2}m"
        return min(cpus, self.cpus), memory

    def busy_cpus(self) -> float:
        """CPUs given to the mlops trial containers there now (running, or created and about to start)."""
        running = self.client.containers.list(filters={"label": ROLE_LABEL, "status": ["created", "running"]})
        return sum(float(c.labels.get(CPUS_LABEL) or 1) for c in running)

    def free_cpus(self) -> float:
        """CPUs not given to a running trial container (negative when over-committed)."""
        return self.cpus - self.busy_cpus()


def local_host(client: Any) -> DockerHost:
    """The engine of the environment (``DOCKER_HOST`` or the local socket): trials bind-mount their folders."""
    return DockerHost(DOCKER_HOST.get() or "unix:///var/run/docker.sock", client, ships_files=False)


def connect_hosts(urls: list[str]) -> tuple[list[DockerHost], list[str]]:
    """Connect to each engine of ``docker.hosts``.

    Returns:
        The hosts that answer, and a sentence for each one that does not.
    """
    hosts, problems = [], []
    for url in urls:
        client, reason = docker_client(base_url=url)
        if client is None:
            problems.append(f"{url}: {reason}")
        else:
            hosts.append(DockerHost(url, client, ships_files=not url.startswith("unix://")))
    return hosts, problems


def pick_host(hosts: list[DockerHost]) -> DockerHost:
    """The host with the most free CPUs (the first listed among equals); one that cannot be asked is skipped.

    Raises:
        BackendError: No host answers.
    """
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    best, best_free, problems = None, float("-inf"), []
    for host in hosts:
        try:
            free = host.free_cpus()
        except (DockerException, RequestException) as e:
            problems.append(f"{host.url}: {type(e).__name__}")
            continue
        if free > best_free:
            best, best_free = host, free
    if best is None:
        raise BackendError(f"no Docker host answers ({'; '.join(problems)})", where="docker.hosts")
    return best
