"""The command line's choices for one run (``mlops run`` and the stage commands)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunOptions:
    """Command-line choices of ``mlops run`` (``None`` means: take it from mlops.yaml / env)."""

    backend: str = "auto"
    notify: bool = True
    fresh: bool = False
    push: bool = True
    #: The project's name when mlops.yaml has none (the git hook passes the repository's name).
    project_name: str | None = None
    #: Where the project comes from, which its name is bound to (default: its git remote or folder; the git hook
    #: passes its repository, since each push is checked out into a new folder).
    origin: str | None = None
    #: The run's id, known in advance so that workers of other machines can join it (``mlops worker ID``).
    run_id: str | None = None
    #: Hide the trials' own output.
    quiet: bool = False
    #: Dotted ``mlops.yaml`` fields set on the command line: the flags of ``core.config.setting`` declarations
    #: (``None``: not given), and ``mlops retrain``'s (its ground-truth file in ``data.path``).
    config: dict[str, Any] = field(default_factory=dict)
    #: The git hook runs a push: ``--backend auto`` refuses to run it without a sandbox (as under Jenkins).
    from_hook: bool = False

    def overrides(self) -> dict[str, Any]:
        """Dotted config fields set on the command line (and by ``mlops retrain``), for ``load_config``."""
        return {path: value for path, value in self.config.items() if value is not None}
