"""The model of one worker, and whether the whole server (every worker) is ready to answer."""

from __future__ import annotations

import os
from pathlib import Path

from ..models import ServedModel


class ModelSlot:
    """This worker's model (``None`` until loaded) and the server's readiness across workers.

    With several workers each one loads the model itself; a request may reach any of them, so the
    server is ready only once every live worker has its model. Each worker leaves a file named after
    its pid in ``ready_dir`` when it has loaded.
    """

    def __init__(self, ready_dir: Path | None = None, workers: int = 1) -> None:
        self.model: ServedModel | None = None
        self.ready_dir = ready_dir
        self.workers = workers

    def loaded(self, model: ServedModel) -> None:
        """Serve ``model`` from now on and tell the other workers."""
        self.model = model
        if self.ready_dir is not None:
            (self.ready_dir / str(os.getpid())).touch()

    def ready(self) -> bool:
        """Whether this worker and every other live worker have the model."""
        if self.model is None:
            return False
        if self.ready_dir is None:
            return True
        return sum(_alive(int(p.name)) for p in self.ready_dir.iterdir() if p.name.isdigit()) >= self.workers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
