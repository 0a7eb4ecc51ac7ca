"""Memory and CPU limits of a local trial: a cgroup of its own (v2 where its controllers are delegated, else the v1
``memory`` and ``cpu`` hierarchies), when this user may create one. Nothing here pretends: ``Cgroups.probe``
says which limits can be enforced, and the backend says in its sandbox line which ones are not.

``prlimit``'s RLIMIT_AS is not used for memory: TensorFlow reserves far more address space than it uses and fails
under it, so it would refuse good trials rather than limit bad ones.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
#: The folder (in each hierarchy) that holds the trials' cgroups.
GROUP = "mlops-trials"
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
CPU_PERIOD_US = 100_000


def memory_bytes(memory: str) -> int:
    """``trial.memory`` (``4g``, ``512m``, ``1.5g``, bytes) in bytes."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kmgKMG]?)", memory.strip())
    if not m:
        raise ValueError(f"trial.memory must look like 4g or 512m, but got {memory!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK)


@dataclass
class Cgroup:
    """One trial's (or warm zygote's) cgroup: one folder per hierarchy it was made in."""

    folders: list[Path]
    version: str  # "v1" | "v2"
    memory_file: Path | None = None  # where ``oom_kill N`` is counted
    _ooms: int = field(default=0, init=False)

    def attach_self(self) -> None:
        """Move the calling process into the cgroup (run in the child before ``exec``)."""
        pid = str(os.getpid())
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(pid)

    def oom_kills(self) -> int:
        """Out-of-memory kills in the cgroup so far."""
        if self.memory_file is None:
            return 0
        try:
            for line in self.memory_file.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> None:
        """Remove the cgroup once its processes are gone (a few tries: the kernel frees them shortly after)."""
        for folder in self.folders:
            for _ in range(20):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


class Cgroups:
    """Where this machine lets mlops make cgroups, and what they can limit."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root

    def _v2_root(self) -> Path | None:
        for candidate in (self.root, self.root / "unified"):
            controllers = candidate / "cgroup.controllers"
            try:
                if "memory" in controllers.read_text().split() and _writable(candidate):
                    return candidate
            except OSError:
                continue
        return None

    def probe(self) -> tuple[str, set[str]]:
        """``(version, limits)``: ``("v2", {"memory", "cpu"})``; ``("", set())`` when no cgroup can be made."""
        v2 = self._v2_root()
        if v2 is not None:
            controllers = set((v2 / "cgroup.controllers").read_text().split())
            return "v2", {"memory", "cpu"} & controllers
        limits = {name for name in ("memory", "cpu") if _writable(self.root / name)}
        return ("v1", limits) if limits else ("", set())

    def create(self, memory: str | None, cpus: float | None) -> Cgroup | None:
        """A new cgroup limited to ``memory`` and ``cpus`` (what can be limited here), or ``None``."""
        name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.remove_stale()
        try:
            v2 = self._v2_root()
            if v2 is not None:
                return self._create_v2(v2, name, memory, cpus)
            return self._create_v1(name, memory, cpus)
        except OSError:
            return None

    def remove_stale(self) -> int:
        """Remove the empty cgroups that processes now gone made (one killed before it removed its own)."""
        removed = 0
        for group in (self.root / GROUP, self.root / "unified" / GROUP, self.root / "memory" / GROUP,
                      self.root / "cpu" / GROUP):
            for folder in group.iterdir() if group.is_dir() else []:
                owner = folder.name.split("-", 1)[0]
                if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                    try:
                        folder.rmdir()
                        removed += 1
                    except OSError:
                        continue
        return removed

    def _create_v2(self, root: Path, name: str, memory: str | None, cpus: float | None) -> Cgroup:
        wanted = {"memory", "cpu"} & set((root / "cgroup.controllers").read_text().split())
        enable = " ".join(f"+{c}" for c in sorted(wanted))
        (root / "cgroup.subtree_control").write_text(enable)
        group = root / GROUP
        group.mkdir(exist_ok=True)
        (group / "cgroup.subtree_control").write_text(enable)
        folder = group / name
        folder.mkdir()
        if memory and "memory" in wanted:
            (folder / "memory.max").write_text(str(memory_bytes(memory)))
            if (folder / "memory.swap.max").exists():
                (folder / "memory.swap.max").write_text("0")
        if cpus and "cpu" in wanted:
            (folder / "cpu.max").write_text(f"{int(cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}")
        return Cgroup([folder], "v2", folder / "memory.events" if "memory" in wanted else None)

    def _create_v1(self, name: str, memory: str | None, cpus: float | None) -> Cgroup | None:
        folders: list[Path] = []
        memory_file = None
        if memory and _writable(self.root / "memory"):
            folder = self.root / "memory" / GROUP / name
            folder.mkdir(parents=True)
            folders.append(folder)
            (folder / "memory.limit_in_bytes").write_text(str(memory_bytes(memory)))
            swap = folder / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(memory_bytes(memory)))
            memory_file = folder / "memory.oom_control"
        if cpus and _writable(self.root / "cpu"):
            folder = self.root / "cpu" / GROUP / name
            folder.mkdir(parents=True)
            folders.append(folder)
            (folder / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (folder / "cpu.cfs_quota_us").write_text(str(int(cpus * CPU_PERIOD_US)))
        return Cgroup(folders, "v1", memory_file) if folders else None
