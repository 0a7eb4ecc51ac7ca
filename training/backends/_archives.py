"""A trial's files as tar archives, for Docker hosts that share no filesystem with the worker.

In: the harness, the project (read-only: owned by root, not writable by the trial's user), the trial folder
as it is before the run (a rewritten script, a checkpoint carried over from a reaped trial), the folders the
script expects at absolute paths (``/mycode``, as links into its work folder) and the datasets cache.
Out: ``metrics.json``, ``events.jsonl``, the model and the checkpoints, extracted with tarfile's ``data``
filter (no absolute or escaping links, no device files, no ownership taken from the container).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The uid the trial runs as in its container (the images' ``mlops`` user).
CONTAINER_UID = 10001
#: What comes back from ``/run`` when the trial ends (the work folder stays in the container).
RESULTS = ("metrics.json", "events.jsonl", "model", "checkpoint")
#: Project entries never shipped (as the harness never mirrors them).
SKIP = {".git", ".mlops", "__pycache__", ".venv", "venv", ".ipynb_checkpoints"}


class TarBuilder:
    """An in-memory tar whose entries carry the ownership and modes the container needs."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w")
        self._dirs: set[str] = set()

    def folder(self, name: str, uid: int = 0, mode: int = 0o755) -> None:
        """A folder (and its parents, owned by root)."""
        parts = Path(name).parts
        for i in range(1, len(parts) + 1):
            path = "/".join(parts[:i])
            if path in self._dirs:
                continue
            self._dirs.add(path)
            info = tarfile.TarInfo(path)
            info.type = tarfile.DIRTYPE
            info.uid, info.gid = (uid, uid) if i == len(parts) else (0, 0)
            info.mode = mode if i == len(parts) else 0o755
            self.tar.addfile(info)

    def file(self, name: str, data: bytes, uid: int = 0, mode: int = 0o444) -> None:
        """A file with that content."""
        self.folder(str(Path(name).parent))
        info = tarfile.TarInfo(name)
        info.size, info.uid, info.gid, info.mode = len(data), uid, uid, mode
        self.tar.addfile(info, io.BytesIO(data))

    def link(self, name: str, target: str) -> None:
        """A symbolic link."""
        self.folder(str(Path(name).parent))
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.SYMTYPE, target
        self.tar.addfile(info)

    def tree(self, source: Path, name: str, uid: int = 0, writable: bool = False, skip: Iterable[str] = ()) -> None:
        """A folder of this machine, whole (entries named in ``skip`` left out at its top level).

        Owned by root and read-only unless ``writable`` (then owned by ``uid``).
        """
        skipped = set(skip)
        owner = uid if writable else 0
        dir_mode, file_mode = (0o755, 0o644) if writable else (0o555, 0o444)
        self.folder(name, owner, dir_mode)
        for root, dirs, files in os.walk(source):
            rel = Path(root).relative_to(source)
            dirs[:] = sorted(d for d in dirs if not (rel == Path(".") and d in skipped) and d != "__pycache__")
            for d in dirs:
                self.folder(f"{name}/{(rel / d).as_posix()}", owner, dir_mode)
            for f in sorted(files):
                if (rel == Path(".") and f in skipped) or f.endswith(".pyc"):
                    continue
                path = Path(root) / f
                if path.is_symlink() and not path.exists():
                    continue
                executable = os.access(path, os.X_OK)
                self.file(f"{name}/{(rel / f).as_posix()}", path.read_bytes(), owner,
                          file_mode | (0o111 if executable else 0))

    def bytes(self) -> bytes:
        """The finished archive."""
        self.tar.close()
        return self.buffer.getvalue()


def fetch(container: Any, path: str, into: Path) -> bool:
    """Extract ``path`` of the container (a file or a folder) into the local folder ``into``.

    Returns:
        False when the container has no such path.
    """
    from docker.errors import NotFound

    try:
        stream, _ = container.get_archive(path)
        data = b"".join(stream)
    except NotFound:
        return False
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return True


def fetch_replacing(container: Any, path: str, local: Path) -> bool:
    """Replace the local folder ``local`` by the container's folder ``path`` (in one rename)."""
    staging = local.parent / f".{local.name}-incoming"
    shutil.rmtree(staging, ignore_errors=True)
    if not fetch(container, path, staging):
        return False
    fetched = staging / Path(path).name
    old = local.parent / f".{local.name}-old"
    shutil.rmtree(old, ignore_errors=True)
    if local.exists():
        os.replace(local, old)
    os.replace(fetched, local)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    return True


def read_file(container: Any, path: str) -> bytes | None:
    """The content of one file of the container, or ``None`` when it does not exist."""
    from docker.errors import NotFound

    try:
        stream, _ = container.get_archive(path)
        data = b"".join(stream)
    except NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member is not None else None
        return handle.read() if handle is not None else None
