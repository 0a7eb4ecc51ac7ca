"""What the benchmarks share: the command line (``--quick``), timing side by side, tables, temporary projects,
the ``mlops`` command, the serving virtualenvs, the APS subset, and servers on 127.0.0.1."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
#: Programs a benchmark runs in another interpreter (serving or trial virtualenvs), as files that ruff reads.
INNER = Path(__file__).resolve().parent / "inner"
#: The directory holding the APS subset (``aps_subset_*.csv.gz``), shared with the data tests.
APS_DIR_VAR = "MLOPS_TEST_APS_DIR"

T = TypeVar("T")
K = TypeVar("K")


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first paragraph of a benchmark's docstring, with ``--quick``."""
    out = argparse.ArgumentParser(prog=None, description=(doc or "").split("\n\n")[0])
    out.add_argument("--quick", action="store_true",
                     help="tiny data and one round: proves the benchmark runs (seconds to a minute), measures nothing")
    return out


def load_average(when: str) -> None:
    """Print the load average (the machine is shared: a noisy run can be told apart)."""
    print(f"load average {os.getloadavg()[0]:.2f} at the {when}", flush=True)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Seconds ``fn`` took, and what it returned."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median(values: Sequence[T], key: Callable[[T], float] | None = None) -> T:
    """The middle one of ``values`` (the upper one of an even count), by ``key`` if given."""
    return sorted(values, key=key)[len(values) // 2]  # type: ignore[type-var, arg-type]


def side_by_side(rounds: int, measures: Mapping[K, Callable[[], T]]) -> dict[K, list[T]]:
    """Each measure once per round, in turn, so that all of them see the same machine load."""
    out: dict[K, list[T]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            out[name].append(measure())
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows under headers: the first column left-aligned, the others right-aligned, each as wide as needed."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))),
              flush=True)


def temp_project(folder: Path, name: str, files: Mapping[str, str | Path]) -> Path:
    """A training project ``folder/name`` from file name -> text, or -> a file to copy (one of ``bench/inner``)."""
    project = folder / name
    project.mkdir(parents=True, exist_ok=True)
    for file, content in files.items():
        (project / file).write_text(content.read_text() if isinstance(content, Path) else content)
    return project


def mlops(*args: str, env: Mapping[str, str], timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``mlops`` command line in a child process, from the repository's root."""
    return subprocess.run([sys.executable, "-m", "mlops", *args], capture_output=True, text=True, env=dict(env),
                          cwd=ROOT, timeout=timeout)


def inner(name: str) -> str:
    """The path of a program of ``bench/inner`` (``name`` with its suffix)."""
    return str(INNER / name)


def serve_venv(kind: str) -> Path:
    """The Python of the serving virtualenv of ``kind`` (built once, as local serving units use it)."""
    from core.infra.virtualenvs import Virtualenvs

    venvs, extra = Virtualenvs(), (ROOT / "requirements-serve.txt",)
    venvs.prepare(kind, lambda line: print(f"  {line}", flush=True), extra=extra)
    return venvs.python_of(kind, extra)


def serving_env(**extra: str) -> dict[str, str]:
    """The environment of a program run in a serving virtualenv: ``monitor/`` on the path (``import serving``) and
    the source root (the serving package reads ``core/settings.py``)."""
    from monitor.units import serving_path

    return {**os.environ, "PYTHONPATH": serving_path(), **extra}


def aps_files() -> tuple[list[Path], str]:
    """The APS subset's files from ``$MLOPS_TEST_APS_DIR``, or ``[]`` and the one-line reason there are none."""
    folder = os.environ.get(APS_DIR_VAR)
    if not folder:
        return [], f"{APS_DIR_VAR} is not set (the directory of the APS subset, aps_subset_*.csv.gz)"
    files = sorted(Path(folder).glob("aps_subset_*.csv.gz"))
    if not files:
        return [], f"{APS_DIR_VAR}={folder} holds no aps_subset_*.csv.gz"
    return files, ""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process group on 127.0.0.1, healthy when ``ready_path`` answers 200; stopped with ``stop``."""

    def __init__(self, name: str, cmd: list[str], env: Mapping[str, str], port: int, ready_path: str,
                 log: Path) -> None:
        self.name, self.port, self.log = name, port, log
        self.url = f"http://127.0.0.1:{port}"
        with log.open("w") as out:
            self.proc = subprocess.Popen(cmd, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{name} ended with code {self.proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{name} did not turn healthy in 300 s:\n{log.read_text()[-3000:]}")

    def post(self, path: str, body: object) -> Any:
        """POST ``body`` as JSON; the decoded answer."""
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after 20 s."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
