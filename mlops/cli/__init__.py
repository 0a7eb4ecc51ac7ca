"""The ``mlops`` command line: one command per pipeline stage, plus ``run`` for all of them.

One module per command group; no logic here. Heavy modules (training, the backends, the store) are
imported inside the commands so that ``mlops --help`` is instant.
"""

from __future__ import annotations

from mlops.cli import config, data, hook, live, models, page, predict, projects, run, runs, serve  # noqa: F401 - registers the commands
from mlops.cli._app import app
from mlops.cli.stages import derive_stage_commands

derive_stage_commands(app)

__all__ = ["app"]
