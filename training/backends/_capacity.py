"""What one trial can get at most where a backend runs it: the CPUs and memory of the machine or Docker engine."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Capacity:
    """The most a trial can be given.

    Attributes:
        cpus: CPUs of the machine (or Docker engine's machine).
        memory: Its memory in bytes (``None``: unknown, then ``trial.memory`` is not bounded).
        where: The machine or engine, as lines name it (``this machine``, ``the Docker engine unix://...``).
    """

    cpus: float
    memory: int | None
    where: str


def this_machine() -> Capacity:
    """The CPUs this process may run on and the machine's physical memory."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        memory: int | None = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    return Capacity(cpus, memory, "this machine")
