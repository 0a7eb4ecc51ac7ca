"""The gate: target, tolerances against production on the same rows, infra validation; always a reason."""

from __future__ import annotations

from mlops.config import GateMetric
from mlops.gate import decide
from mlops.records import Evaluation, InfraCheck

SERVED = InfraCheck(status="passed", reason="5 test rows predicted alike")


def ev(**metrics: float) -> Evaluation:
    return Evaluation(snapshot="s1", metrics=metrics)


def gate(candidate: dict, baseline: dict | None, rules: dict | None = None, metric: str = "cost",
         goal: str = "minimize", target: float = 5000, infra: InfraCheck = SERVED):
    return decide(run_id="r", project="aps", version=2, metric=metric, goal=goal, target=target, gate=rules or {},
                  candidate=candidate, baseline=baseline, baseline_version=1 if baseline else None, infra=infra)


def test_with_no_production_version_the_target_and_the_infra_validation_decide() -> None:
    blessed = gate({"candidate": ev(cost=1200)}, None)
    assert blessed.blessed and "no production version" in blessed.reason
    missed = gate({"candidate": ev(cost=6000)}, None)
    assert not missed.blessed and missed.reason == "cost 6000 is over the target 5000"
    unserved = gate({"candidate": ev(cost=1200)}, None, infra=InfraCheck(status="failed", reason="exit code 3"))
    assert not unserved.blessed and unserved.reason == "infra validation failed: exit code 3"


def test_a_candidate_worse_than_production_by_more_than_its_tolerance_is_not_blessed() -> None:
    rules = {"cost": GateMetric(relative=0.1), "recall": GateMetric(absolute=0.05)}
    candidate = {"candidate": ev(cost=1300, recall=0.80)}
    production = {"candidate": ev(cost=1200, recall=0.84)}
    decision = gate(candidate, production, rules)
    assert decision.blessed, decision.reason  # 1300 <= 1200 * 1.1 and 0.80 >= 0.84 - 0.05
    worse = gate({"candidate": ev(cost=1400, recall=0.80)}, production, rules)
    assert not worse.blessed
    assert worse.reason.startswith("cost 1400 is worse than production's 1200 on the candidate's test rows")
    [cost] = [c for c in worse.checks if (c.metric, c.check) == ("cost", "tolerance")]
    assert (cost.limit, cost.change, cost.passed) == (1320, 200, False)


def test_every_set_of_rows_counts_and_no_tolerance_means_not_worse_at_all() -> None:
    candidate = {"candidate": ev(cost=900), "production": ev(cost=1500)}
    production = {"candidate": ev(cost=1000), "production": ev(cost=1400)}
    decision = gate(candidate, production)
    assert not decision.blessed and "on the production's test rows" in decision.reason
    assert [(c.check, c.rows, c.passed) for c in decision.checks] == [
        ("target", "candidate", True), ("tolerance", "candidate", True), ("tolerance", "production", False)]


def test_a_threshold_and_the_direction_can_be_set_per_metric() -> None:
    rules = {"f1": GateMetric(threshold=0.7), "cost": GateMetric(greater_is_better=True, absolute=0)}
    decision = gate({"candidate": ev(cost=1300, f1=0.6)}, {"candidate": ev(cost=1200, f1=0.5)}, rules)
    assert [c.failed for c in decision.checks if not c.passed] == ["f1 0.6 does not reach its threshold 0.7"]


def test_a_run_without_a_model_gets_a_decision_too() -> None:
    decision = decide(run_id="r", project="aps", version=None, metric="cost", goal="minimize", target=1, gate={},
                      candidate={}, baseline=None, baseline_version=None, infra=InfraCheck())
    assert not decision.blessed and decision.line() == "NOT BLESSED: the run registered no model to evaluate"
