"""Warm trials in Docker: a long-lived container per run, image and worker runs a zygote
(``training.harness.zygote``) that has imported the framework, and each trial is forked in it.

The container has what a cold trial container has (the same image, user, limits, read-only root, no network, no
Docker socket) with the run folder mounted instead of one trial folder; the backend reaches the zygote through a
Unix socket in a small mounted folder and hands it the write end of a pipe for the trial's output, exactly as the
local backend does. Each trial is still a fresh process: a crash or a leak in one never reaches the next. Only the
local engine (bind mounts) and trials without network get a warm container; the others start cold.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from core.errors import BackendError
from training.backends._trial import TrialSpec
from training.backends._warm import WarmProcess, socket_answers

#: The label value of warm containers (``mlops.role``); the watchdog's training containers are ``training``.
WARM_ROLE = "training-warm"
#: Where the zygote's socket folder is mounted in the container.
SOCKET_MOUNT = "/warm"
#: Where the run folder is mounted in the container.
RUN_MOUNT = "/runs"
#: A warm container exits (and is removed) after this long without a trial, if its run never closed it.
IDLE_S = 300.0
#: How long the zygote may take to import the framework before the trial starts cold instead.
START_TIMEOUT_S = 180.0


def run_folder_of(spec: TrialSpec) -> Path:
    """The folder mounted at ``/runs``: the run's folder (the parent of the trial folder)."""
    return spec.run_dir.resolve().parent


def in_container(spec: TrialSpec, path: Path) -> str | None:
    """``path`` as the warm container sees it, or ``None`` when it is outside the run folder."""
    try:
        return f"{RUN_MOUNT}/{path.resolve().relative_to(run_folder_of(spec)).as_posix()}"
    except ValueError:
        return None


class WarmContainers:
    """The warm containers of one backend (one worker process), started on first use, removed by ``close``.

    Args:
        client: The local engine's client.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.containers: dict[str, Any] = {}
        self.folders: dict[str, Path] = {}
        self._lock = threading.Lock()

    def socket_for(self, key: str, create: dict[str, Any], run_folder: Path) -> tuple[Path, Any] | None:
        """The socket of the live warm container ``key`` (started from ``create`` if needed) and the container;
        ``None`` when it cannot start (the trial starts cold).

        The socket's folder is in the run folder, which exists on the engine's host also when mlops runs in a
        container (Jenkins with the host's Docker socket); a short link to it in ``/tmp`` keeps the path under
        the 108 bytes a socket path may have.
        """
        from docker.errors import DockerException

        folder = run_folder / ".warm" / key
        sock = folder / "zygote.sock"
        if len(str(sock)) > 100:
            link = Path(tempfile.gettempdir()) / f"mlops-warm-{os.getuid()}" / key
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink() or link.readlink() != folder:
                link.unlink(missing_ok=True)
                link.symlink_to(folder, target_is_directory=True)
            sock = link / "zygote.sock"
        with self._lock:
            container = self.containers.get(key)
            if container is not None and _alive(container) and socket_answers(sock):
                return sock, container
            self._remove(key)
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o777)  # the container's user writes the socket
            self.folders[key] = folder
            sock.unlink(missing_ok=True)
            create = {**create, "volumes": {**create["volumes"], str(folder): {"bind": SOCKET_MOUNT, "mode": "rw"}}}
            try:
                container = self.client.containers.run(detach=True, **create)
            except DockerException:
                return None
            self.containers[key] = container
            deadline = time.time() + START_TIMEOUT_S
            while time.time() < deadline:
                if socket_answers(sock):
                    return sock, container
                if not _alive(container):
                    break
                time.sleep(0.05)
            self._remove(key)
            return None

    def _remove(self, key: str) -> None:
        from docker.errors import DockerException

        container = self.containers.pop(key, None)
        if container is None:
            return
        try:
            container.remove(force=True)
        except DockerException:
            pass

    def close(self) -> int:
        """Remove every warm container of this backend; return how many there were."""
        with self._lock:
            keys = list(self.containers)
            for key in keys:
                self._remove(key)
            for folder in self.folders.values():
                shutil.rmtree(folder, ignore_errors=True)
            self.folders.clear()
        return len(keys)


def _alive(container: Any) -> bool:
    from docker.errors import DockerException

    try:
        container.reload()
    except DockerException:
        return False
    return container.status in ("created", "running")


def warm_key(*parts: object) -> str:
    """The identity of a warm container: what it was created with, and the worker process that owns it."""
    return hashlib.sha256("|".join(map(str, (*parts, os.getpid()))).encode()).hexdigest()[:16]


class WarmContainerProcess(WarmProcess):
    """A trial forked by the zygote of a warm container.

    Its process id is the container's, so it is stopped through the zygote (closing the connection kills the
    trial and what it started), never by a signal from here. An out-of-memory kill in the container is the
    trial's (the zygote makes itself the last candidate).
    """

    def __init__(self, pool: WarmContainers, key: str, create: dict[str, Any], run_folder: Path, argv: list[str],
                 cwd: str, tag: str, host: str) -> None:
        super().__init__(self._socket, argv, {}, cwd, where=f"docker {tag} (warm)")
        self.pool, self.key, self.create, self.run_folder, self.tag = pool, key, create, run_folder, tag
        self.host = host
        self.container: Any = None

    def _socket(self) -> Path:
        found = self.pool.socket_for(self.key, self.create, self.run_folder)
        if found is None:
            raise BackendError(f"the warm container of {self.tag} did not start again; MLOPS_WARM=0 starts "
                               "every trial in a container of its own")
        sock, self.container = found
        self.env = dict(line.split("=", 1) for line in self.container.attrs["Config"]["Env"])
        self.where = f"docker {self.tag} ({self.container.short_id}, warm)"
        return sock

    def kill(self) -> None:
        if self._conn is None or self._code is not None:
            return
        try:
            self._conn.shutdown(socket.SHUT_WR)  # the zygote kills the trial's process group
        except OSError:
            pass
        self.wait(10)

    def killed_from_outside(self, exit_code: int) -> bool:
        return exit_code == -signal.SIGKILL and not self.ended.get("oom_kill")

    def failure(self, exit_code: int, spec: TrialSpec) -> tuple[str, str] | None:
        if self.ended.get("oom_kill"):
            return "out_of_memory", (f"the trial ran out of memory (limit {spec.memory}) and was killed; "
                                     "raise trial.memory in mlops.yaml or use less data")
        return None
