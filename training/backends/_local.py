"""Run trials in local virtualenvs built from the same requirements files as the images."""

from __future__ import annotations

import collections
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from mlops.errors import MlopsError
from training.backends._base import (
    SOURCE_ROOT,
    Backend,
    EpochWatcher,
    OutputSink,
    TrialResult,
    TrialSpec,
    content_hash,
    requirements_file,
)

_READY = ".mlops-ready"
TAIL_LINES = 40


def trial_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment variables every trial process gets (quiet TensorFlow, no display, unbuffered)."""
    env = {
        "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra or {})
    return env


class LocalBackend(Backend):
    """One virtualenv per image kind, cached by the requirements' hash, reused across runs.

    Args:
        cache_dir: Where the virtualenvs live (default ``$MLOPS_CACHE_DIR``).
        python: The interpreter that creates them (default: the one running mlops).
    """

    name = "local"

    def __init__(self, cache_dir: Path | None = None, python: str | None = None) -> None:
        from mlops import paths

        self.cache_dir = cache_dir or paths.cache_dir()
        self.python = python or sys.executable

    def venv_dir(self, kind: str, extra: tuple[Path, ...] = ()) -> Path:
        """The cached virtualenv of an image kind (named after the requirements' content hash).

        Args:
            kind: ``ml`` or ``dl``.
            extra: More requirements files on top (the serving virtualenv adds requirements-serve.txt).
        """
        files = (requirements_file(kind), *extra)
        prefix = kind if not extra else f"{kind}-serve"
        return self.cache_dir / "venvs" / f"{prefix}-{content_hash(*files)}"

    def prepare(self, kind: str, say: OutputSink, extra: tuple[Path, ...] = ()) -> str:
        """Build the virtualenv of ``kind`` unless a complete one exists. Safe across processes."""
        venv = self.venv_dir(kind, extra)
        if (venv / _READY).exists():
            return f"virtualenv {venv} (cached)"
        venv.parent.mkdir(parents=True, exist_ok=True)
        with open(venv.parent / f"{venv.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (venv / _READY).exists():
                return f"virtualenv {venv} (cached)"
            self._build(venv, (requirements_file(kind), *extra), say)
        return f"virtualenv {venv} (built)"

    def _build(self, venv: Path, files: tuple[Path, ...], say: OutputSink) -> None:
        names = " + ".join(f.name for f in files)
        say(f"building the virtualenv {venv.name} from {names} (first run only; takes a minute or two)")
        shutil.rmtree(venv, ignore_errors=True)
        log_path = venv.parent / f"{venv.name}.log"
        install = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                   "--progress-bar", "off"]
        for f in files:
            install += ["-r", str(f)]
        steps = [[self.python, "-m", "venv", str(venv)], install]
        start = time.time()
        with log_path.open("w") as log:
            for cmd in steps:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                assert proc.stdout is not None
                for line in proc.stdout:
                    log.write(line)
                    if line.startswith(("Collecting", "Successfully installed")):
                        say("  " + line.rstrip()[:120])
                if proc.wait() != 0:
                    log.flush()
                    tail = "".join(log_path.read_text().splitlines(keepends=True)[-5:])
                    shutil.rmtree(venv, ignore_errors=True)
                    raise MlopsError(f"building the virtualenv {venv.name} failed ({' '.join(cmd[-2:])}); "
                                     f"see {log_path}\n{tail}")
        (venv / _READY).write_text(f"built in {time.time() - start:.0f}s from {names}\n")
        say(f"built {venv} in {time.time() - start:.0f}s")

    def run_trial(self, spec: TrialSpec, output: OutputSink) -> TrialResult:
        """Run the harness in a fresh process of the kind's virtualenv, with the trial's time limit."""
        python = self.venv_dir(spec.kind) / "bin" / "python"
        if not python.exists():
            self.prepare(spec.kind, output)
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        cmd = [str(python), *spec.harness_args(str(spec.project), str(spec.run_dir),
                                               str(spec.script) if spec.script else None)]
        env = {**_base_env(), **trial_environment({"PYTHONPATH": str(SOURCE_ROOT)})}
        return run_process(cmd, env, spec, output, where=f"local {python.parent.parent.name}")


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "MLOPS_HARNESS_STRICT")
    return {k: v for k, v in os.environ.items() if k in keep}


def run_process(cmd: list[str], env: dict[str, str], spec: TrialSpec, output: OutputSink,
                where: str) -> TrialResult:
    """Run a trial command, stream its output to ``output`` and ``trial.log``, enforce the time limit.

    A process killed by SIGKILL before it wrote its result is started again (``spec.restarts`` times);
    the harness resumes training from the trial's checkpoint.
    """
    start = time.time()
    deadline = start + spec.time_limit_s
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    log_path = spec.run_dir / "trial.log"
    procs: list[subprocess.Popen] = []
    watcher = None
    if spec.on_epoch:
        watcher = EpochWatcher(spec.run_dir / "events.jsonl", spec.on_epoch, lambda: _kill_group(procs[-1]))
    restarts = 0
    while True:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                start_new_session=True, errors="replace")
        procs.append(proc)
        reader = threading.Thread(target=_pump, args=(proc, log_path, tail, output), daemon=True)
        reader.start()
        if watcher and restarts == 0:
            watcher.start()
        timed_out = False
        try:
            proc.wait(timeout=max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
        except BaseException:
            _kill_group(proc)
            raise
        reader.join(timeout=5)
        if timed_out or (watcher and watcher.stopped_at is not None):
            break
        killed = proc.returncode == -signal.SIGKILL and not (spec.run_dir / "metrics.json").exists()
        if not (killed and restarts < spec.restarts):
            break
        restarts += 1
        output(f"mlops: the trial process was killed; starting it again ({restarts}/{spec.restarts}): "
               "training resumes from its last checkpoint")
    duration = time.time() - start
    if watcher:
        watcher.finish()
        if watcher.stopped_at is not None:
            return watcher.pruned_result("\n".join(tail), duration, where)
    if timed_out:
        return TrialResult.timed_out(spec, "\n".join(tail), duration, where, restarts, proc.returncode)
    result = TrialResult.from_run_dir(spec.run_dir, proc.returncode, "\n".join(tail), duration, where)
    result.restarts = restarts
    return result


def _pump(proc: subprocess.Popen, log_path: Path, tail: collections.deque, output: OutputSink) -> None:
    assert proc.stdout is not None
    with log_path.open("a", encoding="utf-8") as log:
        for line in proc.stdout:
            log.write(line)
            log.flush()
            tail.append(line.rstrip("\n"))
            output(line.rstrip("\n"))


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop the trial and everything it started: SIGTERM, then SIGKILL after 5 s."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
