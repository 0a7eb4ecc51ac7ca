"""Snapshots: content hash, stratified split, storage shared by runs on the same data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from core.data.snapshot import SplitRatios, content_hash, read_snapshot, take_snapshot, write_snapshot
from core.errors import DataError
from tests.core.data.conftest import LABEL


def test_the_content_hash_ignores_row_order_column_order_and_number_types(wines: pd.DataFrame) -> None:
    shuffled = wines.sample(frac=1, random_state=3)[list(reversed(wines.columns))]
    as_floats = wines.astype({"Magnesium": "float64", "Proline": "float64", "Class": "float64"})
    assert content_hash(shuffled) == content_hash(wines) == content_hash(as_floats)


@pytest.mark.parametrize("change", ["one value", "one row less", "a duplicated row", "numbers as text",
                                    "a renamed column"])
def test_the_content_hash_changes_with_the_content(wines: pd.DataFrame, change: str) -> None:
    other = wines.copy()
    if change == "one value":
        other.loc[17, "Hue"] += 0.01
    elif change == "one row less":
        other = other.drop(index=5)
    elif change == "a duplicated row":
        other = pd.concat([other, other.iloc[[5]]])
    elif change == "numbers as text":
        other["Class"] = other["Class"].astype(str)
    else:
        other = other.rename(columns={"Hue": "hue"})
    assert content_hash(other) != content_hash(wines)


def test_the_split_is_stratified_and_every_row_is_in_exactly_one_split(batch1: pd.DataFrame,
                                                                        drifted: pd.DataFrame) -> None:
    rows = pd.concat([batch1, drifted], ignore_index=True)
    snap = take_snapshot(rows, LABEL, SplitRatios(train=0.7, validation=0.15, test=0.15), seed=7)
    totals = rows[LABEL].value_counts()
    summary = snap.summary
    assert summary.classes == {"no": totals["no"], "yes": totals["yes"]}
    for name, share in [("train", 0.7), ("validation", 0.15), ("test", 0.15)]:
        split = snap.split(name)
        assert summary.splits[name].rows == len(split)
        for cls in ("no", "yes"):
            counted = int((split[LABEL] == cls).sum())
            assert summary.splits[name].classes[cls] == counted
            assert abs(counted - share * totals[cls]) <= 1  # per-class rounding only
    assert sum(s.rows for s in summary.splits.values()) == len(rows)
    assert content_hash(snap.frame) == content_hash(rows) == summary.content_hash


def test_the_same_data_and_seed_give_the_same_split_whatever_the_row_order(wines: pd.DataFrame) -> None:
    a = take_snapshot(wines, "Class", seed=1)
    b = take_snapshot(wines.sample(frac=1, random_state=9), "Class", seed=1)
    c = take_snapshot(wines, "Class", seed=2)
    assert a.summary.id == b.summary.id != c.summary.id
    pd.testing.assert_frame_equal(a.test, b.test)
    assert content_hash(a.test) != content_hash(c.test)


def test_two_runs_on_the_same_data_share_one_stored_snapshot(wines: pd.DataFrame, tmp_path: Path) -> None:
    first = write_snapshot(take_snapshot(wines, "Class", source="wines.csv.gz"), tmp_path)
    written = (first / "snapshot.json").stat().st_mtime_ns
    second = write_snapshot(take_snapshot(wines.sample(frac=1, random_state=4), "Class", source="mongodb:wines"),
                            tmp_path)
    assert second == first
    assert (first / "snapshot.json").stat().st_mtime_ns == written
    assert [p.name for p in tmp_path.iterdir()] == [first.name]

    back = read_snapshot(first)
    assert back.summary.source == "wines.csv.gz"
    assert back.summary.splits["train"].rows == len(back.train)
    pd.testing.assert_frame_equal(back.test, take_snapshot(wines, "Class").test)

    other = write_snapshot(take_snapshot(wines, "Class", SplitRatios(train=0.8, validation=0.1, test=0.1)),
                           tmp_path)
    assert other != first


def test_a_class_with_very_few_rows_stays_in_training(wines: pd.DataFrame) -> None:
    rows = pd.concat([wines, wines.head(1).assign(Class=9)], ignore_index=True)
    snap = take_snapshot(rows, "Class")
    assert snap.summary.splits["train"].classes["9"] == 1
    assert "9" not in snap.summary.splits["test"].classes


def test_a_numeric_label_with_many_values_is_split_as_regression(wines: pd.DataFrame) -> None:
    snap = take_snapshot(wines, "Alcohol", SplitRatios(train=0.5, validation=0.25, test=0.25))
    assert (snap.summary.task, snap.summary.classes) == ("regression", {})
    assert [snap.summary.splits[n].rows for n in ("train", "validation", "test")] == [88, 45, 45]


@pytest.mark.parametrize(("ratios", "message"), [
    ({"train": 0.7, "validation": 0.2, "test": 0.2}, "must add up to 1"),
    ({"train": 0, "validation": 0.5, "test": 0.5}, "train must be above 0, but got train=0"),
    ({"train": 1.2, "validation": -0.2, "test": 0}, "must be between 0 and 1, but got train=1.2"),
])
def test_bad_split_ratios_are_refused_with_the_value(ratios: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SplitRatios(**ratios)


def test_data_that_cannot_be_snapshotted_is_a_one_line_error_naming_the_column(wines: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"label column 'quality' is missing from wines\.csv\.gz") as caught:
        take_snapshot(wines, "quality", source="wines.csv.gz")
    assert caught.value.column == "quality"
    gaps = wines.astype({"Class": "float64"})
    gaps.loc[[3, 8], "Class"] = np.nan
    with pytest.raises(DataError, match="label column 'Class' has no value in 2 of 178 rows"):
        take_snapshot(gaps, "Class")
    with pytest.raises(DataError, match="no rows"):
        take_snapshot(wines.iloc[0:0], "Class")


def test_with_keep_the_rows_of_an_earlier_snapshot_keep_their_split_and_only_new_rows_are_split(
        batch1: pd.DataFrame, drifted: pd.DataFrame) -> None:
    first = take_snapshot(batch1, LABEL, seed=1)
    grown = pd.concat([batch1, drifted], ignore_index=True).sample(frac=1, random_state=5)
    second = take_snapshot(grown, LABEL, seed=1, keep=first)
    assert second.summary.kept_from == first.summary.id and second.summary.kept_rows == len(batch1)
    for name in ("train", "validation", "test"):
        before = set(map(tuple, first.split(name).fillna(-1).astype(str).to_numpy()))
        after = set(map(tuple, second.split(name).fillna(-1).astype(str).to_numpy()))
        assert before <= after, f"a row of the earlier {name} split moved"
    new_test = len(second.test) - len(first.test)
    assert abs(new_test - 0.15 * len(drifted)) <= 2  # the new rows are split by the ratios among themselves
    new_pos = int((second.test[LABEL] == "yes").sum() - (first.test[LABEL] == "yes").sum())
    assert abs(new_pos - 0.15 * (drifted[LABEL] == "yes").sum()) <= 1
    plain = take_snapshot(grown, LABEL, seed=1)
    assert plain.summary.id != second.summary.id and plain.summary.content_hash == second.summary.content_hash


def test_keeping_the_splits_of_a_snapshot_of_the_same_rows_is_that_snapshot(wines: pd.DataFrame) -> None:
    first = take_snapshot(wines, "Class", seed=4)
    again = take_snapshot(wines.sample(frac=1, random_state=1), "Class", seed=4, keep=first)
    assert again.summary.id == first.summary.id and again.summary.kept_from == ""
    assert again.test.equals(first.test)
