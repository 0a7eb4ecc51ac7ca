"""Run trials in local virtualenvs built from the same requirements files as the images."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import paths, settings
from core.errors import BackendError
from core.infra.requirements import NO_PACKAGES, Packages
from core.infra.virtualenvs import Virtualenvs
from training.backends import _sandbox
from training.backends._base import PROBE, Backend
from training.backends._cgroup import Cgroup, Cgroups
from training.backends._trial import OutputSink, TrialProcess, TrialSpec, thread_environment, trial_environment
from training.backends._warm import WarmProcess, Zygotes, zygote_kind


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", settings.HARNESS_STRICT.env)
    return {k: v for k, v in settings.environment().items() if k in keep}


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
    """A trial as a process group on this machine (in bubblewrap when sandboxed; in a cgroup when limited)."""

    def __init__(self, cmd: list[str], env: dict[str, str], where: str, cgroup: Cgroup | None = None,
                 sandboxed: bool = False, cwd: str | None = None) -> None:
        self.cmd, self.env, self.where, self.cgroup, self.sandboxed, self.cwd = cmd, env, where, cgroup, sandboxed, cwd
        self.host = socket.gethostname()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True, preexec_fn=_preexec(self.cgroup), cwd=self.cwd)

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
        # bubblewrap exits with 128 + the signal that killed the trial
        return exit_code == -signal.SIGKILL or (self.sandboxed and exit_code == 128 + signal.SIGKILL)

    def failure(self, exit_code: int, spec: TrialSpec) -> tuple[str, str] | None:
        return out_of_memory(self.cgroup, 0, spec)

    def remove(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()


def out_of_memory(cgroup: Cgroup | None, before: int, spec: TrialSpec) -> tuple[str, str] | None:
    """The failure of a trial whose cgroup counted out-of-memory kills since ``before``."""
    if cgroup is None or cgroup.oom_kills() <= before:
        return None
    return "out_of_memory", (f"the trial ran out of memory (limit {spec.memory}) and was killed; "
                             "raise trial.memory in mlops.yaml or use less data")


def _preexec(cgroup: Cgroup | None) -> Callable[[], None] | None:
    """What the child runs before ``exec``: die with its parent, then join its cgroup."""
    die = die_with_parent()
    if cgroup is None:
        return die

    def run() -> None:
        if die is not None:
            die()
        cgroup.attach_self()

    return run


class SandboxedWarmProcess(WarmProcess):
    """A trial forked by a zygote in a bubblewrap sandbox: its memory is the zygote's cgroup's."""

    def __init__(self, *args: Any, cgroup: Cgroup | None = None, **kwargs: Any) -> None:
        super().__init__(*args, own_pid_namespace=True, **kwargs)
        self.cgroup = cgroup
        self._ooms = 0

    def start(self) -> None:
        self._ooms = self.cgroup.oom_kills() if self.cgroup else 0
        super().start()

    def failure(self, exit_code: int, spec: TrialSpec) -> tuple[str, str] | None:
        return out_of_memory(self.cgroup, self._ooms, spec)


def warm_by_default() -> bool:
    """Warm trials unless ``MLOPS_WARM=0``."""
    return settings.WARM.get()


def harness_id() -> str:
    """Identity of the harness code (a zygote that loaded older code is not reused)."""
    from core.infra.requirements import content_hash
    from training.harness import PACKAGE_DIR

    files = [PACKAGE_DIR.parent / "__init__.py", *sorted(PACKAGE_DIR.rglob("*.py"))]  # keras_compat/ too
    return content_hash(*files)


class LocalBackend(Backend):
    """One virtualenv per environment, cached by the requirements' hash, reused across runs; trials forked
    warm from a zygote that has imported the framework (``MLOPS_WARM=0``: every trial starts cold); each trial
    and each zygote in a bubblewrap sandbox (``training.backends._sandbox``) when bubblewrap works here.

    Args:
        venvs: The virtualenv cache (default: ``$MLOPS_CACHE_DIR``).
        warm: Fork trials from zygotes (default: unless ``MLOPS_WARM=0``).
        sandbox: Run trials in bubblewrap (default: when it works here).
    """

    name = "local"

    def __init__(self, venvs: Virtualenvs | None = None, warm: bool | None = None,
                 sandbox: bool | None = None) -> None:
        self.venvs = venvs or Virtualenvs()
        self.warm = warm_by_default() if warm is None else warm
        self.sandboxed = _sandbox.bwrap() is not None if sandbox is None else sandbox
        self.cgroups = Cgroups()
        self.zygotes = Zygotes(self.venvs.cache_dir / "warm")
        self._warm_cgroups: dict[tuple[str, float], Cgroup | None] = {}

    def sandbox_line(self, memory: str, cpus: float, network: bool) -> str:
        version, limits = self.cgroups.probe()
        return _sandbox.describe(self.sandboxed, limits, version, memory, cpus, network)

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
        argv = spec.harness_args(str(spec.project), str(spec.run_dir), str(spec.script) if spec.script else None,
                                 str(spec.tree) if spec.tree else None)
        argv += [f"--map={prefix}={folder}" for prefix, folder in spec.paths.items()]
        extra = {"PYTHONPATH": str(paths.source_root())}
        if spec.datasets_cache:
            keras_home = spec.run_dir / "keras-home"
            keras_home.mkdir(parents=True, exist_ok=True)
            if not (keras_home / "datasets").exists():
                os.symlink(spec.datasets_cache, keras_home / "datasets", target_is_directory=True)
            extra["KERAS_HOME"] = str(keras_home)
        env = {**_base_env(), **trial_environment(extra), **thread_environment(spec.cpus)}
        if self.sandboxed:
            env = _sandbox.environment(env)
        where = f"local {python.parent.parent.name}" + (" (bubblewrap)" if self.sandboxed else "")
        if self.warm and not spec.datasets_cache:  # KERAS_HOME is read at import: a cache means a cold start
            warm = self._warm_launch(spec, python, argv, env, where)
            if warm is not None:
                return warm
        if self.sandboxed:
            cmd = _sandbox.command(spec, python, spec.run_dir, argv, cwd=spec.run_dir)
            return LocalProcess(cmd, env, where, self.cgroups.create(spec.memory, spec.cpus), sandboxed=True)
        return LocalProcess([str(python), *argv], env, where=where,
                            cgroup=self.cgroups.create(spec.memory, spec.cpus))

    def _warm_launch(self, spec: TrialSpec, python: Path, argv: list[str], env: dict[str, str],
                     where: str) -> TrialProcess | None:
        """The trial forked by a zygote, or ``None`` (none can start: the trial starts cold).

        Sandboxed, a zygote serves one driving process and one run: it runs in bubblewrap with the run folder
        (where the trials' folders are) writable and the project read-only, in a cgroup of its own, and is
        stopped when the run ends (``close``). Unsandboxed, zygotes are shared by the machine, as before.
        """
        kind = zygote_kind(spec.env, spec.keras_api)
        argv = argv[2:]  # without "-m training.harness"
        if not self.sandboxed:
            sock = self.zygotes.socket_for(python, kind, env, harness_id())
            return None if sock is None else WarmProcess(sock, argv, env, os.getcwd(), where=f"{where} (warm)")
        run_folder = spec.run_dir.parent
        limits = (spec.memory, spec.cpus)
        if limits not in self._warm_cgroups:
            self._warm_cgroups[limits] = self.cgroups.create(spec.memory, spec.cpus)
        cgroup = self._warm_cgroups[limits]

        def sandboxed(own: Path, zygote_argv: list[str]) -> list[str]:
            view = dataclasses.replace(spec, datasets_cache=None)
            cmd = _sandbox.command(view, python, run_folder, zygote_argv, cwd=run_folder)
            at = cmd.index("--chdir")  # the zygote's own folder (socket, pid file) is writable too
            return [*cmd[:at], "--bind", str(own), str(own), *cmd[at:]]

        key = "|".join([str(os.getpid()), *_sandbox.view(spec, python, run_folder), str(spec.network),
                        *map(str, limits)])
        sock = self.zygotes.socket_for(python, kind, env, harness_id(), sandbox=sandboxed, key_extra=key,
                                       preexec_fn=_preexec(cgroup))
        if sock is None:
            return None
        return SandboxedWarmProcess(sock, argv, env, str(spec.run_dir), where=f"{where} (warm)", cgroup=cgroup)

    def close(self) -> None:
        """Stop this backend's sandboxed zygotes (everything in their sandboxes goes with them)."""
        self.zygotes.stop_started()
        for cgroup in self._warm_cgroups.values():
            if cgroup is not None:
                cgroup.remove()
        self._warm_cgroups.clear()
