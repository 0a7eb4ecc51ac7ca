"""Feature drift on the real APS files and on deliberately shifted copies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.drift import DriftReport, DriftThresholds, FeatureDrift, detect_drift


@pytest.fixture(scope="module")
def shifted_columns(aps_current: pd.DataFrame) -> list[str]:
    """Every eighth feature of the APS data (22 of 170)."""
    return [c for c in aps_current.columns if c != "class"][::8]


def _shift(rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = rows.copy()
    out[columns] = out[columns] * 1.3 + out[columns].std() * 0.2
    return out


def test_another_file_of_the_same_source_does_not_drift(aps_reference: pd.DataFrame,
                                                        aps_current: pd.DataFrame) -> None:
    report = detect_drift(aps_reference, aps_current, label="class")
    assert len(report.features) == 170 and "class" not in {f.column for f in report.features}
    assert not report.drifted
    assert report.drift_share < 0.05
    assert all(f.method == "ks" for f in report.features)


def test_shifted_features_drift_and_the_others_keep_their_results(aps_reference: pd.DataFrame,
                                                                   aps_current: pd.DataFrame,
                                                                   shifted_columns: list[str]) -> None:
    before = detect_drift(aps_reference, aps_current, label="class")
    after = detect_drift(aps_reference, _shift(aps_current, shifted_columns), label="class")
    assert set(shifted_columns) <= set(after.drifted_columns)
    unchanged = {f.column: f for f in before.features if f.column not in shifted_columns}
    assert all(unchanged[f.column] == f for f in after.features if f.column in unchanged)
    assert after.drift_share == pytest.approx(len(after.drifted_columns) / 170)
    assert not after.drifted  # 22 of 170 is under the default drift share of 50%
    assert detect_drift(aps_reference, _shift(aps_current, shifted_columns), label="class",
                        thresholds=DriftThresholds(drift_share=0.1)).drifted


def test_drift_issues_are_one_line_warnings_worst_first(aps_reference: pd.DataFrame, aps_current: pd.DataFrame,
                                                        shifted_columns: list[str]) -> None:
    report = detect_drift(aps_reference, _shift(aps_current, shifted_columns), label="class",
                          thresholds=DriftThresholds(drift_share=0.1))
    issues = report.issues(source="apsfailure_20211224_133116.csv", limit=5)
    assert all(i.severity == "warning" and "\n" not in str(i) for i in issues)
    assert issues[0].message.startswith(f"data drift: {len(report.drifted_columns)} of 170 features drifted")
    listed = [i.column for i in issues[1:6]]
    effect = {f.column: f.statistic for f in report.features}  # the KS statistic
    assert set(listed) <= set(report.drifted_columns)
    assert [effect[c] for c in listed] == sorted((effect[c] for c in listed), reverse=True)
    assert min(effect[c] for c in listed) >= max(effect[c] for c in report.drifted_columns if c not in listed)
    assert issues[-1].message == f"... and {len(report.drifted_columns) - 5} more drifted features"


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
