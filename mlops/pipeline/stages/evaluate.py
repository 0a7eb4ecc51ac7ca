"""Evaluate, the gate: the candidate against production, decided once and recorded (``mlops run`` goes on either
way; the Jenkins stage fails on it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops.pipeline.stages._base import BaseStage

if TYPE_CHECKING:
    from mlops.pipeline.context import RunContext


@dataclass(frozen=True)
class Evaluate(BaseStage):
    """Gate the run's model: blessed or not, with every check behind it."""

    def run(self, ctx: RunContext) -> None:
        """Record the decision, add it and the verdict to the summary, and write the report again with it."""
        from mlops.pipeline.finish import rewrite_report  # the gate serves models: not for `mlops --help`
        from mlops.pipeline.gate import gate_run
        from mlops.pipeline.summary import verdict

        ctx.found_decision = decision = gate_run(ctx.store, ctx.run, ctx.out)
        ctx.summary.gated(decision)
        ctx.summary.verdict = verdict(ctx.run)
        rewrite_report(ctx.store, ctx.run)
