"""Validate data: snapshot, schema and drift of ``data:`` (a project without it has nothing to validate)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops.pipeline.stages._base import BaseStage

if TYPE_CHECKING:
    from mlops.pipeline.context import RunContext


@dataclass(frozen=True)
class ValidateData(BaseStage):
    """Take the snapshot, check it against the project's schema, measure drift against production's."""

    def run(self, ctx: RunContext) -> None:
        """Record the snapshot and what validating it found.

        Raises:
            DataError: The data cannot be used (exit code 1); nothing is stored.
        """
        from mlops.pipeline.data import check_data  # pandas: not for `mlops --help`

        if ctx.cfg.data is not None:
            ctx.data_check, ctx.snapshot = check_data(ctx.cfg, ctx.project_dir, ctx.name, ctx.store, ctx.out)
