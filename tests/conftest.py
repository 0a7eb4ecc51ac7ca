"""Shared fixtures: an isolated MLOPS_HOME per test, the real trial virtualenvs, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
_CLEARED = ("MONGODB_URI", "SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD", "SMTP_TLS", "MLOPS_MAIL_TO",
            "MLOPS_METRIC", "MLOPS_TARGET", "MLOPS_MAX_TRIALS", "MLOPS_MAX_MINUTES", "MLOPS_STRATEGY",
            "MLOPS_IMAGE", "MLOPS_TRIAL_TIME_LIMIT", "MLOPS_OUTBOX", "BUILD_URL")


@pytest.fixture(autouse=True)
def mlops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own MLOPS_HOME (runs, store, outbox); the virtualenv cache is shared."""
    home = tmp_path / "mlops-home"
    monkeypatch.setenv("MLOPS_HOME", str(home))
    monkeypatch.setenv("MLOPS_HARNESS_STRICT", "1")
    for var in _CLEARED:
        if var != "MONGODB_URI" or os.environ.get("MLOPS_TEST_KEEP_MONGODB") != "1":
            monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="session")
def ml_env() -> str:
    """Build (or reuse) the scikit-learn trial virtualenv; return its description."""
    from training.backends import LocalBackend

    return LocalBackend().prepare("ml", print)


@pytest.fixture(scope="session")
def dl_env() -> str:
    """Build (or reuse) the Keras/TensorFlow trial virtualenv; return its description."""
    from training.backends import LocalBackend

    return LocalBackend().prepare("dl", print)


def mlops(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 900
          ) -> subprocess.CompletedProcess[str]:
    """Run the real ``mlops`` command line in a child process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "mlops", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=timeout)


def write_project(folder: Path, files: dict[str, str]) -> Path:
    """Create a training project from file name -> content."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    return folder


@pytest.fixture
def project_factory(tmp_path: Path) -> Iterator:
    """``make(files, name=...)`` writes a project folder under tmp_path."""
    counter = iter(range(1000))

    def make(files: dict[str, str], name: str | None = None) -> Path:
        return write_project(tmp_path / (name or f"project{next(counter)}"), files)

    yield make


def harness(project: Path, kind: str, metric: str = "accuracy", entry: str = "train.py",
            run_dir: Path | None = None) -> tuple[int, dict, str]:
    """Run ``python -m training.harness`` in the kind's virtualenv; return (exit code, metrics.json, output).

    The run folder defaults to a new temporary folder (never next to the project: examples stay clean).
    """
    import json
    import tempfile

    from training.backends import LocalBackend
    from training.backends._base import SOURCE_ROOT
    from training.backends._local import trial_environment

    python = LocalBackend().venv_dir(kind) / "bin" / "python"
    run_dir = run_dir or Path(tempfile.mkdtemp(prefix="harness-")) / "run"
    proc = subprocess.run(
        [str(python), "-m", "training.harness", "--project", str(project), "--entry", entry,
         "--run-dir", str(run_dir), "--metric", metric],
        capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SOURCE_ROOT), "MLOPS_HARNESS_STRICT": "1",
             **trial_environment()},
    )
    return proc.returncode, json.loads((run_dir / "metrics.json").read_text()), proc.stdout + proc.stderr
