"""Registry pushes: moving a project's alias (``production``, ``candidate``) to a run's model version, recorded in
the alias history; a blessed version is pushed as its ``approval:`` says, and only while production is still the
version the gate compared it with."""

from __future__ import annotations

from core.console import Out
from core.errors import AliasMoved, PushRefused, UsageError
from core.records import Decision, Event, Run
from core.registry import CANDIDATE, PRODUCTION, Registry
from core.store import ANY_VERSION, RunStore
from mlops.pipeline.summary import Pushed, verdict


def push_model(store: RunStore, run: Run, out: Out, alias: str = PRODUCTION, why: str = "",
               expected: int | object | None = ANY_VERSION) -> Pushed:
    """Point an alias of the project (``production``) at the run's model version, recorded in the alias history.

    Args:
        expected: Compare-and-swap: the version the alias must still point at (the one the gate compared with).

    Raises:
        UsageError: The run has no model version.
        AliasMoved: ``expected`` is given and another run moved the alias meanwhile.
    """
    if not run.model_version:
        raise UsageError(f"run {run.id} has no model to push")
    registry = Registry(store)
    move = registry.promote(run.project, run.model_version, alias, why=why or f"pushed: {verdict(run)}",
                            run_id=run.id, expected=expected)
    folder = registry.folder(run.project, run.model_version)
    store.add_event(Event(type="push", run_id=run.id, project=run.project, version=run.model_version,
                          path=str(folder), alias=alias))
    out.info(f"pushed model v{move.version} of {run.project}: {alias} -> v{move.version} ({folder})")
    return Pushed(project=run.project, version=move.version, path=str(folder), alias=alias)


def push_blessed(store: RunStore, run: Run, decision: Decision, approval: str, out: Out) -> Pushed | None:
    """Push a blessed version: to ``production`` (``approval: auto``), or to ``candidate`` for a person to promote
    (``approval: manual``). A version that is not blessed is not pushed.

    Returns:
        What was pushed, or ``None``.

    Raises:
        PushRefused: Production moved after the gate compared the version with it.
    """
    if not decision.blessed:
        out.fail(f"not pushed: the gate did not bless model v{decision.version} ({decision.reason})")
        return None
    if approval == "manual" or decision.breaking:  # a declared change of inputs always waits for a person
        pushed = push_model(store, run, out, CANDIDATE, why=f"blessed, waiting for approval: {decision.reason}")
        out.info(f"approval: manual. To approve it: mlops promote {run.project} {pushed.version} --to "
                 f"{PRODUCTION} --reason \"...\"")
        return pushed.model_copy(update={"awaiting_approval": True})
    registry = Registry(store)
    if decision.version is not None and registry.aliases(run.project).get(PRODUCTION) == decision.version:
        out.info(f"model v{decision.version} of {run.project} is already {PRODUCTION}")  # pushed before
        return Pushed(project=run.project, version=decision.version, alias=PRODUCTION,
                      path=str(registry.folder(run.project, decision.version)))
    try:
        return push_model(store, run, out, PRODUCTION, why=f"blessed: {decision.reason}",
                          expected=decision.baseline_version)
    except AliasMoved as e:
        raise PushRefused(production_moved(run, decision, e.actual)) from e


def production_moved(run: Run, decision: Decision, now: int | None) -> str:
    """Why a blessed candidate is not pushed: production moved after its gate (a compare-and-swap failed)."""
    against = f"v{decision.baseline_version}" if decision.baseline_version is not None else "no production version"
    return (f"not pushed: {PRODUCTION} of {run.project} moved to v{now} (another run) after the gate compared "
            f"model v{decision.version} with {against}; run the project again to gate it against v{now}, or "
            f"promote it by hand: mlops promote {run.project} {decision.version} --to {PRODUCTION}")
