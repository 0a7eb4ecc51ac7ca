"""Run a project through the stages (``mlops run``), or up to one of them (``mlops train``).

Validate data -> detect -> build -> train and tune -> evaluate (the gate) -> push, then the report mail. A run of
the same project, script (or snapshot, for a data project) and configuration that was killed half way is
continued (its trials are kept) unless ``fresh``.
"""

from __future__ import annotations

from pathlib import Path

from core.console import Out
from core.records import RunStatus
from core.store import RunStore, get_run_store
from mlops.pipeline.context import RunContext
from mlops.pipeline.options import RunOptions
from mlops.pipeline.stages import STAGES, Stage
from mlops.pipeline.summary import Summary, say_verdict


def run_project(project: Path, opts: RunOptions, out: Out, store: RunStore | None = None,
                until: Stage | None = None) -> Summary:
    """Run the stages of ``mlops run`` in order (up to and including ``until``, one that trains or later), mail
    the report as ``mail:`` says, and return the summary.

    Raises:
        UsageError: Bad project, config or code (exit code 2).
        MlopsError: A stage could not run at all.
    """
    ctx = RunContext.open(project, opts, out, store or get_run_store())
    run_stages(ctx, until)
    summary = ctx.summary
    if opts.notify:
        mail = ctx.cfg.mail
        if mail.when == "always" or (mail.when == "failure" and ctx.run.status is not RunStatus.PASSED):
            from core.notify import send_run_report  # SMTP and the plots: only when a mail goes

            summary.mail = send_run_report(ctx.store, ctx.run.id, out)
    say_verdict(out, summary)
    return summary


def run_stages(ctx: RunContext, until: Stage | None = None) -> None:
    """Run the stages of ``mlops run`` on ``ctx`` in order, up to and including ``until``."""
    for stage in STAGES:
        if stage.in_run:
            stage.run(ctx)
        if stage is until:
            return
