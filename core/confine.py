"""Paths a push names stay inside the project: ``entry:``, ``data.path``, ``data.schema``, ``paths:``,
``datasets_cache``, a SQLite ``optuna_storage``, ``packages:`` and the lines of ``requirements.txt``, and
``requirements.txt`` itself.

Each is resolved with its symlinks followed before anything reads it; one that leads out of the project (``..``,
an absolute path, a symlink to ``/etc/shadow``) is refused with one line naming the field. Only what the pushed
``mlops.yaml`` says is confined: the operator's environment variables and the tool's own overrides (a retrain's
ground-truth file) may name other places.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path
from urllib.parse import urlsplit

from core import settings
from core.config import CONFIG_FILE, ProjectConfig
from core.errors import ConfigError

#: A ``packages:`` or requirements line that names a local path or file URL (pip installs what it points at).
_LOCAL = re.compile(r"^(?:[./~]|file:)|@\s*file:")
#: A line pip would build from source on this machine, outside any sandbox: a local folder or archive, a VCS
#: checkout, a URL that is not a wheel (a project's named packages are installed from wheels only).
_SOURCE_BUILD = re.compile(r"^(?:[./~]|file:|[a-z]+\+)|@\s*(?:file:|[a-z]+\+)|(?:^|@\s*)https?://(?!\S*\.whl\b)")
#: The operator's switch that lets a push's packages be built from source on the machine that trains it.
ALLOW_SOURCE_BUILDS = settings.ALLOW_SOURCE_BUILDS.env


def inside(root: Path, name: str | Path) -> Path | None:
    """``name`` (relative to ``root``) with every symlink followed, or ``None`` when it leads out of ``root``."""
    root = root.resolve()
    path = Path(name).expanduser()
    resolved = (path if path.is_absolute() else root / path).resolve()
    return resolved if resolved == root or resolved.is_relative_to(root) else None


def _refuse(project: Path, field: str, name: str, why: str = "") -> ConfigError:
    resolved = (project / Path(name).expanduser()).resolve()
    source = str(project / (field if field == "requirements.txt" else CONFIG_FILE))
    return ConfigError(source, "" if field == "requirements.txt" else field,
                       f"'{name}' {why or f'leads to {resolved}, outside the project'}; a push may only name files "
                       f"inside its project {project}")


def _check(project: Path, field: str, name: str) -> None:
    if inside(project, name) is None:
        raise _refuse(project, field, name)


def _check_glob(project: Path, pattern: str) -> None:
    _check(project, "data.path", pattern)
    if glob.has_magic(pattern):
        for match in glob.glob(str(project / pattern)):
            if inside(project, match) is None:
                rel = Path(match).relative_to(project)
                raise _refuse(project, "data.path", str(rel),
                              f"(matched by '{pattern}') leads to {Path(match).resolve()}, outside the project")


def _check_package(project: Path, field: str, line: str) -> None:
    if line.startswith("-"):
        raise ConfigError(str(project / CONFIG_FILE), field, f"'{line}': pip options are not allowed here; name "
                                                             "packages (e.g. 'lightgbm==4.3')")
    if _LOCAL.search(line):
        target = line.split("@", 1)[1].strip() if "@" in line and "file:" in line else line
        local = urlsplit(target).path if target.startswith("file:") else target
        _check(project, field, local.split(";")[0].split("[")[0].strip())
    if _SOURCE_BUILD.search(line) and not settings.ALLOW_SOURCE_BUILDS.get():
        source = str(project / (field if field == "requirements.txt" else CONFIG_FILE))
        raise ConfigError(source, "" if field == "requirements.txt" else field,
                          f"'{line}' would be built from source on this machine, outside the trial's sandbox; "
                          f"name a package on PyPI (installed from its wheels), or the operator allows builds "
                          f"with {ALLOW_SOURCE_BUILDS}=1")


def check_pushed_paths(project: Path, pushed: ProjectConfig) -> None:
    """Refuse a path in the pushed ``mlops.yaml`` (or a pushed ``requirements.txt``) that leads out of the project.

    Args:
        project: The project folder.
        pushed: The configuration as the file says it (no environment or command-line overrides).

    Raises:
        ConfigError: One leads out; the message names the file, the field and where it leads.
    """
    project = project.resolve()
    if pushed.entry:
        _check(project, "entry", pushed.entry)
    if pushed.data is not None:
        for pattern in pushed.data.path:
            _check_glob(project, pattern)
        if pushed.data.schema_file:
            _check(project, "data.schema", pushed.data.schema_file)
    for prefix, folder in pushed.paths.items():
        _check(project, f"paths.{prefix}", folder)
    if pushed.datasets_cache and inside(project, pushed.datasets_cache) is None:
        raise _refuse(project, "datasets_cache", pushed.datasets_cache,
                      "is outside the project: a host folder of Keras datasets is the operator's setting "
                      "(MLOPS_DATASETS_CACHE)")
    for line in pushed.packages:
        _check_package(project, "packages", line)
    storage = pushed.optuna_storage or ""
    if storage.startswith("sqlite") and inside(project, urlsplit(storage).path.removeprefix("/")) is None:
        raise _refuse(project, "optuna_storage", storage, "is a database file outside the project: a shared "
                      "Optuna database is the operator's setting (MLOPS_OPTUNA_STORAGE)")
    requirements = project / "requirements.txt"
    if requirements.is_symlink() or requirements.exists():
        if inside(project, "requirements.txt") is None:
            raise _refuse(project, "requirements.txt", "requirements.txt")
        for raw in requirements.read_text(encoding="utf-8", errors="replace").splitlines():
            line = raw.split(" #", 1)[0].strip()
            if line and not line.startswith(("#", "-")) and (_LOCAL.search(line) or _SOURCE_BUILD.search(line)):
                _check_package(project, "requirements.txt", line)
