"""The evaluation gate: a candidate model against the version that holds ``production`` -> a decision.

Blessed when the target is reached, no gated metric is worse than production's by more than its tolerance (on
every set of test rows both were evaluated on), and the version answered ``/predict`` in its serving environment
like it did in training (infra validation). With no production version, the target and the infra validation
decide. The decision is always made and always says why (TFX writes no blessing at all when no threshold is set;
here "not blessed" is a recorded decision too).
"""

from __future__ import annotations

from core.config import METRICS, GateMetric
from core.records import Decision, Evaluation, GateCheck, InfraCheck

#: Floating-point noise below which "worse" does not count.
EPSILON = 1e-9
#: Which test rows: the candidate's snapshot's, or the production model's (when their snapshots differ).
ROWS = ("candidate", "production")


def greater_is_better(metric: str, rule: GateMetric | None = None) -> bool:
    """Whether a metric improves upwards (``greater_is_better`` in ``gate:`` overrides the metric's direction)."""
    if rule is not None and rule.greater_is_better is not None:
        return rule.greater_is_better
    return METRICS.get(metric, "maximize") == "maximize"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def target_check(metric: str, goal: str, target: float, evaluation: Evaluation) -> GateCheck:
    """The candidate's metric on its own test rows against the target."""
    value = evaluation.metrics.get(metric)
    up = goal == "maximize"
    check = GateCheck(metric=metric, check="target", candidate=value, limit=target, greater_is_better=up)
    if value is None:
        check.failed = f"the candidate has no {metric}"
    elif (value >= target) if up else (value <= target):
        check.passed = True
    else:
        check.failed = f"{metric} {_fmt(value)} is {'under' if up else 'over'} the target {target:g}"
    return check


def tolerance_check(metric: str, rule: GateMetric, rows: str, candidate: Evaluation, baseline: Evaluation
                    ) -> list[GateCheck]:
    """A gated metric of the candidate against production's on the same rows (and its ``threshold``)."""
    up = greater_is_better(metric, rule)
    value, base = candidate.metrics.get(metric), baseline.metrics.get(metric)
    check = GateCheck(metric=metric, check="tolerance", rows=rows, candidate=value, baseline=base,
                      greater_is_better=up)
    checks = [check]
    if value is None:
        check.failed = f"the candidate has no {metric}"
    elif base is None:
        check.passed = True  # nothing to compare with: production never measured it
    else:
        allowed = slack(rule, base)
        check.limit = base - allowed if up else base + allowed
        check.change = value - base
        worse = (base - value) if up else (value - base)
        check.passed = worse <= allowed + EPSILON
        if not check.passed:
            tolerance = f"its tolerance {allowed:.4g}" if allowed else "no tolerance"
            check.failed = (f"{metric} {_fmt(value)} is worse than production's {_fmt(base)} on the {rows}'s "
                            f"test rows (by {worse:.4g}; {tolerance})")
    if rule.threshold is not None and rows == "candidate":
        bound = GateCheck(metric=metric, check="threshold", rows=rows, candidate=value, limit=rule.threshold,
                          greater_is_better=up)
        bound.passed = value is not None and ((value >= rule.threshold) if up else (value <= rule.threshold))
        if not bound.passed:
            bound.failed = f"{metric} {_fmt(value)} does not reach its threshold {rule.threshold:g}"
        checks.append(bound)
    return checks


def slack(rule: GateMetric, base: float) -> float:
    """How much worse than ``base`` a rule lets a candidate be (0 when it gives no bound: "not worse at all")."""
    relative = None if rule.relative is None else rule.relative * abs(base)
    allowed = [b for b in (rule.absolute, relative) if b is not None]
    return min(allowed) if allowed else 0.0


def describe(rule: GateMetric) -> str:
    """A rule in a few words: ``absolute 0.02, threshold 0.8``, or ``not worse at all``."""
    parts = [f"{k} {v:g}" for k, v in (("absolute", rule.absolute), ("relative", rule.relative),
                                         ("threshold", rule.threshold)) if v is not None]
    if rule.greater_is_better is not None:
        parts.append(f"greater_is_better {str(rule.greater_is_better).lower()}")
    return ", ".join(parts) or "not worse at all"


def looser(rule: GateMetric, held: GateMetric, metric: str, base: float) -> bool:
    """Whether ``rule`` lets through a candidate that ``held`` would stop (at production's value ``base``)."""
    if rule.greater_is_better is not None and rule.greater_is_better != greater_is_better(metric, held):
        return True
    if slack(rule, base) > slack(held, base) + EPSILON:
        return True
    if held.threshold is None:
        return False
    up = greater_is_better(metric, held)
    return rule.threshold is None or (rule.threshold < held.threshold if up else rule.threshold > held.threshold)


