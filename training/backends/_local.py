"""Run trials in local virtualenvs built from the same requirements files as the images."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops import paths
from mlops.environments import NO_PACKAGES, Packages, Virtualenvs
from mlops.errors import BackendError
from training.backends._base import PROBE, Backend
from training.backends._trial import OutputSink, TrialProcess, TrialSpec, trial_environment
from training.backends._warm import WarmProcess, Zygotes, zygote_kind


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "MLOPS_HARNESS_STRICT")
    return {k: v for k, v in os.environ.items() if k in keep}


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes a child process die with the process that started it (Linux): a trial with
    its worker, a worker with the ``mlops run`` that started it.

    A trial runs in a session of its own (so that killing it kills what it started), which also shields it
    from a kill of its worker: without this, a worker killed with ``kill -9`` would leave its trial running,
    and the trial runs again elsewhere once reaped.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return set_death_signal


class LocalProcess(TrialProcess):
    """A trial as a process group on this machine."""

    def __init__(self, cmd: list[str], env: dict[str, str], where: str) -> None:
        self.cmd, self.env, self.where = cmd, env, where
        self.host = socket.gethostname()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True, preexec_fn=die_with_parent())

    def lines(self) -> Any:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:  # split on newlines only: a progress bar's carriage returns stay in its line
            yield line.decode("utf-8", errors="replace").rstrip("\n")

    def wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Stop the trial and everything it started: SIGTERM, then SIGKILL after 5 s."""
        if self.proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=5)
                return
            except subprocess.TimeoutExpired:
                continue

    def killed_from_outside(self, exit_code: int) -> bool:
        return exit_code == -signal.SIGKILL


def warm_by_default() -> bool:
    """Warm trials unless ``MLOPS_WARM=0``."""
    return os.environ.get("MLOPS_WARM", "1") != "0"


def harness_id() -> str:
    """Identity of the harness code (a zygote that loaded older code is not reused)."""
    from mlops.environments import content_hash
    from training.harness import PACKAGE_DIR

    files = [PACKAGE_DIR.parent / "__init__.py", *sorted(PACKAGE_DIR.glob("*.py"))]
    return content_hash(*files)


class LocalBackend(Backend):
    """One virtualenv per environment, cached by the requirements' hash, reused across runs; trials forked
    warm from a zygote that has imported the framework (``MLOPS_WARM=0``: every trial starts cold).

    Args:
        venvs: The virtualenv cache (default: ``$MLOPS_CACHE_DIR``).
        warm: Fork trials from zygotes (default: unless ``MLOPS_WARM=0``).
    """

    name = "local"

    def __init__(self, venvs: Virtualenvs | None = None, warm: bool | None = None) -> None:
        self.venvs = venvs or Virtualenvs()
        self.warm = warm_by_default() if warm is None else warm

    def venv_dir(self, env: str) -> Path:
        """The cached virtualenv of an environment."""
        return self.venvs.path(env)

    def prepare(self, env: str, say: OutputSink, packages: Packages = NO_PACKAGES) -> str:
        return self.venvs.prepare(env, say, packages=packages)

    def missing_modules(self, env: str, names: list[str]) -> list[str]:
        if not names:
            return []
        python = self.venvs.python_of(env)
        proc = subprocess.run([str(python), "-I", "-c", PROBE, *names], capture_output=True, text=True, timeout=120,
                              env=_base_env())
        if proc.returncode != 0:
            raise BackendError(f"cannot list the modules of the {env} environment ({python}): "
                               f"{(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
        return list(json.loads(proc.stdout))

    def launch(self, spec: TrialSpec) -> TrialProcess:
        python = self.venvs.python_of(spec.env, packages=spec.packages)
        if not python.exists():
            self.prepare(spec.env, print, spec.packages)
        cmd = [str(python), *spec.harness_args(str(spec.project), str(spec.run_dir),
                                               str(spec.script) if spec.script else None,
                                               str(spec.tree) if spec.tree else None)]
        cmd += [f"--map={prefix}={folder}" for prefix, folder in spec.paths.items()]
        extra = {"PYTHONPATH": str(paths.source_root())}
        if spec.datasets_cache:
            keras_home = spec.run_dir / "keras-home"
            keras_home.mkdir(parents=True, exist_ok=True)
            if not (keras_home / "datasets").exists():
                os.symlink(spec.datasets_cache, keras_home / "datasets", target_is_directory=True)
            extra["KERAS_HOME"] = str(keras_home)
        env = {**_base_env(), **trial_environment(extra)}
        where = f"local {python.parent.parent.name}"
        if self.warm and not spec.datasets_cache:  # KERAS_HOME is read at import: a cache means a cold start
            kind = zygote_kind(spec.env, spec.keras_api)
            sock = Zygotes(self.venvs.cache_dir / "warm").socket_for(python, kind, env, harness_id())
            if sock is not None:
                return WarmProcess(sock, cmd[3:], env, os.getcwd(), where=f"{where} (warm)")
        return LocalProcess(cmd, env, where=where)
