"""The gate: target, tolerances against production on the same rows, infra validation; always a reason."""

from __future__ import annotations

from core.config import GateMetric
from core.gate import decide
from core.records import Evaluation, InfraCheck

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


def test_a_candidate_that_loosens_the_gate_is_held_to_productions() -> None:
    from core.gate import hold_to_production

    rules, target, loosened = hold_to_production(
        {"accuracy": GateMetric(relative=1.0)}, "accuracy", 0.5, "maximize",
        {}, "accuracy", 0.9, {"accuracy": 0.97})  # production: accuracy not worse at all, target 0.9
    assert rules == {"accuracy": GateMetric()} and target == 0.9
    assert loosened == ["accuracy: relative 1 (production's: not worse at all; held to production's)",
                        "target 0.5 (production's: 0.9; held to production's)"]
    held = decide(run_id="r", project="wine", version=2, metric="accuracy", goal="maximize", target=target,
                  gate=rules, candidate={"candidate": ev(accuracy=0.81)}, baseline={"candidate": ev(accuracy=0.97)},
                  baseline_version=1, infra=SERVED)
    assert not held.blessed and held.reason.startswith("accuracy 0.81 is under the target 0.9")
    assert [c.passed for c in held.checks] == [False, False]  # the target and "not worse than production"
    tighter, target, loosened = hold_to_production(
        {"accuracy": GateMetric(absolute=0.01, threshold=0.95), "f1": GateMetric()}, "accuracy", 0.95, "maximize",
        {"accuracy": GateMetric(absolute=0.02)}, "accuracy", 0.9, {"accuracy": 0.97})
    assert tighter == {"accuracy": GateMetric(absolute=0.01, threshold=0.95), "f1": GateMetric()}
    assert (target, loosened) == (0.95, [])
    _, _, dropped = hold_to_production({}, "f1", 0.5, "maximize", {"accuracy": GateMetric(threshold=0.9)},
                                       "accuracy", 0.9, {})
    assert dropped == ["accuracy: not gated by the push (production's: threshold 0.9; held to production's)"]


def test_a_candidate_must_take_productions_inputs() -> None:
    from mlops.pipeline.held import inputs_change

    wine = {"shape": [13], "features": []}
    assert inputs_change({"shape": [4], "features": []}, wine) == "candidate takes 4 inputs, production takes 13"
    assert inputs_change({"shape": [13], "features": []}, wine) == ""
    named = {"features": ["alcohol", "ash", "hue"]}
    assert inputs_change({"features": ["alcohol", "ash", "hue"]}, named) == ""
    assert "(hue gone)" in inputs_change({"features": ["alcohol", "ash", "color"]}, named)
    assert inputs_change({"shape": [28, 28, 1], "features": []}, {"shape": [784], "features": []}) == \
        "candidate takes inputs of shape [28, 28, 1], production [784]"
