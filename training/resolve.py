"""What a pushed script reaches beyond its project folder, decided before its first trial from its code.

* Absolute paths that stand for project files: ``pd.read_csv('/mycode/wines.csv')`` with ``wines.csv`` in the
  project maps ``/mycode`` onto the project folder (read-only; writes go to the trial's work folder), as
  ``paths:`` in ``mlops.yaml`` does, which still overrides.
* The repository around the project: a project that is a folder of a git checkout (Jenkins' ``PROJECT_DIR``,
  the git hook) sees the whole checkout read-only, its working directory at the project folder, so
  ``../Dataset/iris.csv`` resolves as on the author's machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import paths as mlops_paths
from training.analysis import Finding

__all__ = ["MappedPath", "Reach", "Tree", "map_absolute_paths", "project_reach", "reach_of", "repository_tree"]

#: Top-level folders of a system that a mapped prefix must never cover (the trial needs them, or they are ours).
_SYSTEM = {"bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "run", "sbin", "sys", "usr",
           "var", "tmp", "project", "repo", "srv", "mnt", "media"}
#: The seeds' containers copy the code to ``/mycode``: a script naming it means the project folder.
SEED_PREFIX = "/mycode"
#: Folders not searched for a file a path names (as the harness's work folder skips them).
_SKIP = {".git", ".mlops", "__pycache__", ".venv", "venv", "node_modules", ".ipynb_checkpoints"}
#: Files looked at, at most, when searching the project for a name.
_MAX_FILES = 20_000


@dataclass(frozen=True)
class MappedPath:
    """An absolute path prefix mapped onto a folder of the project, and the literal that asked for it."""

    prefix: str
    folder: str  # relative to the project, "." for the project folder
    literal: str
    file: str  # the script and line that names it
    line: int

    def sentence(self) -> str:
        """One line for the console and the report."""
        target = "the project folder" if self.folder == "." else f"the project's folder {self.folder}/"
        return (f"{self.file}:{self.line} reads {self.literal}: {self.prefix} is mapped onto {target} (read-only; "
                f"paths: in mlops.yaml overrides)")


def _allowed(prefix: str) -> bool:
    parts = Path(prefix).parts
    return len(parts) >= 2 and parts[1] not in _SYSTEM and not (parts[1] == "opt" and len(parts) == 2) \
        and not prefix.startswith("/opt/mlops")


def _files_named(project: Path, name: str) -> list[Path]:
    found, seen = [], 0
    for root, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP)
        seen += len(files)
        if name in files:
            found.append(Path(root, name).relative_to(project))
        if seen > _MAX_FILES:
            break
    return found


def _mapping(project: Path, literal: str) -> tuple[str, str] | None:
    """``(prefix, folder)`` for a literal that stands for a project file or folder, else ``None``."""
    path = literal.rstrip("/")
    parts = Path(path).parts[1:]
    if path == SEED_PREFIX or path.startswith(SEED_PREFIX + "/"):
        rest = "/".join(parts[1:])
        if not rest or (project / rest).exists():
            return SEED_PREFIX, "."
    for i in range(1, len(parts)):  # the longest tail that exists in the project: /a/b/data/x.csv -> data/x.csv
        tail = Path(*parts[i:])
        if (project / tail).exists():
            return "/" + "/".join(parts[:i]), "."
    if len(parts) >= 2 and "." in parts[-1]:  # a file elsewhere in the project, if only one has that name
        named = _files_named(project, parts[-1])
        if len(named) == 1:
            return "/" + "/".join(parts[:-1]), named[0].parent.as_posix() or "."
    return None


def map_absolute_paths(project: Path, literals: list[tuple[str, Finding]], configured: dict[str, str]
                       ) -> list[MappedPath]:
    """The prefixes to map so that the absolute paths a script names find the project's files.

    Args:
        project: The project folder.
        literals: ``(file, finding)`` of each absolute path literal of the entry's module closure (the static
            analysis's ``absolute_paths``).
        configured: ``paths:`` of ``mlops.yaml``: a literal under one of them is left to it.

    Returns:
        One mapping per prefix (the first literal that asked for it), in the order of the literals. A literal
        that exists on no path of the project, or whose prefix is a system folder (``/usr``, ``/tmp``, ...), is
        not mapped: the trial fails on it as before, with the message that says what to do.
    """
    covered = [p.rstrip("/") or "/" for p in configured]
    found: dict[str, MappedPath] = {}
    for file, finding in literals:
        literal = finding.what
        if any(literal == c or literal.startswith(c.rstrip("/") + "/") for c in covered):
            continue
        if Path(literal).exists() and not literal.startswith(SEED_PREFIX + "/"):
            continue  # a file of this machine (a system file, a shared data folder): not the project's
        mapped = _mapping(project, literal)
        if mapped is None or not _allowed(mapped[0]) or mapped[0] in found:
            continue
        if any(mapped[0].startswith(p + "/") or p.startswith(mapped[0] + "/") for p in found):
            continue  # nested prefixes would shadow each other: the first one wins
        found[mapped[0]] = MappedPath(mapped[0], mapped[1], literal, file, finding.line)
    return list(found.values())


@dataclass(frozen=True)
class Tree:
    """The repository a project is a folder of, as its trials see it, or why they see only the project."""

    root: Path | None
    #: Why the repository is not exposed (``root`` is None although the project is in a checkout).
    refused: str = ""

    def sentence(self, project: Path) -> str:
        """One line for the console and the report ("" when there is nothing to say)."""
        if self.refused:
            return self.refused
        if self.root is None:
            return ""
        rel = project.relative_to(self.root).as_posix()
        return (f"the project is the folder {rel}/ of the repository {self.root}: trials see the repository "
                f"read-only, working in {rel}/ (so ../ paths resolve as in the repository)")


def repository_tree(project: Path, home: Path | None = None, keep_out: tuple[Path, ...] = ()) -> Tree:
    """The git checkout around a project folder that is not its root, to expose to the trials.

    Args:
        project: The project folder (absolute).
        home: The user's home folder (default: ``Path.home()``).
        keep_out: Folders no trial may see (mlops's own home: the store, the runs of other projects).

    Returns:
        ``Tree(root)``; ``Tree(None)`` when the project is not a folder of a checkout (or is its root); and
        ``Tree(None, why)`` for a checkout that would expose the host: ``/``, the home folder, or one holding
        a folder of ``keep_out``.
    """
    project = project.resolve()
    root = next((d for d in (project, *project.parents) if (d / ".git").exists()), None)
    if root is None or root == project:
        return Tree(None)
    home = (home or Path.home()).resolve()
    rel = project.relative_to(root).as_posix()
    held = next((k for k in keep_out if k.resolve() == root or root in k.resolve().parents), None)
    if root == Path("/") or root == home or held is not None:
        reason = f"it holds {held} (mlops's store and runs)" if held is not None else \
            f"it is {'/' if root == Path('/') else 'the home folder'}, which would expose the host"
        return Tree(None, f"the project is the folder {rel}/ of a git repository at {root}, which trials do not "
                          f"see: {reason}; ../ paths stay outside the trial (move the repository, or the data "
                          "into the project)")
    return Tree(root)


@dataclass(frozen=True)
class Reach:
    """What the trials of a project see beyond its folder: the prefixes mapped onto it (with ``paths:``) and
    the repository around it, with one line for each decision made without ``mlops.yaml``."""

    paths: dict[str, str]
    tree: Path | None
    lines: tuple[str, ...] = ()


def project_reach(project: Path, literals: list[tuple[str, Finding]], configured: dict[str, str],
                  keep_out: tuple[Path, ...] = ()) -> Reach:
    """The mapped paths (``paths:`` first, then the ones the code's literals ask for) and the repository tree.

    Args:
        project: The project folder.
        literals: The absolute path literals of the entry's module closure, with their files.
        configured: ``paths:`` of ``mlops.yaml``.
        keep_out: Folders no trial may see (see ``repository_tree``).
    """
    mapped = map_absolute_paths(project, literals, configured)
    tree = repository_tree(project, keep_out=keep_out)
    lines = [m.sentence() for m in mapped]
    if tree.sentence(project):
        lines.append(tree.sentence(project))
    return Reach({**{m.prefix: m.folder for m in mapped}, **configured}, tree.root, tuple(lines))


def reach_of(project: Path, detection: Any, configured: dict[str, str]) -> Reach:
    """``project_reach`` from a ``training.detect.Detection`` (its ``absolute_paths``); mlops's home and cache (the
    store, the runs of other projects, the virtualenvs) are never part of a repository the trials see."""
    literals = [(e.file, Finding(e.line, e.what)) for e in detection.absolute_paths]
    return project_reach(project, literals, configured, keep_out=(mlops_paths.home(), mlops_paths.cache_dir()))
