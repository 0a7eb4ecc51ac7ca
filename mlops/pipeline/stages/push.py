"""Push model: a blessed version moves to ``production`` (``approval: auto``) or ``candidate`` (``manual``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import PushRefused
from mlops.pipeline.stages._base import BaseStage

if TYPE_CHECKING:
    from mlops.pipeline.context import RunContext


@dataclass(frozen=True)
class PushModel(BaseStage):
    """Move the alias the decision and ``approval:`` say (nothing for a version the gate did not bless)."""

    def run(self, ctx: RunContext) -> None:
        """Add what was pushed to the summary; a push refused because production moved since the gate is said and
        recorded in the summary (the run stays recorded)."""
        from mlops.pipeline.push import push_blessed

        if not ctx.opts.push:
            return
        try:
            ctx.summary.pushed = push_blessed(ctx.store, ctx.run, ctx.decision, ctx.cfg.approval, ctx.out)
        except PushRefused as e:
            ctx.out.fail(str(e))
            ctx.summary.pushed, ctx.summary.push_refused = None, str(e)
