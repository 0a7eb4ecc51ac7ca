"""The trial's working folder: the project mirrored so the script reads it and writes beside it, never into it
(stdlib only).

The project's folders are recreated in the work folder and its files linked, so relative paths work; a script
that writes a file (even one that exists in the project, like ``accuracy.txt``) writes its own copy in the work
folder: opening a linked file for writing first replaces the link with a file (copy on write). Absolute paths
the project is used to (``/mycode/...`` in the seeds' containers) are mapped onto the work folder: by a bind
mount in a container, and on the local backend by ``PathMap``, which rewrites them in Python's file functions.
"""

from __future__ import annotations

import builtins
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

SKIP = {".git", ".mlops", "__pycache__", ".venv", "venv", ".ipynb_checkpoints"}
#: Folders left out at any depth (a repository mirrored whole has them in its sub-folders too).
SKIP_ANYWHERE = {".git", ".mlops", "__pycache__", ".venv", "node_modules", ".ipynb_checkpoints"}
#: Beyond this many entries, remaining folders are linked whole instead of recreated (huge datasets).
MAX_MIRRORED = 50_000


def empty(folder: Path) -> None:
    """Remove what a folder holds but keep its folders (a container may have them bind-mounted)."""
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            empty(entry)
        else:
            entry.unlink()


def mirror(project: Path, workdir: Path) -> int:
    """Recreate ``project``'s folders in ``workdir`` and link its files; return how many entries were made."""
    made = 0
    for root, dirs, files in os.walk(project):
        rel = Path(root).relative_to(project)
        dirs[:] = [d for d in sorted(dirs) if not (rel == Path(".") and d in SKIP) and d not in SKIP_ANYWHERE]
        target = workdir / rel
        for d in list(dirs):
            if made >= MAX_MIRRORED:
                os.symlink(Path(root) / d, target / d, target_is_directory=True)
                dirs.remove(d)
            else:
                (target / d).mkdir(exist_ok=True)
            made += 1
        for f in sorted(files):
            if rel == Path(".") and f in SKIP:
                continue
            os.symlink(Path(root) / f, target / f)
            made += 1
    return made


_WRITE_MODES = set("wax+")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC | os.O_CREAT


def _own_copy(path: Any, keep_content: bool, project: str) -> None:
    """Replace a link into the project by a file of the work folder (with the content when kept)."""
    try:
        p = os.fspath(path)
    except TypeError:
        return
    if isinstance(p, bytes) or not os.path.islink(p):
        return
    real = os.path.realpath(p)
    if not (real == project or real.startswith(project + os.sep)):
        return
    os.unlink(p)
    if keep_content and os.path.isfile(real):
        shutil.copyfile(real, p)


class Patches:
    """Functions replaced on modules, undone by ``undo``."""

    def __init__(self) -> None:
        self._done: list[tuple[Any, str, Any]] = []

    def replace(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        self._done.append((owner, name, original))
        setattr(owner, name, make(original))

    def undo(self) -> None:
        while self._done:
            owner, name, original = self._done.pop()
            setattr(owner, name, original)


def copy_on_write(project: Path, patches: Patches) -> None:
    """Make writes to linked project files write the work folder's own copy instead."""
    root = os.path.realpath(project)

    def make_open(original: Callable[..., Any]) -> Callable[..., Any]:
        def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if isinstance(mode, str) and _WRITE_MODES & set(mode):
                _own_copy(file, keep_content="a" in mode or "+" in mode, project=root)
            return original(file, mode, *args, **kwargs)

        return open_

    def make_os_open(original: Callable[..., Any]) -> Callable[..., Any]:
        def os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> Any:
            if flags & _WRITE_FLAGS:
                _own_copy(path, keep_content=not flags & os.O_TRUNC, project=root)
            return original(path, flags, *args, **kwargs)

        return os_open

    patches.replace(builtins, "open", make_open)
    patches.replace(io, "open", make_open)
    patches.replace(os, "open", make_os_open)


#: ``os`` functions whose first argument is a path (``rename``/``replace`` also map their second).
_PATH_FUNCTIONS = ("stat", "lstat", "listdir", "scandir", "mkdir", "rmdir", "remove", "unlink", "access",
                   "chdir", "utime", "chmod", "readlink", "open")


class PathMap:
    """Absolute paths mapped onto folders: ``/mycode/wines.csv`` -> ``<work>/wines.csv``.

    Args:
        mapping: Absolute prefix -> folder it stands for.
    """

    def __init__(self, mapping: dict[str, Path]) -> None:
        self.mapping = sorted(((p.rstrip("/") or "/", str(f)) for p, f in mapping.items()),
                              key=lambda pf: -len(pf[0]))

    def map(self, path: Any) -> Any:
        """The mapped path (same type as given), or ``path`` unchanged."""
        if isinstance(path, int):
            return path
        try:
            p = os.fspath(path)
        except TypeError:
            return path
        if isinstance(p, bytes):
            return path
        for prefix, folder in self.mapping:
            if p == prefix or p.startswith(prefix + "/"):
                mapped = folder + p[len(prefix):]
                return type(path)(mapped) if isinstance(path, os.PathLike) else mapped
        return path

    def install(self, patches: Patches) -> None:
        """Rewrite the paths given to Python's file functions (``open``, ``os``, hence ``pathlib``, ``shutil``,
        ``glob``, pandas, PIL...). Libraries that open files in C with the raw path are not covered."""

        def one(original: Callable[..., Any]) -> Callable[..., Any]:
            def mapped(path: Any, *args: Any, **kwargs: Any) -> Any:
                return original(self.map(path), *args, **kwargs)

            return mapped

        def two(original: Callable[..., Any]) -> Callable[..., Any]:
            def mapped(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
                return original(self.map(src), self.map(dst), *args, **kwargs)

            return mapped

        patches.replace(builtins, "open", one)
        patches.replace(io, "open", one)
        for name in _PATH_FUNCTIONS:
            patches.replace(os, name, one)
        for name in ("rename", "replace", "symlink", "link"):
            patches.replace(os, name, two)
