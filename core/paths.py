"""Where the tool keeps its state: ``MLOPS_HOME`` (runs, store, outbox) and the venv cache."""

from __future__ import annotations

from pathlib import Path

from core import settings
from core.names import check_name


def home() -> Path:
    """``$MLOPS_HOME``, default ``~/.mlops``: runs, the embedded store and the outbox live here."""
    return Path(settings.HOME.get() or Path.home() / ".mlops").absolute()


def cache_dir() -> Path:
    """``$MLOPS_CACHE_DIR``, default ``~/.cache/mlops``: virtualenvs shared by all runs."""
    return Path(settings.CACHE_DIR.get() or Path.home() / ".cache" / "mlops").absolute()


def runs_dir() -> Path:
    """The folder that holds one sub-folder per run."""
    return home() / "runs"


def outbox_dir() -> Path:
    """Mail that could not be (or was not meant to be) sent over SMTP, as ``.eml`` files."""
    return Path(settings.OUTBOX.get() or home() / "outbox").absolute()


def registry_dir() -> Path:
    """``$MLOPS_REGISTRY``, default ``$MLOPS_HOME/registry``: pushed models, one folder per version."""
    return Path(settings.REGISTRY.get() or home() / "registry").absolute()


def source_root() -> Path:
    """The folder that holds the ``mlops``, ``training`` and ``monitor`` packages, the requirements files and
    ``dockerfiles/`` (mlops is installed from its source tree)."""
    return Path(__file__).resolve().parents[1]


def capture_dir(project: str) -> Path:
    """``$MLOPS_HOME/capture/<project>``: the spool of captured predictions and labels when there is no MongoDB
    (the deploy mounts it into the project's serving units)."""
    return home() / "capture" / check_name(project)


def snapshots_dir() -> Path:
    """``$MLOPS_HOME/snapshots``: the rows each run trained on, one folder per snapshot (shared by runs)."""
    return home() / "snapshots"


def project_state_dir(project: str) -> Path:
    """``$MLOPS_HOME/projects/<project>``: what mlops keeps for a project, such as its data schema."""
    return home() / "projects" / check_name(project)
