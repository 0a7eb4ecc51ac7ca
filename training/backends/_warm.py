"""Warm trials: a zygote per trial environment (``training.harness.zygote``) forks each trial from a process
that has already imported the framework, so a trial after the first starts in milliseconds instead of seconds.

Each trial is still a fresh process (forked from a parent that never ran user code). A zygote that cannot start
is not an error: the trial starts cold, as before.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.backends._trial import TrialProcess

#: How long a zygote may take to import its framework before trials start cold instead.
START_TIMEOUT_S = 180.0
#: A zygote exits after this long without a trial.
IDLE_S = 900.0


def zygote_kind(env: str, keras_api: int | None) -> str:
    """What the zygote preloads: scikit-learn, Keras 3, or Keras 2 (tf-keras) for a Keras 2 script."""
    if env == "ml":
        return "sklearn"
    return "tf_keras" if keras_api == 2 else "keras"


class Zygotes:
    """The zygotes of this machine, one per (interpreter, kind, harness code), started on first use.

    Args:
        folder: Where their sockets and logs live.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        #: The zygotes this object started: socket -> their process (bwrap's, for a sandboxed one).
        self.started: dict[Path, subprocess.Popen[bytes]] = {}

    def socket_for(self, python: Path, kind: str, env: dict[str, str], harness_id: str,
                   sandbox: Callable[[Path, list[str]], list[str]] | None = None, key_extra: str = "",
                   preexec_fn: Callable[[], None] | None = None) -> Path | None:
        """A live zygote's socket, started if needed; ``None`` when none can start (trials start cold).

        Args:
            sandbox: Given the zygote's own folder (writable in its sandbox) and its Python arguments, the command
                that runs it in a sandbox (``None``: it runs as a plain process).
            key_extra: What else makes a zygote another one (a sandbox's binds and limits).
            preexec_fn: Run in the zygote's process before it starts (joins a cgroup).
        """
        key = hashlib.sha256(f"{python}|{kind}|{harness_id}|{sorted(env.items())}|{key_extra}".encode()
                             ).hexdigest()[:16]
        own = self.folder / key if sandbox else self.folder
        path = own / "zygote.sock" if sandbox else self.folder / f"{key}.sock"
        if socket_answers(path):
            return path
        own.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if socket_answers(path):
                return path
            path.unlink(missing_ok=True)
            log = open(self.folder / f"{key}.log", "ab")
            argv = ["-m", "training.harness.zygote", "--socket", str(path), "--preload", kind, "--idle", str(IDLE_S)]
            cmd = sandbox(own, [*argv, "--own-pid-namespace"]) if sandbox else [str(python), *argv]
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, preexec_fn=preexec_fn)
            log.close()
            deadline = time.time() + START_TIMEOUT_S
            while time.time() < deadline:
                if path.exists():
                    self.started[path] = proc
                    return path
                if proc.poll() is not None:
                    return None
                time.sleep(0.05)
            proc.kill()
            return None

    def stop_started(self) -> int:
        """Stop the zygotes this object started (a sandboxed one with its whole sandbox); return how many."""
        stopped = 0
        for path, proc in list(self.started.items()):
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
                stopped += 1
            path.unlink(missing_ok=True)
            del self.started[path]
        return stopped

    def stop_all(self) -> int:
        """Stop every zygote of this folder (they also stop by themselves when idle); return how many."""
        stopped = 0
        for pid_file in self.folder.glob("*.sock.pid") if self.folder.exists() else []:
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
                stopped += 1
            except (ValueError, ProcessLookupError, PermissionError):
                pid_file.unlink(missing_ok=True)
        return stopped


def socket_answers(path: Path) -> bool:
    """Whether something accepts connections on the Unix socket ``path``."""
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


class WarmProcess(TrialProcess):
    """A trial forked by a zygote; its output comes through a pipe, its exit code over the socket.

    Args:
        sock: The zygote's socket, or a function that returns it (started again if it died) before each start.
        argv: The harness's arguments.
        env: The trial's environment.
        cwd: Its working folder.
        where: Where it runs, for messages.
        own_pid_namespace: The zygote runs in a PID namespace of its own (a sandbox): its pids mean nothing
            here, so a kill goes through the zygote (closing the connection's write side kills the trial).
    """

    def __init__(self, sock: Path | Callable[[], Path], argv: list[str], env: dict[str, str], cwd: str,
                 where: str, own_pid_namespace: bool = False) -> None:
        self.sock, self.argv, self.env, self.cwd = sock, argv, env, cwd
        self.where = where
        self.own_pid_namespace = own_pid_namespace
        self.pid: int | None = None
        self.ended: dict[str, Any] = {}  # the zygote's last message about the trial
        self._conn: socket.socket | None = None
        self._out: Any = None
        self._code: int | None = None
        self._buffer = b""

    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(self.sock() if callable(self.sock) else self.sock))
        request = json.dumps({"argv": self.argv, "env": self.env, "cwd": self.cwd}).encode()
        socket.send_fds(conn, [request], [write_fd])
        os.close(write_fd)
        self._conn, self._out, self._code, self._buffer = conn, os.fdopen(read_fd, "rb"), None, b""
        self.pid = int(self._message(timeout=30)["pid"])

    def _message(self, timeout: float | None) -> dict[str, Any]:
        assert self._conn is not None
        self._conn.settimeout(timeout)
        while b"\n" not in self._buffer:
            chunk = self._conn.recv(4096)
            if not chunk:
                raise ConnectionError("the zygote closed the connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def lines(self) -> Any:
        assert self._out is not None
        with self._out:
            for line in self._out:
                yield line.decode("utf-8", errors="replace").rstrip("\n")

    def wait(self, timeout: float) -> int | None:
        if self._code is not None:
            return self._code
        try:
            self.ended = self._message(timeout=timeout)
            self._code = int(self.ended["exit"])
        except TimeoutError:
            return None
        except (ConnectionError, OSError):
            self._code = -signal.SIGKILL  # the zygote died with its child
        assert self._conn is not None
        self._conn.close()
        return self._code

    def kill(self) -> None:
        if self.pid is None:
            return
        if self.own_pid_namespace:
            if self._code is None and self._conn is not None:
                try:
                    self._conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                self.wait(10)
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            if self.wait(5) is not None:
                return

    def killed_from_outside(self, exit_code: int) -> bool:
        return exit_code == -signal.SIGKILL
