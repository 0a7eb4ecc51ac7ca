"""The rollout's judgement: candidate against production on the same labelled rows (paired), promote / roll back /
wait, with the numbers it rests on."""

from __future__ import annotations

import random

from monitor.judge import Paired, Rules, Served, judge, mcnemar_p


def _pairs(n: int, production_right: float, candidate_right: float, seed: int = 0) -> list[Paired]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.choice("ab")
        other = "b" if label == "a" else "a"
        out.append(Paired(label, label if rng.random() < production_right else other,
                          label if rng.random() < candidate_right else other))
    return out


SERVING = Served(requests=500, errors=0, p99_ms=20.0)


def test_a_clearly_worse_candidate_is_rolled_back_with_its_numbers() -> None:
    verdict = judge(_pairs(200, 0.92, 0.60), SERVING, SERVING, Rules(min_labels=50, tolerance=0.01))
    assert verdict.decision == "rollback"
    assert verdict.high is not None and verdict.high < -0.01
    assert verdict.only_production > verdict.only_candidate and verdict.p_value is not None and verdict.p_value < 1e-6
    assert "worse by more than the tolerance 0.01" in verdict.reason
    assert "on the same 200 labelled rows" in verdict.reason


def test_a_better_candidate_is_promoted() -> None:
    verdict = judge(_pairs(200, 0.70, 0.95), SERVING, SERVING, Rules(min_labels=50, tolerance=0.01))
    assert verdict.decision == "promote" and verdict.low is not None and verdict.low > 0
    assert verdict.candidate_accuracy is not None and verdict.production_accuracy is not None
    assert verdict.candidate_accuracy > verdict.production_accuracy


def test_too_few_labels_wait_whatever_they_say() -> None:
    verdict = judge(_pairs(20, 0.9, 0.3), SERVING, SERVING, Rules(min_labels=50))
    assert verdict.decision == "wait" and "20 of the 50 labels needed" in verdict.reason
    assert judge([], SERVING, SERVING).decision == "wait"


def test_an_even_candidate_waits_until_the_label_budget_then_is_decided_on_the_difference() -> None:
    even = _pairs(300, 0.85, 0.85, seed=3)
    undecided = judge(even, SERVING, SERVING, Rules(min_labels=50, tolerance=0.0, max_labels=1000))
    assert undecided.decision == "wait" and "still spans" in undecided.reason
    decided = judge(even, SERVING, SERVING, Rules(min_labels=50, tolerance=0.0, max_labels=300))
    assert decided.decision == ("promote" if (decided.difference or 0) >= 0 else "rollback")
    assert "decided on the difference itself" in decided.reason


def test_a_failing_or_slow_candidate_is_rolled_back_before_any_label() -> None:
    failing = judge([], SERVING, Served(requests=100, errors=9, p99_ms=20.0))
    assert failing.decision == "rollback" and "failed 9 of 100 requests (9.0%)" in failing.reason
    slow = judge([], SERVING, Served(requests=100, errors=0, p99_ms=90.0))
    assert slow.decision == "rollback" and "p99 latency 90 ms" in slow.reason
    assert judge([], SERVING, Served(requests=5, errors=5)).decision == "wait"  # too few requests to count


def test_mcnemar_exact_p_values() -> None:
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(5, 5) == 1.0
    assert abs(mcnemar_p(0, 10) - 2 / 1024) < 1e-12
    assert mcnemar_p(10, 0) == mcnemar_p(0, 10)
