"""Scoring predictions: binary metrics of the positive class, the cost matrix, per-class figures, regression."""

from __future__ import annotations

import pytest

from core.evaluation import evaluate_predictions

#: 10 rows, 3 positives: 2 found, 1 missed, 1 false alarm.
TRUTH = ["neg"] * 7 + ["pos"] * 3
PREDICTED = ["neg"] * 6 + ["pos"] + ["pos", "pos", "neg"]


def test_binary_metrics_are_those_of_the_positive_class_and_the_cost_counts_misses_and_false_alarms() -> None:
    result = evaluate_predictions(TRUTH, PREDICTED, positive="pos", cost=(10, 500))
    assert result.metrics["accuracy"] == pytest.approx(8 / 10)
    assert result.metrics["precision"] == pytest.approx(2 / 3) and result.metrics["recall"] == pytest.approx(2 / 3)
    assert result.metrics["cost"] == 10 * 1 + 500 * 1
    assert result.labels == ["neg", "pos"] and result.confusion == [[6, 1], [1, 2]]
    assert result.per_class["neg"]["recall"] == pytest.approx(6 / 7) and result.per_class["pos"]["support"] == 3
    other_way = evaluate_predictions(TRUTH, PREDICTED, positive="neg", cost=(10, 500))
    assert other_way.metrics["recall"] == pytest.approx(6 / 7)


def test_roc_auc_needs_probabilities_and_uses_the_positive_column() -> None:
    probabilities = [[0.9, 0.1]] * 6 + [[0.4, 0.6]] + [[0.2, 0.8], [0.3, 0.7], [0.6, 0.4]]
    result = evaluate_predictions(TRUTH, PREDICTED, classes=["neg", "pos"], probabilities=probabilities,
                                  positive="pos")
    assert 0.5 < result.metrics["roc_auc"] <= 1
    assert "roc_auc" not in evaluate_predictions(TRUTH, PREDICTED, positive="pos").metrics


def test_more_than_two_classes_are_averaged_and_have_no_cost() -> None:
    result = evaluate_predictions(["a", "b", "c", "c"], ["a", "c", "c", "c"])
    assert result.metrics["recall"] == pytest.approx((1 + 0 + 1) / 3) and "cost" not in result.metrics
    assert result.confusion == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]


def test_regression_is_scored_with_errors_and_r2() -> None:
    result = evaluate_predictions([1.0, 2.0, 3.0], [1.0, 2.0, 5.0], task="regression")
    assert result.metrics["mae"] == pytest.approx(2 / 3) and result.metrics["mse"] == pytest.approx(4 / 3)
    assert result.metrics["rmse"] == pytest.approx((4 / 3) ** 0.5) and result.confusion == []


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="2 predictions for 3 rows"):
        evaluate_predictions(["a", "b", "a"], ["a", "b"])
