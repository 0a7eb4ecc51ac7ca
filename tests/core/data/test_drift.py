"""Feature drift on the example's batches (another sample of the same source, a drifted batch) and on deliberately
shifted copies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.drift import DriftReport, DriftThresholds, FeatureDrift, detect_drift
from tests.core.data.conftest import LABEL

FEATURES = 13
CATEGORIES = {"site", "pump_model", "lubricant"}


@pytest.fixture(scope="module")
def shifted_columns(current: pd.DataFrame) -> list[str]:
    """Every other number feature of the example (5 of 13)."""
    return [c for c in current.select_dtypes("number").columns if c != LABEL][::2]


def _shift(rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = rows.copy()
    out[columns] = out[columns] * 1.3 + out[columns].std() * 0.2
    return out


def test_another_sample_of_the_same_source_does_not_drift(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    report = detect_drift(reference, current, label=LABEL)
    assert len(report.features) == FEATURES and LABEL not in {f.column for f in report.features}
    assert not report.drifted and report.drift_share == 0
    assert {f.column: f.method for f in report.features if f.method != "ks"} == dict.fromkeys(CATEGORIES, "chi2")


def test_the_drifted_batch_drifts_where_the_fleet_changed(reference: pd.DataFrame, drifted: pd.DataFrame) -> None:
    report = detect_drift(reference, drifted, label=LABEL)
    assert {"vibration_mm_s", "site"} <= set(report.drifted_columns)  # recalibrated sensors, a new site
    assert "pressure_bar" not in report.drifted_columns
    assert not report.drifted  # a few of 13 features: under the default drift share of 50%


def test_shifted_features_drift_and_the_others_keep_their_results(reference: pd.DataFrame, current: pd.DataFrame,
                                                                   shifted_columns: list[str]) -> None:
    before = detect_drift(reference, current, label=LABEL)
    after = detect_drift(reference, _shift(current, shifted_columns), label=LABEL)
    assert set(shifted_columns) <= set(after.drifted_columns)
    unchanged = {f.column: f for f in before.features if f.column not in shifted_columns}
    assert all(unchanged[f.column] == f for f in after.features if f.column in unchanged)
    assert after.drift_share == pytest.approx(len(after.drifted_columns) / FEATURES)
    assert not after.drifted  # 5 of 13 is under the default drift share of 50%
    assert detect_drift(reference, _shift(current, shifted_columns), label=LABEL,
                        thresholds=DriftThresholds(drift_share=0.3)).drifted


def test_drift_issues_are_one_line_warnings_worst_first(reference: pd.DataFrame, current: pd.DataFrame,
                                                        shifted_columns: list[str]) -> None:
    report = detect_drift(reference, _shift(current, shifted_columns), label=LABEL,
                          thresholds=DriftThresholds(drift_share=0.3))
    issues = report.issues(source="batch-1.csv.gz", limit=3)
    assert all(i.severity == "warning" and "\n" not in str(i) for i in issues)
    assert issues[0].message.startswith(f"data drift: {len(report.drifted_columns)} of {FEATURES} features drifted")
    listed = [i.column for i in issues[1:4]]
    effect = {f.column: f.statistic for f in report.features}  # the KS statistic
    assert set(listed) <= set(report.drifted_columns)
    assert [effect[c] for c in listed] == sorted((effect[c] for c in listed), reverse=True)
    assert min(effect[c] for c in listed) >= max(effect[c] for c in report.drifted_columns if c not in listed)
    assert issues[-1].message == f"... and {len(report.drifted_columns) - 3} more drifted features"


@pytest.mark.parametrize("method", ["chi2", "psi"])
def test_a_category_whose_mix_changed_drifts(wines: pd.DataFrame, method: str) -> None:
    colour = wines.assign(Colour=np.where(wines["Hue"] > 1, "pale", "deep"))
    same = colour.sample(frac=1, random_state=1)
    mostly_pale = colour.assign(Colour=np.where(wines["Hue"] > 0.7, "pale", "deep"))
    thresholds = DriftThresholds(categorical=method)
    assert not _colour(detect_drift(colour, same, "Class", thresholds)).drifted
    shifted = _colour(detect_drift(colour, mostly_pale, "Class", thresholds))
    assert (shifted.method, shifted.drifted) == (method, True)


def _colour(report: DriftReport) -> FeatureDrift:
    return next(f for f in report.features if f.column == "Colour")


def test_a_column_with_too_few_values_is_skipped_not_tested(wines: pd.DataFrame) -> None:
    sparse = wines.astype({"Ash": "float64"})
    sparse.loc[10:, "Ash"] = np.nan
    report = detect_drift(wines, sparse, "Class")
    ash = next(f for f in report.features if f.column == "Ash")
    assert (ash.method, ash.drifted) == ("skipped", False)
    assert "fewer than 20 values" in ash.note