def hold_to_production(gate: dict[str, GateMetric], metric: str, target: float, goal: str,
                       production_gate: dict[str, GateMetric], production_metric: str,
                       production_target: float | None, production_values: dict[str, float],
                       whose: str = "production's") -> tuple[dict[str, GateMetric], float, list[str]]:
    """The gate a candidate is held to when a version holds production: production's own gate (what it was gated
    with), tightened but never loosened by the candidate's ``mlops.yaml``.

    Args:
        gate: The candidate's ``gate:`` (empty: its metric, not worse at all); ``metric``, ``target`` and
            ``goal`` its run's.
        production_gate: The gate production was held to (empty: its metric, not worse at all).
        production_metric: Production's run's metric; ``production_target`` its target.
        production_values: Production's recorded figures (to weigh a relative tolerance).
        whose: Whose gate it is, for the lines (``production's``, or ``the operator's``).

    Returns:
        The gate and the target to hold the candidate to, and one line per rule the push loosened (ignored).
    """
    mine = gate or {metric: GateMetric()}
    theirs = production_gate or {production_metric: GateMetric()}
    held: dict[str, GateMetric] = {}
    loosened: list[str] = []
    for name, rule in theirs.items():
        given = mine.get(name)
        if given is None:
            loosened.append(f"{name}: not gated by the push ({whose}: {describe(rule)}; held to {whose})")
            held[name] = rule
        elif looser(given, rule, name, production_values.get(name, 0.0)):
            loosened.append(f"{name}: {describe(given)} ({whose}: {describe(rule)}; held to {whose})")
            held[name] = rule
        else:
            held[name] = given
    held.update({name: rule for name, rule in mine.items() if name not in held})
    if metric == production_metric and production_target is not None and (
            target < production_target if goal == "maximize" else target > production_target):
        loosened.append(f"target {target:g} ({whose}: {production_target:g}; held to {whose})")
        target = production_target
    return held, target, loosened


def decide(*, run_id: str, project: str, version: int | None, metric: str, goal: str, target: float,
           gate: dict[str, GateMetric], candidate: dict[str, Evaluation], baseline: dict[str, Evaluation] | None,
           baseline_version: int | None, infra: InfraCheck, compared_on: str = "") -> Decision:
    """Make the gate's decision.

    Args:
        run_id: The candidate's run.
        project: Its project.
        version: The candidate's model version (``None``: the run registered no model).
        metric: The run's metric; ``goal`` its direction and ``target`` the value to reach.
        gate: Metric -> tolerance (``gate:`` in mlops.yaml); empty means the run's metric, no worse at all.
        candidate: The candidate's evaluations by rows (``candidate``, ``production``).
        baseline: Production's evaluations on the same rows, or ``None`` when no version holds production.
        baseline_version: The version that holds production.
        infra: The infra validation's result.
        compared_on: How the two were compared, for people.
    """
    decision = Decision(run_id=run_id, project=project, version=version, baseline_version=baseline_version,
                        metric=metric, target=target, infra=infra, compared_on=compared_on,
                        evaluations={f"candidate_on_{k}": v for k, v in candidate.items()}
                        | {f"production_on_{k}": v for k, v in (baseline or {}).items()},
                        rows={k: v.snapshot for k, v in candidate.items()})
    if version is None or "candidate" not in candidate:
        decision.reason = "the run registered no model to evaluate"
        return decision
    checks = [target_check(metric, goal, target, candidate["candidate"])]
    if baseline is not None:
        for name, rule in (gate or {metric: GateMetric()}).items():
            for rows in ROWS:
                if rows in candidate and rows in baseline:
                    checks += tolerance_check(name, rule, rows, candidate[rows], baseline[rows])
    decision.checks = checks
    failed = [c for c in checks if not c.passed]
    if failed:
        decision.reason = failed[0].failed + (f" (and {len(failed) - 1} more check(s) failed)" if len(failed) > 1
                                               else "")
    elif infra.status != "passed":
        decision.reason = f"infra validation {infra.status}: {infra.reason}"
    else:
        decision.blessed = True
        value = candidate["candidate"].metrics[metric]
        against = (f"no worse than production v{baseline_version} on {len(checks) - 1} check(s)"
                   if baseline is not None else "no production version to compare with")
        decision.reason = (f"{metric} {_fmt(value)} reaches the target {target:g}; {against}; "
                           f"served like in training ({infra.reason})")
    return decision
